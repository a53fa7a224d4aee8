"""``moodstream models info [--json] [--accuracy]``, ``build-demo``, ``export-onnx``,
``convert-h5``, ``add`` (the last two in :mod:`consumer.commands.models_files`); every one
takes ``--dir``.

torch and xgboost are imported lazily inside the handlers, after the thread caps.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from consumer.commands.models_files import dir_option, register_file_commands, with_models_dir
from consumer.errors import ConfigError
from consumer.models.threads import apply_thread_caps
from consumer.settings import Settings


def register(subparsers: Any) -> None:
    """Add ``models`` with ``info``, ``export-onnx``, ``build-demo``, ``convert-h5`` and
    ``add``; each takes ``--dir`` (default ``MODELS__DIR``)."""
    parser = subparsers.add_parser("models", help="inspect, list or build the model set")
    sub = parser.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    with_dir = dir_option()
    info = sub.add_parser(
        "info", parents=[with_dir], help="load, verify and describe the models in --dir"
    )
    info.add_argument("--json", action="store_true", help="print JSON")
    info.add_argument(
        "--accuracy",
        action="store_true",
        help="also score --weeks synthetic weeks with every PAT runtime this CPU offers and "
        "report max |Δ probability| against torch fp32 and the speed (minutes for 1,000)",
    )
    info.add_argument("--weeks", type=int, default=1_000, help="weeks for --accuracy")
    info.set_defaults(handler=info_command)
    export = sub.add_parser(
        "export-onnx",
        parents=[with_dir],
        help="export the PAT in --dir to ONNX and list it in manifest.json",
    )
    export.set_defaults(handler=export_onnx_command)
    build = sub.add_parser(
        "build-demo",
        help="train the synthetic demo models (NOT clinically valid); refuses a directory "
        "whose manifest.json lists other models",
    )
    build.add_argument(
        "--dir",
        "--out",
        dest="dir",
        type=Path,
        default=None,
        help="output directory (default: MODELS__DIR, i.e. models/demo)",
    )
    build.add_argument("--json", action="store_true", help="print the manifest as JSON")
    build.set_defaults(handler=build_demo_command)
    register_file_commands(sub, with_dir)


def _info_payload(settings: Settings) -> dict[str, Any]:
    from consumer.models.pat_calibrate import figures_json
    from consumer.models.registry import load_model_set

    model_set = load_model_set(settings.models)
    models = []
    for info in model_set.infos:
        row: dict[str, Any] = {
            "name": info.name,
            "kind": info.kind,
            "version": info.version,
            "sha256": info.sha256,
        }
        row["trees" if info.kind == "xgboost" else "parameters"] = (
            info.trees if info.kind == "xgboost" else info.parameters
        )
        row["load_ms"] = info.load_ms
        if info.runtime is not None:
            row["runtime"] = info.runtime
            row["calibration"] = figures_json(info.calibration)
            row["calibration_ms"] = info.calibration_ms
        models.append(row)
    return {
        "models": models,
        "dir": str(settings.models.dir),
        "clinically_valid": model_set.clinically_valid,
        "note": model_set.note,
        "model_set": model_set.digest,
    }


def info_command(args: argparse.Namespace, settings: Settings) -> int:
    """Load and verify every model, then describe them. Blocking; raises ModelLoadError."""
    settings = with_models_dir(settings, args.dir)
    apply_thread_caps(settings.models)
    payload = _info_payload(settings)
    if args.accuracy:
        payload["pat_accuracy"] = _accuracy(settings, args.weeks)
    if args.json:
        print(json.dumps(payload, indent=2))
        return 0
    print(f"models dir: {payload['dir']} (model_set {payload['model_set'][:12]}…)")
    for row in payload["models"]:
        count = f"{row['trees']} trees" if "trees" in row else f"{row['parameters']:,} parameters"
        print(
            f"  {row['name']:<11} {row['kind']:<8} {row['version']:<24} {count:<20} "
            f"load {row['load_ms']:.1f} ms  sha256 {row['sha256'][:12]}"
            + (f"  runtime {row['runtime']}" if "runtime" in row else "")
        )
    for fig in payload.get("pat_accuracy", {}).get("runtimes", []):
        print(
            f"  PAT {fig['runtime']:<11} max |Δ| {fig['max_abs_error']:.2e} "
            f"(bound {fig['bound']:g}) {fig['sequences_per_cpu_s']:.1f} seq per CPU-s"
        )
    if not payload["clinically_valid"]:
        print(
            f"NOT clinically valid: {payload['note'] or 'these models are for demonstration only'}"
        )
    return 0


def _accuracy(settings: Settings, weeks: int) -> dict[str, Any]:
    """Every PAT runtime this CPU and models dir offer, against torch fp32 on ``weeks``
    synthetic weeks (in this process: ``models info`` forks nothing). Blocking."""
    from consumer.models.pat_calibrate import (
        calibration_weeks,
        cpu_flags,
        figures_json,
        measure,
        native_bf16,
    )
    from consumer.models.pat_runtime import load_pat_runtimes

    manifest_has_onnx = "onnx_file" in (settings.models.dir / "manifest.json").read_text()
    labels = ["torch-fp32"] + (["onnx-fp32"] if manifest_has_onnx else [])
    labels += ["torch-bf16"] if native_bf16() else []
    models = load_pat_runtimes(settings.models, labels)
    data = calibration_weeks(weeks)
    figures = measure(
        {k: m.predict_batch for k, m in models.items()}, data, settings.models.pat_max_error
    )
    flags = sorted(cpu_flags() & {"avx512_bf16", "amx_bf16", "amx_int8", "avx512_vnni", "avx512f"})
    return {"weeks": weeks, "cpu_flags": flags, "runtimes": figures_json(figures)}


def export_onnx_command(args: argparse.Namespace, settings: Settings) -> int:
    """Export the PAT of MODELS__DIR to ONNX and update the manifest. Blocking (seconds)."""
    settings = with_models_dir(settings, args.dir)
    apply_thread_caps(settings.models)
    from consumer.models.pat_export import export_into

    entry = export_into(settings.models.dir)
    print(f"wrote {settings.models.dir / str(entry.onnx_file)} (sha256 {entry.onnx_sha256})")
    return 0


def build_demo_command(args: argparse.Namespace, settings: Settings) -> int:
    """Train and write the demo set (minutes of CPU). Blocking; raises ConfigError when the
    directory's manifest.json lists other models, OSError on write errors."""
    apply_thread_caps(settings.models)
    from consumer.models.demo import build_demo, foreign_manifest
    from consumer.models.manifest import manifest_json

    out_dir: Path = args.dir if args.dir is not None else settings.models.dir
    foreign = foreign_manifest(out_dir)
    if foreign is not None:
        raise ConfigError(
            f"build-demo would overwrite {out_dir / 'manifest.json'}, which is not the demo "
            f"set's: {foreign}; choose another --dir, or move that manifest away first"
        )
    started = time.monotonic()
    print(
        f"training demo models into {out_dir} (synthetic data, NOT clinically valid)…",
        file=sys.stderr,
    )
    result = build_demo(out_dir)  # one thread: reproducible bytes whatever the settings
    if args.json:
        print(manifest_json(result.manifest), end="")
        return 0
    for entry in result.manifest.models:
        size = (out_dir / entry.file).stat().st_size
        print(f"  {entry.name:<11} {entry.file:<22} {size / 1e6:6.2f} MB  {entry.version}")
    print(
        f"wrote {out_dir / 'manifest.json'} in {time.monotonic() - started:.0f} s "
        "— synthetic demo models, NOT clinically valid"
    )
    return 0

"""``moodstream models info [--json] [--accuracy]``, ``build-demo``, ``export-onnx``,
``convert-h5``.

torch and xgboost are imported lazily inside the handlers, after the thread caps.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from consumer.models.threads import apply_thread_caps
from consumer.settings import Settings


def register(subparsers: Any) -> None:
    """Add ``models`` with its ``info``, ``build-demo`` and ``convert-h5`` subcommands."""
    parser = subparsers.add_parser("models", help="inspect or build the model set")
    sub = parser.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    info = sub.add_parser("info", help="load, verify and describe the models in MODELS__DIR")
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
        "export-onnx", help="export the PAT in MODELS__DIR to ONNX and list it in manifest.json"
    )
    export.set_defaults(handler=export_onnx_command)
    build = sub.add_parser(
        "build-demo", help="train the synthetic demo models (NOT clinically valid)"
    )
    build.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output directory (default: MODELS__DIR, i.e. models/demo)",
    )
    build.add_argument("--json", action="store_true", help="print the manifest as JSON")
    build.set_defaults(handler=build_demo_command)
    _register_convert_h5(sub)


def _register_convert_h5(sub: Any) -> None:
    convert = sub.add_parser(
        "convert-h5",
        help="convert original PAT Keras .h5 weights (Ruan et al. 2024) to safetensors",
    )
    convert.add_argument("h5", type=Path, metavar="H5", help="Keras .h5 file (h5py needed)")
    convert.add_argument("--size", choices=["S", "M", "L"], required=True, help="PAT size")
    convert.add_argument("--out", type=Path, required=True, help="output .safetensors file")
    convert.add_argument("--mean", type=Path, help=".npy: 10,080 means, one per minute")
    convert.add_argument("--std", type=Path, help=".npy: 10,080 stds (default: mean 0, std 1)")
    convert.add_argument(
        "--head",
        choices=["auto", "init", "file"],
        default="auto",
        help="depression head: from the file if present (auto), required from the file, "
        "or a seeded UNTRAINED init (the published encoders have no head)",
    )
    convert.set_defaults(handler=convert_h5_command)


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
    }


def info_command(args: argparse.Namespace, settings: Settings) -> int:
    """Load and verify every model, then describe them. Blocking; raises ModelLoadError."""
    apply_thread_caps(settings.models)
    payload = _info_payload(settings)
    if args.accuracy:
        payload["pat_accuracy"] = _accuracy(settings, args.weeks)
    if args.json:
        print(json.dumps(payload, indent=2))
        return 0
    print(f"models dir: {payload['dir']}")
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
    apply_thread_caps(settings.models)
    from consumer.models.pat_export import export_into

    entry = export_into(settings.models.dir)
    print(f"wrote {settings.models.dir / str(entry.onnx_file)} (sha256 {entry.onnx_sha256})")
    return 0


def build_demo_command(args: argparse.Namespace, settings: Settings) -> int:
    """Train and write the demo set (minutes of CPU). Blocking; raises OSError on write errors."""
    apply_thread_caps(settings.models)
    from consumer.models.demo import build_demo
    from consumer.models.manifest import manifest_json

    out_dir: Path = args.out if args.out is not None else settings.models.dir
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


def convert_h5_command(args: argparse.Namespace, settings: Settings) -> int:
    """Convert a Keras H5 file and write ``--out`` atomically. Blocking (file I/O).

    Raises ConfigError for a bad ``--out`` suffix or only one of ``--mean``/``--std``, and
    ModelLoadError for anything wrong with the inputs (see ``convert_keras_h5``).
    """
    from consumer.errors import ConfigError
    from consumer.models.formats import PAT_SUFFIX, read_safetensors_header, sha256_hex

    out: Path = args.out
    if out.suffix.lower() != PAT_SUFFIX:
        raise ConfigError(f"--out {out}: PAT weights must be written as {PAT_SUFFIX}")
    if (args.mean is None) != (args.std is None):
        raise ConfigError("give both --mean and --std (.npy, one value per minute), or neither")
    apply_thread_caps(settings.models)
    from consumer.models.keras_h5 import convert_keras_h5, load_vector_npy

    mean = load_vector_npy(args.mean) if args.mean is not None else None
    std = load_vector_npy(args.std) if args.std is not None else None
    data = convert_keras_h5(args.h5, size=args.size, mean=mean, std=std, head=args.head)
    partial = out.with_name(out.name + ".partial")
    partial.write_bytes(data)
    partial.replace(out)
    meta = read_safetensors_header(data, source=str(out)).get("__metadata__") or {}
    print(f"wrote {out}: PAT-{args.size}, {len(data) / 1e6:.2f} MB, sha256 {sha256_hex(data)}")
    print(f"  head: {meta.get('head')}")
    print(f"  standardisation: {meta.get('standardisation')}")
    if meta.get("head") == "untrained":
        print("  the depression head is UNTRAINED: predictions mean nothing until it is fine-tuned")
    return 0

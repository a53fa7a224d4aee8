"""``moodstream models convert-h5`` and ``models add``: bring your own model files.

``add FILE --name NAME [--size S|M|L] [--version V] [--dir DIR]`` checks a booster or PAT
file the way start-up would, copies it into the models directory and lists it in its
``manifest.json`` with its sha256 (a replaced PAT gets a fresh ONNX export).
``convert-h5 H5 --size S --dir DIR`` converts the published Keras weights into ``DIR`` and
lists them the same way; with ``--out FILE`` alone it only writes the file.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from consumer.errors import ConfigError
from consumer.models.threads import apply_thread_caps
from consumer.settings import Settings

_MODEL_NAMES = ("depression", "hypomania", "mania", "pat")


def dir_option() -> argparse.ArgumentParser:
    """A parent parser with ``--dir`` (the models directory, default ``MODELS__DIR``)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="models directory (default: MOODSTREAM_MODELS__DIR)",
    )
    return parent


def with_models_dir(settings: Settings, models_dir: Path | None) -> Settings:
    """``settings`` with ``MODELS__DIR`` replaced by ``models_dir`` when given. Pure."""
    if models_dir is None:
        return settings
    models = settings.models.model_copy(update={"dir": models_dir})
    return settings.model_copy(update={"models": models})


def register_file_commands(sub: Any, with_dir: argparse.ArgumentParser) -> None:
    """Add ``convert-h5`` and ``add`` to the ``models`` subparsers."""
    convert = sub.add_parser(
        "convert-h5",
        parents=[with_dir],
        help="convert original PAT Keras .h5 weights (Ruan et al. 2024) to safetensors; "
        "with --dir, also list them in that directory's manifest.json",
    )
    convert.add_argument("h5", type=Path, metavar="H5", help="Keras .h5 file (h5py needed)")
    convert.add_argument("--size", choices=["S", "M", "L"], required=True, help="PAT size")
    convert.add_argument(
        "--out", type=Path, help="output .safetensors (default with --dir: pat-<size>)"
    )
    convert.add_argument("--mean", type=Path, help=".npy: 10,080 means, one per minute")
    convert.add_argument("--std", type=Path, help=".npy: 10,080 stds (default: mean 0, std 1)")
    convert.add_argument(
        "--head",
        choices=["auto", "init", "file"],
        default="auto",
        help="depression head: from the file if present (auto), required from the file, "
        "or a seeded UNTRAINED init (the published encoders have no head)",
    )
    convert.add_argument("--version", help="version in manifest.json (default: from sha256)")
    convert.set_defaults(handler=convert_h5_command)
    add = sub.add_parser(
        "add",
        parents=[with_dir],
        help="check a model file, copy it into --dir and list it in manifest.json",
    )
    add.add_argument("file", type=Path, metavar="FILE", help=".ubj/.json booster or PAT")
    add.add_argument("--name", choices=_MODEL_NAMES, required=True, help="which model it is")
    add.add_argument("--size", choices=["S", "M", "L"], help="PAT size (pat only)")
    add.add_argument("--version", help="version in manifest.json (default: name + sha256)")
    add.set_defaults(handler=add_command)


def _convert_target(args: argparse.Namespace) -> Path:
    """Where convert-h5 writes. Raises ConfigError for a bad ``--out``/``--dir`` pair."""
    from consumer.models.formats import PAT_SUFFIX

    out: Path | None = args.out
    if out is None and args.dir is None:
        raise ConfigError("give --dir (a models directory to list it in) or --out FILE")
    if out is None:
        return Path(args.dir) / f"pat-{args.size.lower()}{PAT_SUFFIX}"
    if out.suffix.lower() != PAT_SUFFIX:
        raise ConfigError(f"--out {out}: PAT weights must be written as {PAT_SUFFIX}")
    if args.dir is not None and out.resolve().parent != Path(args.dir).resolve():
        raise ConfigError(f"--out {out} must lie in --dir {args.dir} (or leave --out out)")
    return out


def convert_h5_command(args: argparse.Namespace, settings: Settings) -> int:
    """Convert a Keras H5 file, write it atomically, and with ``--dir`` list it. Blocking.

    Raises ConfigError for a bad ``--out``/``--dir`` or only one of ``--mean``/``--std``,
    and ModelLoadError for anything wrong with the inputs (see ``convert_keras_h5``).
    """
    from consumer.models.formats import read_safetensors_header, sha256_hex

    out = _convert_target(args)
    if (args.mean is None) != (args.std is None):
        raise ConfigError("give both --mean and --std (.npy, one value per minute), or neither")
    apply_thread_caps(settings.models)
    from consumer.models.keras_h5 import convert_keras_h5, load_vector_npy

    mean = load_vector_npy(args.mean) if args.mean is not None else None
    std = load_vector_npy(args.std) if args.std is not None else None
    data = convert_keras_h5(args.h5, size=args.size, mean=mean, std=std, head=args.head)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.write_bytes(data)
    partial.replace(out)
    meta = read_safetensors_header(data, source=str(out)).get("__metadata__") or {}
    print(f"wrote {out}: PAT-{args.size}, {len(data) / 1e6:.2f} MB, sha256 {sha256_hex(data)}")
    print(f"  head: {meta.get('head')}")
    print(f"  standardisation: {meta.get('standardisation')}")
    if meta.get("head") == "untrained":
        print("  the depression head is UNTRAINED: predictions mean nothing until it is fine-tuned")
    if mean is None:
        print("  NO input scaling: give --mean/--std, the per-minute scaling of its training weeks")
    if args.dir is not None:
        _list(Path(args.dir), out, "pat", args.size, args.version)
    else:
        print(
            f"  list it with: moodstream models add {out} --name pat --size {args.size} --dir DIR"
        )
    return 0


def add_command(args: argparse.Namespace, settings: Settings) -> int:
    """Check, copy and list one model file. Blocking (a PAT's ONNX export takes seconds).
    Raises ModelLoadError for a file start-up would refuse, OSError on I/O errors."""
    models_dir: Path = args.dir if args.dir is not None else settings.models.dir
    if not args.file.is_file():
        raise ConfigError(f"{args.file}: no such file")
    apply_thread_caps(settings.models)
    _list(models_dir, args.file, args.name, args.size, args.version)
    return 0


def _list(models_dir: Path, file: Path, name: Any, size: Any, version: str | None) -> None:
    """Add ``file`` to ``models_dir``'s manifest (and export a PAT to ONNX); say what was
    done and whether start-up will accept the set as it is marked. Blocking."""
    from consumer.models.manifest import read_manifest
    from consumer.models.manifest_edit import add_file

    entry = add_file(models_dir, file, name=name, size=size, version=version)
    print(f"listed {entry.name} ({entry.file}, sha256 {entry.sha256[:12]}…) in {models_dir}")
    if entry.kind == "pat":
        _export_and_check(models_dir)
    manifest = read_manifest(models_dir)
    state = "clinically valid" if manifest.clinically_valid else "NOT clinically valid"
    print(f"  manifest.json marks the set {state} (docs/models.md says who may change that)")


def _export_and_check(models_dir: Path) -> None:
    """Export the listed PAT to ONNX (the default runtime needs it) and warn when its file
    contradicts a clinically valid manifest. Blocking (seconds)."""
    from consumer.models.clinical import untrusted_reasons
    from consumer.models.formats import read_safetensors_header
    from consumer.models.manifest import read_manifest
    from consumer.models.pat_export import export_into

    updated = export_into(models_dir)
    print(f"  exported {updated.onnx_file} (sha256 {str(updated.onnx_sha256)[:12]}…)")
    data = (models_dir / updated.file).read_bytes()
    reasons = untrusted_reasons(read_safetensors_header(data, source=updated.file), data)
    if reasons and read_manifest(models_dir).clinically_valid:
        print(
            "  WARNING: start-up will refuse this set while manifest.json says "
            f'"clinically_valid": true: {"; ".join(reasons)}'
        )

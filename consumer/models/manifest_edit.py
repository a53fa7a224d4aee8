"""Listing your own model files in a models directory's ``manifest.json`` (tooling side).

``moodstream models add`` and ``models convert-h5 --dir`` go through :func:`add_file`: the
file is checked as the loader would check its format (a booster's JSON/UBJSON and its 36
feature names, a PAT's safetensors tensors against its size), copied into the directory
when it is elsewhere, checksummed, and its entry added or replaced. A new manifest starts
``"clinically_valid": false``; an existing one keeps its flag (only a person sets it to
true, see docs/models.md). Replacing a PAT drops its stale ONNX export from the entry.
The manifest is written last and atomically (a ``.partial`` file renamed over it), with
everything else in it kept as it was.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Final, Literal

from consumer.errors import ModelLoadError
from consumer.models.formats import (
    read_safetensors_header,
    require_safetensors_suffix,
    sha256_hex,
    sniff_xgboost,
)
from consumer.models.manifest import MANIFEST_NAME, Manifest, ManifestEntry, read_manifest
from consumer.models.pat_config import check_header

ModelName = Literal["depression", "hypomania", "mania", "pat"]
NEW_MANIFEST_NOTE: Final = (
    "listed by moodstream models add: NOT clinically valid until a person who checked "
    "the models sets clinically_valid to true (docs/models.md)"
)


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a ``.partial`` file renamed over it. Raises OSError."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def upsert_entry(models_dir: Path, entry: ManifestEntry) -> Manifest:
    """Replace the entry of ``entry.name`` in ``manifest.json`` in place, or append it,
    creating the manifest (not clinically valid) when there is none. Everything else in
    the file is kept, unknown top-level keys included. Blocking. Raises ModelLoadError for
    an existing manifest that does not parse, OSError on write."""
    path = models_dir / MANIFEST_NAME
    raw: dict[str, Any] = {"models": [], "clinically_valid": False, "note": NEW_MANIFEST_NOTE}
    if path.is_file():
        read_manifest(models_dir)  # refuses a malformed one, saying what is wrong
        raw = json.loads(path.read_bytes())
    listed: list[dict[str, Any]] = raw["models"]
    new = entry.model_dump(mode="json", exclude_none=True)
    at = next((i for i, e in enumerate(listed) if e.get("name") == entry.name), None)
    if at is None:
        listed.append(new)
    else:
        listed[at] = new
    checked = Manifest.model_validate(raw)
    _write_atomically(path, json.dumps(raw, indent=2, ensure_ascii=False) + "\n")
    return checked


def check_format(name: ModelName, path: Path, data: bytes, size: str | None) -> None:
    """Refuse a file the loader would refuse for its format. Blocking (xgboost parses a
    booster). Raises ModelLoadError naming what to fix."""
    if name == "pat":
        if size is None:
            raise ModelLoadError("a pat model needs --size (S, M or L)")
        require_safetensors_suffix(path)
        check_header(read_safetensors_header(data, source=str(path)), size, str(path))
        return
    from consumer.models.xgb import XGBoostModel

    sniff_xgboost(path, data)
    XGBoostModel.from_bytes(data, path=path, name=name, version="check", nthread=1)


def add_file(
    models_dir: Path,
    source: Path,
    *,
    name: ModelName,
    size: Literal["S", "M", "L"] | None = None,
    version: str | None = None,
) -> ManifestEntry:
    """Check ``source``, copy it into ``models_dir`` (same file name) unless it is there,
    and list it as model ``name``. Blocking. Raises ModelLoadError for a bad file or
    manifest (a PAT needs ``size``), OSError on I/O errors."""
    if (name == "pat") != (size is not None):
        raise ModelLoadError("give --size (S, M or L) for pat, and only for pat")
    data = source.read_bytes()
    check_format(name, source, data, size)
    models_dir.mkdir(parents=True, exist_ok=True)
    target = models_dir / source.name
    if not target.exists() or not target.samefile(source):
        shutil.copyfile(source, target)
    digest = sha256_hex(data)
    entry = ManifestEntry(
        name=name,
        kind="pat" if name == "pat" else "xgboost",
        file=source.name,
        sha256=digest,
        version=version or f"{source.stem}-{digest[:8]}",
        size=size,
    )
    upsert_entry(models_dir, entry)
    return entry

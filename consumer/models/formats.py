"""Content sniffing and checksums for model files. Pure functions over bytes; no torch/xgboost.

Only safe formats are accepted (DESIGN.md §5): XGBoost JSON (``.json``) or UBJSON
(``.ubj``), and safetensors (``.safetensors``). The suffix must match the content, so a
pickle renamed to ``.json`` is refused before any parser sees it.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any, Final, Literal

from consumer.errors import ModelLoadError

XGBOOST_SUFFIXES: Final = {".json": "json", ".ubj": "ubj"}
PAT_SUFFIX: Final = ".safetensors"
_SAFETENSORS_MAX_HEADER: Final = 100 * 1024 * 1024
_UBJSON_KEY_LENGTH_MARKERS: Final = frozenset(b"iUIlL")

XGBoostFormat = Literal["json", "ubj"]


def sha256_hex(data: bytes) -> str:
    """The lowercase hex SHA-256 of ``data``. Non-blocking beyond the hashing itself."""
    return hashlib.sha256(data).hexdigest()


def _describe(data: bytes) -> str:
    """A short guess at what a refused file is, for the error message."""
    if data[:1] == b"\x80":
        return "looks like a Python pickle"
    if data[:4] == b"PK\x03\x04":
        return "looks like a zip archive (torch.save?)"
    if data[:8] == b"\x89HDF\r\n\x1a\n":
        return "looks like HDF5 (Keras .h5): convert it to safetensors first"
    if data[:4] == b"binf" or data[:1] == b"\x00":
        return "looks like XGBoost's old binary format: re-save it as JSON or UBJSON"
    return f"starts with {data[:8]!r}"


def sniff_xgboost(path: Path, data: bytes) -> XGBoostFormat:
    """Check that ``data`` (the bytes of ``path``) is XGBoost JSON/UBJSON matching its suffix.

    Returns ``"json"`` or ``"ubj"``. Raises ModelLoadError (one line, says what to fix)
    for any other suffix or content. Pure, non-blocking.
    """
    expected = XGBOOST_SUFFIXES.get(path.suffix.lower())
    if expected is None:
        raise ModelLoadError(
            f"{path}: XGBoost models must be .json or .ubj (XGBoost JSON/UBJSON), "
            f"not '{path.suffix or 'no suffix'}'; re-save with booster.save_model('x.ubj')"
        )
    stripped = data.lstrip()
    if stripped[:1] == b"{" and stripped[1:2] == b'"':
        actual: XGBoostFormat | None = "json"
    elif data[:1] == b"{" and data[1:2] and data[1] in _UBJSON_KEY_LENGTH_MARKERS:
        actual = "ubj"
    else:
        actual = None
    if actual is None:
        raise ModelLoadError(
            f"{path}: unsupported format: not an XGBoost JSON/UBJSON model ({_describe(data)}); "
            "re-save it with booster.save_model('model.ubj')"
        )
    if actual != expected:
        raise ModelLoadError(
            f"{path}: content is XGBoost {actual.upper()} but the suffix says {expected.upper()}; "
            f"rename it to .{actual} and update manifest.json"
        )
    return actual


def require_safetensors_suffix(path: Path) -> None:
    """Raise ModelLoadError (one line) unless ``path`` ends in ``.safetensors``. Pure."""
    if path.suffix.lower() != PAT_SUFFIX:
        raise ModelLoadError(
            f"{path}: PAT weights must be a .safetensors file, not '{path.suffix or 'no suffix'}'; "
            "convert them with safetensors.torch.save_file"
        )


def read_safetensors_header(data: bytes, *, source: str) -> dict[str, Any]:
    """Parse and return the JSON header of a safetensors file (tensor table + ``__metadata__``).

    Raises ModelLoadError (one line, prefixed with ``source``) when the bytes are not a
    well-formed safetensors file. Pure, non-blocking.
    """
    bad = (
        f"{source}: unsupported format: not a safetensors file ({_describe(data)}); "
        "convert it with safetensors"
    )
    if len(data) < 10:
        raise ModelLoadError(bad)
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > min(_SAFETENSORS_MAX_HEADER, len(data) - 8) or data[8:9] != b"{":
        raise ModelLoadError(bad)
    try:
        header = json.loads(data[8 : 8 + header_len])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(bad) from exc
    if not isinstance(header, dict):
        raise ModelLoadError(bad)
    return header

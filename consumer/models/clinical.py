"""Whether a PAT file may be called clinically valid: what its own bytes say about itself.

A manifest that says ``"clinically_valid": true`` is believed only when no listed PAT
file contradicts it. A file contradicts it when its safetensors metadata says
``head: untrained`` (a converter initialised the depression head: its scores mean
nothing), when its metadata says ``clinically_valid: false``, or when it has no input
scaling (metadata ``standardisation: none…``, or the ``mean``/``std`` buffers are all 0 and
all 1: raw activity counts would reach the encoder unscaled). Pure and torch-free: the
two buffers are read straight from the safetensors bytes.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from consumer.errors import ModelLoadError

_HEADER_START: Final = 8


def _buffer(header: dict[str, Any], data: bytes, name: str) -> npt.NDArray[np.float32] | None:
    """A float32 tensor ``name`` of a checked safetensors file, or None when absent. Pure."""
    entry = header.get(name)
    if not isinstance(entry, dict) or entry.get("dtype") != "F32":
        return None
    (length,) = struct.unpack("<Q", data[:_HEADER_START])
    begin, end = (int(v) + _HEADER_START + length for v in entry.get("data_offsets", (0, 0)))
    return np.frombuffer(data[begin:end], dtype="<f4")


def untrusted_reasons(header: dict[str, Any], data: bytes) -> list[str]:
    """Why this PAT file (its parsed ``header`` and raw ``data``) cannot be clinically
    valid, one phrase each; empty when its bytes raise no objection. Pure."""
    meta = header.get("__metadata__") or {}
    meta = meta if isinstance(meta, dict) else {}
    reasons = []
    if meta.get("head") == "untrained":
        reasons.append(
            "its depression head is untrained (file metadata head: untrained): fine-tune "
            "the head on labelled data, or convert a file that has a trained one"
        )
    if str(meta.get("clinically_valid", "")).lower() == "false":
        reasons.append("its own metadata says clinically_valid: false")
    mean, std = _buffer(header, data, "mean"), _buffer(header, data, "std")
    identity = mean is not None and std is not None and not mean.any() and bool(np.all(std == 1))
    if str(meta.get("standardisation", "")).startswith("none") or identity:
        reasons.append(
            "it has no input scaling (per-minute mean 0 and std 1, so raw activity counts "
            "reach the encoder unscaled): convert it again with --mean/--std, the per-minute "
            "mean and std of the weeks it was trained on"
        )
    return reasons


def require_honest(path: Path, header: dict[str, Any], data: bytes, *, claimed: bool) -> None:
    """Refuse a PAT file that contradicts a manifest claiming clinical validity. Pure.

    ``claimed``: the manifest's ``clinically_valid``. Raises ModelLoadError (one line, says
    what to fix) when ``claimed`` is true and :func:`untrusted_reasons` finds anything.
    """
    reasons = untrusted_reasons(header, data) if claimed else []
    if reasons:
        raise ModelLoadError(
            f'manifest.json says "clinically_valid": true, but {path} cannot be: '
            + "; ".join(reasons)
            + '. Or set "clinically_valid": false in manifest.json (every prediction then '
            "says clinically_valid: false)"
        )

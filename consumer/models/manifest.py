"""``manifest.json``: what a models directory holds, validated with pydantic.

Shape::

    {"models": [{"name": "depression" | "hypomania" | "mania" | "pat",
                 "kind": "xgboost" | "pat", "file": "depression.ubj",
                 "sha256": "<64 hex>", "version": "demo-2026.11-1a2b3c4d",
                 "size": "S" | "M" | "L",           # size: PAT only
                 "onnx_file": "pat-m.onnx",         # PAT only, optional: the ONNX export
                 "onnx_sha256": "<64 hex>"}],       # (both or neither)
     "clinically_valid": false,
     "note": "synthetic demo model — NOT clinically valid",
     "ensemble": {"xgboost_weight": 0.6, "pat_weight": 0.4}}   # optional

A directory with only boosters or only PAT is valid; names are unique. ``ensemble``, when
given, weighs ``ensemble_depression`` for these models (it replaces
``ENSEMBLE__XGBOOST_WEIGHT``/``ENSEMBLE__PAT_WEIGHT``); the weights sum to 1. The sha256 of
the manifest's bytes names the model set in every prediction (``model_set``).
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from consumer.errors import ModelLoadError
from consumer.models.formats import sha256_hex

MANIFEST_NAME: Final = "manifest.json"
BOOSTER_NAMES: Final[tuple[str, ...]] = ("depression", "hypomania", "mania")
_FIX_HINT: Final = "fix it (its format: docs/models.md)"


class ManifestEntry(BaseModel):
    """One model file. ``file`` is a plain name inside the models directory."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Literal["depression", "hypomania", "mania", "pat"]
    kind: Literal["xgboost", "pat"]
    file: str = Field(min_length=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    version: str = Field(min_length=1, max_length=128)
    size: Literal["S", "M", "L"] | None = None
    onnx_file: str | None = Field(default=None, min_length=1)
    onnx_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")

    @model_validator(mode="after")
    def _consistent(self) -> ManifestEntry:
        if (self.name == "pat") != (self.kind == "pat"):
            raise ValueError(f"model {self.name!r} cannot have kind {self.kind!r}")
        if self.kind == "pat" and self.size is None:
            raise ValueError("a pat model needs a size (S, M or L)")
        if self.kind == "xgboost" and self.size is not None:
            raise ValueError("size is for pat models only")
        if (self.onnx_file is None) != (self.onnx_sha256 is None):
            raise ValueError("onnx_file and onnx_sha256 go together")
        if self.onnx_file is not None and self.kind != "pat":
            raise ValueError("onnx_file is for pat models only")
        for file in (self.file, self.onnx_file):
            pure = PurePosixPath(file or "x")
            if pure.is_absolute() or len(pure.parts) != 1 or file in {".", ".."}:
                raise ValueError(f"file {file!r} must be a plain file name inside the models dir")
        return self


class EnsembleWeights(BaseModel):
    """How ``ensemble_depression`` weighs the depression booster and PAT (sum 1)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    xgboost_weight: float = Field(ge=0, le=1)
    pat_weight: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _sum_to_one(self) -> EnsembleWeights:
        total = self.xgboost_weight + self.pat_weight
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"xgboost_weight + pat_weight must sum to 1, got {total:g}")
        return self


class Manifest(BaseModel):
    """The whole manifest. Unknown top-level keys are ignored; unknown entry keys are not."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    models: tuple[ManifestEntry, ...] = Field(min_length=1)
    clinically_valid: bool
    note: str = ""
    ensemble: EnsembleWeights | None = None

    @model_validator(mode="after")
    def _unique(self) -> Manifest:
        names = [m.name for m in self.models]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate model names: {', '.join(dupes)}")
        return self


def _one_line(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        parts.append(f"{where}: {err['msg']}" if where else err["msg"])
    return "; ".join(parts)


def read_manifest(models_dir: Path) -> Manifest:
    """Read and validate ``<models_dir>/manifest.json``. Blocking (file read).

    Raises ModelLoadError with a one-line message for a missing dir or manifest, invalid
    JSON, or a manifest that does not match the schema.
    """
    return read_manifest_and_digest(models_dir)[0]


def read_manifest_and_digest(models_dir: Path) -> tuple[Manifest, str]:
    """:func:`read_manifest`, and the sha256 of the bytes it was read from. Blocking.

    Raises ModelLoadError as :func:`read_manifest` does.
    """
    path = models_dir / MANIFEST_NAME
    if not path.is_file():
        raise ModelLoadError(
            f"no {MANIFEST_NAME} in models dir {models_dir} (MOODSTREAM_MODELS__DIR): point it "
            "at a models directory, list your own models in one (docs/models.md), or run "
            "`moodstream models build-demo` for the synthetic demo set"
        )
    data = path.read_bytes()
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{path} is not valid JSON ({exc}); {_FIX_HINT}") from exc
    try:
        return Manifest.model_validate(raw), sha256_hex(data)
    except ValidationError as exc:
        raise ModelLoadError(f"{path} is malformed: {_one_line(exc)}; {_FIX_HINT}") from exc


def manifest_json(manifest: Manifest) -> str:
    """The manifest as stable, pretty JSON text (sorted entry keys, no PAT-less ``size``)."""
    payload = manifest.model_dump(mode="json")
    if payload.get("ensemble") is None:
        payload.pop("ensemble", None)
    for entry in payload["models"]:
        for key in ("size", "onnx_file", "onnx_sha256"):
            if entry.get(key) is None:
                entry.pop(key, None)
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"


def read_verified(models_dir: Path, name: str, file: str, sha256: str) -> tuple[Path, bytes]:
    """Read one listed file and check its sha256 on the raw bytes. Blocking.

    Raises ModelLoadError for a missing file or a checksum mismatch (says what to do).
    """
    path = models_dir / file
    if not path.is_file():
        raise ModelLoadError(
            f"model file {path} for '{name}' listed in manifest.json is missing: "
            "restore it, or remove the entry from manifest.json"
        )
    data = path.read_bytes()
    actual = sha256_hex(data)
    if actual != sha256:
        raise ModelLoadError(
            f"checksum mismatch for {path}: manifest.json says sha256 {sha256[:12]}…, "
            f"the file is {actual[:12]}…; the file is corrupt or the manifest is stale: "
            "restore the file, or, if you replaced it on purpose, list the new one with "
            f"`moodstream models add {file} --name {name} --dir {models_dir}`"
        )
    return path, data

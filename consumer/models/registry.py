"""Load and verify a models directory: manifest → checksums → formats → adapters.

Order of checks for each file (the first failure stops start-up with a one-line
ModelLoadError that says what to fix): the file exists; its sha256 matches the manifest
(checked on the raw bytes BEFORE anything parses them); its suffix and content are a
safe format (XGBoost JSON/UBJSON, safetensors); a booster carries ``feature_names``
equal to the 36 contract names; PAT tensors match the manifest's ``size``; and, when the
manifest says ``"clinically_valid": true``, the PAT file does not contradict it (an
untrained head, no input scaling: :mod:`consumer.models.clinical`).

Thread caps are applied before torch/xgboost are imported, and torch/xgboost are only
imported when the manifest lists a model that needs them (torch only for a torch PAT
runtime: with ``MODELS__PAT_RUNTIME=onnx`` the service never imports it). The PAT's
ONNX export, when listed, is checksummed the same way and must name the safetensors'
sha256 in its metadata. The service never writes into
the models directory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

from consumer.models.clinical import require_honest
from consumer.models.manifest import (
    BOOSTER_NAMES,
    ManifestEntry,
    read_manifest_and_digest,
    read_verified,
)
from consumer.models.threads import apply_thread_caps
from consumer.settings import ModelSettings

if TYPE_CHECKING:
    from consumer.models.pat_calibrate import RuntimeFigures
    from consumer.models.protocol import BatchModel, PatBatchModel
    from consumer.models.xgb import XGBoostModel


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What was loaded, for ``models info``, logs and the ``model_info`` metric."""

    name: str
    kind: Literal["xgboost", "pat"]
    version: str
    sha256: str
    trees: int | None
    parameters: int | None
    load_ms: float
    file: Path
    runtime: str | None = None  # PAT: "onnx-fp32", "torch-fp32" or "torch-bf16"
    calibration: tuple[RuntimeFigures, ...] = ()  # PAT: the start-up calibration, if any
    calibration_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class ModelSet:
    """The verified models of one directory. Immutable; share it read-only across a fork."""

    boosters: tuple[XGBoostModel, ...]
    pat: PatBatchModel | None
    infos: tuple[ModelInfo, ...]
    clinically_valid: bool = False
    note: str = ""
    #: sha256 of manifest.json's bytes: names the model set in every prediction.
    digest: str = ""
    #: (xgboost, pat) weights of ``ensemble_depression`` from the manifest, if it gives them.
    weights: tuple[float, float] | None = None

    @property
    def pat_runtime(self) -> str | None:
        """The loaded PAT's runtime label (``onnx-fp32``, ``torch-bf16``, …), None without PAT."""
        return next((info.runtime for info in self.infos if info.kind == "pat"), None)

    def all(self) -> tuple[BatchModel, ...]:
        """Every model, boosters first (depression, hypomania, mania), then PAT."""
        models: tuple[BatchModel, ...] = self.boosters
        return models + ((self.pat,) if self.pat is not None else ())


def _load_booster(
    entry: ManifestEntry, path: Path, data: bytes, settings: ModelSettings
) -> tuple[XGBoostModel, int]:
    from consumer.models.xgb import XGBoostModel

    model = XGBoostModel.from_bytes(
        data, path=path, name=entry.name, version=entry.version, nthread=settings.xgboost_threads
    )
    return model, model.trees


def _load_pat(
    models_dir: Path, entry: ManifestEntry, settings: ModelSettings, clinically_valid: bool
) -> tuple[PatBatchModel, ModelInfo]:
    """Read and checksum the PAT files, refuse them when they contradict a clinically valid
    manifest, choose the runtime (calibrating when asked), load it."""
    from consumer.models.formats import read_safetensors_header
    from consumer.models.pat_runtime import build_runtime, read_pat_files, resolve_runtime

    started = time.perf_counter()
    files = read_pat_files(models_dir, entry)
    header = read_safetensors_header(files.data, source=str(files.path))
    require_honest(files.path, header, files.data, claimed=clinically_valid)
    label, figures = resolve_runtime(settings, files)
    calibrated_ms = (time.perf_counter() - started) * 1000.0 if figures else 0.0
    model = build_runtime(label, files, settings)
    info = ModelInfo(
        name=entry.name,
        kind="pat",
        version=entry.version,
        sha256=entry.sha256,
        trees=None,
        parameters=model.parameters,
        load_ms=round((time.perf_counter() - started) * 1000.0 - calibrated_ms, 2),
        file=files.onnx_path if label == "onnx-fp32" and files.onnx_path else files.path,
        runtime=label,
        calibration=tuple(figures),
        calibration_ms=round(calibrated_ms, 1),
    )
    return model, info


def _import_libraries(kinds: set[str], settings: ModelSettings) -> None:
    """Import xgboost (and torch for a torch PAT runtime) up front, so ``load_ms`` excludes
    the imports. Never onnxruntime: importing it starts a native background thread, so it
    is imported in each worker, after the fork, when the session is built."""
    if "xgboost" in kinds:
        import consumer.models.xgb
    if "pat" in kinds and settings.pat_runtime == "torch":
        import consumer.models.pat  # noqa: F401


def _load_entry(
    models_dir: Path, entry: ManifestEntry, settings: ModelSettings, clinically_valid: bool
) -> tuple[XGBoostModel | PatBatchModel, ModelInfo]:
    """Verify and load one manifest entry, timing it. Blocking; raises ModelLoadError."""
    if entry.kind == "pat":
        return _load_pat(models_dir, entry, settings, clinically_valid)
    started = time.perf_counter()
    path, data = read_verified(models_dir, entry.name, entry.file, entry.sha256)
    model, count = _load_booster(entry, path, data, settings)
    info = ModelInfo(
        name=entry.name,
        kind=entry.kind,
        version=entry.version,
        sha256=entry.sha256,
        trees=count,
        parameters=None,
        load_ms=round((time.perf_counter() - started) * 1000.0, 2),
        file=path,
    )
    return model, info


def load_model_set(settings: ModelSettings) -> ModelSet:
    """Load every model listed in ``<settings.dir>/manifest.json``, verified. Blocking.

    Applies the thread caps first. Runs no inference and no multi-threaded torch op, so
    it is safe in a supervisor that forks workers afterwards. Raises ModelLoadError (one
    line, says what to fix) on the first problem found. Not thread-safe (call once).
    """
    apply_thread_caps(settings)
    manifest, digest = read_manifest_and_digest(settings.dir)
    _import_libraries({entry.kind for entry in manifest.models}, settings)
    valid = manifest.clinically_valid
    loaded = {e.name: _load_entry(settings.dir, e, settings, valid) for e in manifest.models}
    weights = manifest.ensemble
    names = [n for n in (*BOOSTER_NAMES, "pat") if n in loaded]
    pat = loaded["pat"][0] if "pat" in loaded else None
    return ModelSet(
        boosters=tuple(cast("XGBoostModel", loaded[n][0]) for n in names if n != "pat"),
        pat=cast("PatBatchModel | None", pat),
        infos=tuple(loaded[n][1] for n in names),
        clinically_valid=manifest.clinically_valid,
        note=manifest.note,
        digest=digest,
        weights=(weights.xgboost_weight, weights.pat_weight) if weights else None,
    )

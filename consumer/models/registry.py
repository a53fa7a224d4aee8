"""Load and verify a models directory: manifest → checksums → formats → adapters.

Order of checks for each file (the first failure stops start-up with a one-line
ModelLoadError that says what to fix): the file exists; its sha256 matches the manifest
(checked on the raw bytes BEFORE anything parses them); its suffix and content are a
safe format (XGBoost JSON/UBJSON, safetensors); a booster carries ``feature_names``
equal to the 36 contract names; PAT tensors match the manifest's ``size``.

Thread caps are applied before torch/xgboost are imported, and torch/xgboost are only
imported when the manifest lists a model that needs them. The service never writes into
the models directory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

from consumer.errors import ModelLoadError
from consumer.models.formats import sha256_hex
from consumer.models.manifest import BOOSTER_NAMES, ManifestEntry, read_manifest
from consumer.models.threads import apply_thread_caps
from consumer.settings import ModelSettings

if TYPE_CHECKING:
    from consumer.models.pat import PatModel
    from consumer.models.protocol import BatchModel
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


@dataclass(frozen=True, slots=True)
class ModelSet:
    """The verified models of one directory. Immutable; share it read-only across a fork."""

    boosters: tuple[XGBoostModel, ...]
    pat: PatModel | None
    infos: tuple[ModelInfo, ...]
    clinically_valid: bool = False
    note: str = ""

    def all(self) -> tuple[BatchModel, ...]:
        """Every model, boosters first (depression, hypomania, mania), then PAT."""
        models: tuple[BatchModel, ...] = self.boosters
        return models + ((self.pat,) if self.pat is not None else ())


def _read_verified(models_dir: Path, entry: ManifestEntry) -> tuple[Path, bytes]:
    """Read one listed file and check its sha256 on the raw bytes. Blocking."""
    path = models_dir / entry.file
    if not path.is_file():
        raise ModelLoadError(
            f"model file {path} for '{entry.name}' listed in manifest.json is missing: "
            "restore it, or remove the entry from manifest.json"
        )
    data = path.read_bytes()
    actual = sha256_hex(data)
    if actual != entry.sha256:
        raise ModelLoadError(
            f"checksum mismatch for {path}: manifest.json says sha256 {entry.sha256[:12]}…, "
            f"the file is {actual[:12]}…; the file is corrupt or the manifest is stale "
            "(restore the file, or rebuild with `moodstream models build-demo`)"
        )
    return path, data


def _load_booster(
    entry: ManifestEntry, path: Path, data: bytes, settings: ModelSettings
) -> tuple[XGBoostModel, int]:
    from consumer.models.xgb import XGBoostModel

    model = XGBoostModel.from_bytes(
        data, path=path, name=entry.name, version=entry.version, nthread=settings.xgboost_threads
    )
    return model, model.trees


def _load_pat(
    entry: ManifestEntry, path: Path, data: bytes, settings: ModelSettings
) -> tuple[PatModel, int]:
    from consumer.models.pat import PatModel

    assert entry.size is not None  # guaranteed by ManifestEntry validation
    model = PatModel.from_bytes(
        data,
        path=path,
        size=entry.size,
        version=entry.version,
        name=entry.name,
        sub_batch_size=settings.pat_sub_batch_size,
        torch_threads=settings.torch_threads,
    )
    return model, model.parameters


def _import_libraries(kinds: set[str]) -> None:
    """Import xgboost/torch (via the adapters) up front, so ``load_ms`` excludes the imports."""
    if "xgboost" in kinds:
        import consumer.models.xgb
    if "pat" in kinds:
        import consumer.models.pat  # noqa: F401


def _load_entry(
    models_dir: Path, entry: ManifestEntry, settings: ModelSettings
) -> tuple[XGBoostModel | PatModel, ModelInfo]:
    """Verify and load one manifest entry, timing it. Blocking; raises ModelLoadError."""
    started = time.perf_counter()
    path, data = _read_verified(models_dir, entry)
    model: XGBoostModel | PatModel
    if entry.kind == "xgboost":
        model, count = _load_booster(entry, path, data, settings)
    else:
        model, count = _load_pat(entry, path, data, settings)
    info = ModelInfo(
        name=entry.name,
        kind=entry.kind,
        version=entry.version,
        sha256=entry.sha256,
        trees=count if entry.kind == "xgboost" else None,
        parameters=count if entry.kind == "pat" else None,
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
    manifest = read_manifest(settings.dir)
    _import_libraries({entry.kind for entry in manifest.models})
    loaded = {e.name: _load_entry(settings.dir, e, settings) for e in manifest.models}
    names = [n for n in (*BOOSTER_NAMES, "pat") if n in loaded]
    pat = loaded["pat"][0] if "pat" in loaded else None
    return ModelSet(
        boosters=tuple(cast("XGBoostModel", loaded[n][0]) for n in names if n != "pat"),
        pat=cast("PatModel | None", pat),
        infos=tuple(loaded[n][1] for n in names),
        clinically_valid=manifest.clinically_valid,
        note=manifest.note,
    )

"""Deterministic demo models trained on synthetic data — NOT clinically valid.

``moodstream models build-demo`` writes three XGBoost boosters (depression, hypomania,
mania; UBJSON, feature_names in ``schemas.FEATURE_NAMES`` order) and a PAT-M
(safetensors, and its ONNX export for the ``onnx`` runtime) plus ``manifest.json`` into a
models directory. Same code, same seeds, same library versions → byte-identical files.

Synthetic cohort for the boosters (:func:`consumer.models.synthetic.synthetic_cohort`):
each person has baselines MN (around realistic means: ST_long 7.6 h, LongSleepWindow_length
9 h, Sleep_percentage 0.37, Circadian_phase 23 h, Circadian_amplitude 1.05, …) and SD;
each day has Z-scores driven by three latent factors (sleep length, circadian phase,
amplitude) plus heavy-tailed noise, clipped to [-3.2, 4.2]; 3 % of values are NaN
(after the labels are drawn). Writing Z(b) for ``b_Zscore``, the next-day labels are
Bernoulli(sigmoid(logit)) with

* depression (≈17 %): -2.3 + 0.9·Z(LongSleepWindow_length) + 0.5·Z(ST_long)
  - 0.8·Z(Circadian_amplitude) + 0.4·Z(Circadian_phase)
  + 0.8·max(Z(LongSleepWindow_length) - 1, 0)·[Z(Circadian_amplitude) < 0]
  + 0.3·(LongSleepWindow_length_MN - 9): long sleep, flattened rhythm, phase delay.
* hypomania (≈6 %): -3.7 - 0.8·Z(ST_long) - 0.6·Z(Circadian_phase) + 0.5·Z(WT_short)
  + 0.5·Circadian_phase_SD: short sleep, phase advance, irregular phase.
* mania (≈5 %): -4.8 - 1.2·Z(ST_long) - 0.8·Z(LongSleepWindow_length)
  - 0.9·Z(Circadian_phase) + 0.6·Z(Sleep_amplitude) + 0.7·max(-Z(ST_long) - 1.5, 0):
  very short sleep and phase advance.

Boosters copy the published configuration (REFERENCE.md §2): binary:logistic, learning
rate 0.01, max_depth 10, 987 trees (mania), 648 (hypomania, scale_pos_weight 19.3),
800 (depression). min_child_weight/gamma are tuned so the trees look like the published
ones: about 30-35 nodes per tree on average, still reaching depth 10 (the published ME is
2.1 MB of JSON for 987 trees, about 32 nodes per tree); each UBJSON file is 1-2 MB.

PAT-M is trained briefly from a fixed seed on synthetic weeks
(:func:`consumer.models.synthetic.synthetic_week`): label = "disrupted" (sleep onset
wandering by hours, broken sleep, flattened day-night rhythm), flipped for 10 % of weeks;
the per-minute mean/std are fitted on the training weeks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np

from consumer.errors import ModelLoadError
from consumer.models.demo_recipes import BOOSTER_RECIPES, DEMO_PAT_RECIPE, BoosterRecipe, PatRecipe
from consumer.models.formats import sha256_hex
from consumer.models.manifest import (
    MANIFEST_NAME,
    Manifest,
    ManifestEntry,
    manifest_json,
    read_manifest,
)
from consumer.models.synthetic import (
    synthetic_cohort,
    synthetic_features,
    synthetic_week,
    synthetic_weeks,
)
from schemas.events import FEATURE_NAMES

__all__ = [
    "BOOSTER_RECIPES",
    "BoosterRecipe",
    "DemoBuild",
    "PatRecipe",
    "build_demo",
    "foreign_manifest",
    "synthetic_features",
    "synthetic_week",
    "train_booster",
    "train_pat",
]

VERSION_PREFIX: Final = "demo-2026.11"
NOTE: Final = "synthetic demo model — NOT clinically valid"


@dataclass(frozen=True, slots=True)
class DemoBuild:
    """Result of :func:`build_demo`: the manifest written and some training facts."""

    out_dir: Path
    manifest: Manifest
    facts: dict[str, str] = field(default_factory=dict)


def train_booster(recipe: BoosterRecipe, *, nthread: int = 1) -> bytes:
    """Train one booster on a seeded synthetic cohort; return UBJSON bytes. Blocking (CPU).

    Deterministic for a given recipe, xgboost version and ``nthread``. Raises ValueError
    for an unknown target name.
    """
    import xgboost as xgb

    cohort = synthetic_cohort(np.random.default_rng(recipe.seed), recipe.persons, recipe.days)
    if recipe.name not in cohort.labels:
        raise ValueError(f"unknown booster target {recipe.name!r}")
    data = xgb.DMatrix(
        cohort.features,
        label=cohort.labels[recipe.name],
        missing=np.nan,
        feature_names=list(FEATURE_NAMES),
        nthread=nthread,
    )
    params = {
        "objective": "binary:logistic",
        "eta": 0.01,
        "max_depth": 10,
        "tree_method": "hist",
        "min_child_weight": recipe.min_child_weight,
        "gamma": recipe.gamma,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
        "scale_pos_weight": recipe.scale_pos_weight,
        "eval_metric": "auc",
        "seed": recipe.seed,
        "nthread": nthread,
    }
    booster = xgb.train(params, data, num_boost_round=recipe.trees)
    booster.feature_names = list(FEATURE_NAMES)
    return bytes(booster.save_raw("ubj"))


def train_pat(recipe: PatRecipe) -> bytes:
    """Train a PAT of ``recipe.size`` briefly on seeded synthetic weeks; return safetensors bytes.

    Runs on one torch thread with deterministic algorithms, restoring torch's global RNG,
    thread count and determinism flag afterwards. Blocking (CPU, ~1-2 min for the default
    PAT-M recipe). Raises KeyError for an unknown size.
    """
    import torch

    from consumer.models.pat_demo_train import fit_pat

    previous_threads = torch.get_num_threads()
    previous_det = torch.are_deterministic_algorithms_enabled()
    try:
        torch.set_num_threads(1)
        torch.use_deterministic_algorithms(True)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(recipe.seed)
            return fit_pat(recipe, _pat_training_set(recipe))
    finally:
        torch.use_deterministic_algorithms(previous_det)
        torch.set_num_threads(previous_threads)


def _pat_training_set(recipe: PatRecipe) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(recipe.seed)
    disrupted = rng.random(recipe.weeks) < 0.5
    labels = np.where(rng.random(recipe.weeks) < recipe.flip, ~disrupted, disrupted)
    return synthetic_weeks(rng, disrupted), labels.astype(np.float32)


def _entry(name: str, kind: str, file: str, data: bytes, size: str | None = None) -> ManifestEntry:
    digest = sha256_hex(data)
    return ManifestEntry.model_validate(
        {
            "name": name,
            "kind": kind,
            "file": file,
            "sha256": digest,
            "version": f"{VERSION_PREFIX}-{digest[:8]}",
            "size": size,
        }
    )


def _onnx_export(out_dir: Path, entry: ManifestEntry, data: bytes) -> ManifestEntry:
    """Write the PAT's ONNX export beside it (for the default ``onnx`` runtime)."""
    from consumer.models.pat_export import export_onnx, onnx_file_name

    assert entry.size is not None
    onnx_bytes = export_onnx(data, size=entry.size)
    file = onnx_file_name(entry.file)
    (out_dir / file).write_bytes(onnx_bytes)
    return entry.model_copy(update={"onnx_file": file, "onnx_sha256": sha256_hex(onnx_bytes)})


def build_demo(
    out_dir: Path,
    *,
    boosters: tuple[BoosterRecipe, ...] = BOOSTER_RECIPES,
    pat: PatRecipe | None = DEMO_PAT_RECIPE,
    nthread: int = 1,
) -> DemoBuild:
    """Train the demo set and write it (model files first, ``manifest.json`` last). Blocking.

    Minutes of CPU with the defaults. Raises OSError when ``out_dir`` is not writable.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    entries: list[ManifestEntry] = []
    for recipe in boosters:
        data = train_booster(recipe, nthread=nthread)
        (out_dir / f"{recipe.name}.ubj").write_bytes(data)
        entries.append(_entry(recipe.name, "xgboost", f"{recipe.name}.ubj", data))
    if pat is not None:
        data = train_pat(pat)
        file = f"pat-{pat.size.lower()}.safetensors"
        (out_dir / file).write_bytes(data)
        entries.append(_onnx_export(out_dir, _entry("pat", "pat", file, data, size=pat.size), data))
    manifest = Manifest(models=tuple(entries), clinically_valid=False, note=NOTE)
    (out_dir / "manifest.json").write_text(manifest_json(manifest), encoding="utf-8")
    facts = {"recipes": json.dumps([r.name for r in boosters] + (["pat"] if pat else []))}
    return DemoBuild(out_dir=out_dir, manifest=manifest, facts=facts)


def foreign_manifest(out_dir: Path) -> str | None:
    """Why ``out_dir``'s manifest.json is not the demo set's (None: there is none, or it is
    the demo's: its note and every version are the demo's). Blocking (reads it)."""
    if not (out_dir / MANIFEST_NAME).is_file():
        return None
    try:
        manifest = read_manifest(out_dir)
    except ModelLoadError as exc:
        return str(exc)
    others = [e.name for e in manifest.models if not e.version.startswith(VERSION_PREFIX)]
    if manifest.note != NOTE or others:
        listed = ", ".join(f"{e.name} {e.version}" for e in manifest.models)
        return f"it lists models that are not the demo's ({listed})"
    return None

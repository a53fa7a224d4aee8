"""The committed demo models, the synthetic generators, and deterministic training."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest

from consumer.models.demo import (
    BoosterRecipe,
    PatRecipe,
    synthetic_features,
    synthetic_week,
    train_booster,
    train_pat,
)
from consumer.models.registry import ModelSet, load_model_set
from consumer.models.synthetic import synthetic_baselines, synthetic_cohort
from consumer.settings import ModelSettings
from schemas.events import ACTIVITY_MINUTES, FEATURE_NAMES, FeatureEvent

DEMO_DIR = Path(__file__).resolve().parents[3] / "models" / "demo"


@pytest.fixture(scope="module")
def demo_set() -> ModelSet:
    return load_model_set(ModelSettings(dir=DEMO_DIR))


def test_committed_files_match_their_manifest() -> None:
    manifest = json.loads((DEMO_DIR / "manifest.json").read_text())
    assert manifest["clinically_valid"] is False
    assert "NOT clinically valid" in manifest["note"]
    assert [m["name"] for m in manifest["models"]] == ["depression", "hypomania", "mania", "pat"]
    total = 0
    for entry in manifest["models"]:
        data = (DEMO_DIR / entry["file"]).read_bytes()
        total += len(data)
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["file"]
        assert re.fullmatch(r"demo-2026\.11-[0-9a-f]{8}", entry["version"])
        if entry["kind"] == "xgboost":
            assert entry["file"].endswith(".ubj") and len(data) <= 4_000_000
    assert total < 15_000_000


def test_demo_set_loads_with_published_like_sizes(demo_set: ModelSet) -> None:
    assert [b.name for b in demo_set.boosters] == ["depression", "hypomania", "mania"]
    for booster in demo_set.boosters:
        assert booster.booster_feature_names == FEATURE_NAMES
        assert 600 <= booster.trees <= 1_000
    assert demo_set.pat is not None and demo_set.pat.config.size == "M"
    assert demo_set.pat.encoder_parameters == 993_440


def _auc(scores: np.ndarray, labels: np.ndarray) -> float:
    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    pos = labels == 1
    return float((ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum()))


def test_demo_boosters_learned_the_documented_rule(demo_set: ModelSet) -> None:
    cohort = synthetic_cohort(np.random.default_rng(12345), persons=60, days=30)
    for booster in demo_set.boosters:
        scores = booster.predict_batch(cohort.features)
        assert np.all((scores >= 0) & (scores <= 1))
        assert _auc(scores, cohort.labels[booster.name]) > 0.7, booster.name


def test_demo_pat_separates_disrupted_weeks(demo_set: ModelSet) -> None:
    assert demo_set.pat is not None
    rng = np.random.default_rng(99)
    weeks = np.stack([synthetic_week(rng, disrupted=i % 2 == 1) for i in range(8)])
    scores = demo_set.pat.predict_batch(weeks)
    assert scores[1::2].mean() > scores[0::2].mean()


def test_synthetic_week_is_plausible_and_has_a_daily_rhythm() -> None:
    rng = np.random.default_rng(0)
    regular, disrupted = synthetic_week(rng, disrupted=False), synthetic_week(rng, disrupted=True)
    for week in (regular, disrupted):
        assert week.shape == (ACTIVITY_MINUTES,) and week.dtype == np.float32
        assert np.all(np.isfinite(week)) and week.min() >= 0
    by_hour = regular.reshape(7, 24, 60).mean(axis=(0, 2))
    assert by_hour[1:5].mean() < 0.1 * by_hour[12:18].mean()
    flat = disrupted.reshape(7, 24, 60).mean(axis=(0, 2))
    assert flat[1:5].mean() / flat[12:18].mean() > by_hour[1:5].mean() / by_hour[12:18].mean()


def test_synthetic_features_pass_the_event_contract() -> None:
    rng = np.random.default_rng(1)
    mn, sd = synthetic_baselines(rng, 1)
    rows = np.concatenate([synthetic_features(rng, 200), synthetic_features(rng, 5, mn=mn, sd=sd)])
    assert rows.shape == (205, 36) and rows.dtype == np.float32
    assert 0 < np.isnan(rows).mean() < 0.1
    z = rows[:, 2::3]
    assert np.nanmin(z) < -2 and np.nanmax(z) > 3
    for row in rows:
        features = {
            n: (None if np.isnan(v) else float(v)) for n, v in zip(FEATURE_NAMES, row, strict=True)
        }
        FeatureEvent(
            schema_version=1,
            event_id=str(uuid.uuid4()),
            user_id="u1",
            as_of=date(2026, 11, 1),
            emitted_at=datetime.now(UTC),
            features=features,
        )


def test_tiny_booster_training_is_byte_identical() -> None:
    recipe = BoosterRecipe("mania", trees=5, persons=40, days=10, seed=3)
    first, second = train_booster(recipe), train_booster(recipe)
    assert first == second
    assert first != train_booster(BoosterRecipe("mania", trees=5, persons=40, days=10, seed=4))


def test_tiny_pat_training_is_byte_identical() -> None:
    recipe = PatRecipe(size="S", weeks=8, steps=2, batch=2, seed=3)
    assert train_pat(recipe) == train_pat(recipe)

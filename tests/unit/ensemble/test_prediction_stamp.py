"""Every prediction names its model set, its validity, the PAT runtime and the rule behind
``ensemble_depression``; a manifest's own weights replace the settings' ones."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from consumer.ensemble.outputs import build_prediction, ensemble_rule, outcome_for
from consumer.ensemble.stamp import ModelSetStamp
from consumer.models.manifest import EnsembleWeights
from consumer.settings import EnsembleSettings
from schemas import Prediction, SourcePosition
from tests.fakes import FakeClock, make_event
from tests.unit.ensemble.test_ensemble import build

SETTINGS = EnsembleSettings()
SOURCE = SourcePosition(topic="t", partition=0, offset=1)
DIGEST = "ab" * 32


def _predictions(stamp: ModelSetStamp | None) -> list[Prediction]:
    clock = FakeClock()
    ensemble, _ = build(clock)
    events = [
        make_event(seed=0),
        make_event(seed=1, features=False, activity=True),
        make_event(seed=2, activity=True),
    ]
    scoring = ensemble.score(events)
    return [
        build_prediction(
            event,
            outcome_for(i, scoring.runs_for(i), ensemble.versions()),
            SOURCE,
            1.0,
            SETTINGS,
            clock.now(),
            stamp,
        )
        for i, event in enumerate(events)
    ]


def test_each_prediction_says_which_rule_made_ensemble_depression() -> None:
    features, activity, both = _predictions(None)
    assert (features.ensemble_rule, features.ensemble_depression) == ("xgboost_only", 0.2)
    assert (activity.ensemble_rule, activity.ensemble_depression) == ("pat_only", 0.7)
    assert both.ensemble_rule == "weighted"
    assert both.ensemble_depression == pytest.approx(0.6 * 0.2 + 0.4 * 0.7)
    assert ensemble_rule(None, None) is None
    assert all(p.model_set is None and p.clinically_valid is False for p in (features, both))


def test_the_stamp_reaches_every_prediction_and_its_weights_are_used() -> None:
    stamp = ModelSetStamp(
        model_set=DIGEST, clinically_valid=True, pat_runtime="torch-bf16", weights=(0.25, 0.75)
    )
    predictions = _predictions(stamp)
    for prediction in predictions:
        assert prediction.model_set == DIGEST and prediction.clinically_valid is True
        assert prediction.pat_runtime == "torch-bf16"
        assert Prediction.model_validate_json(prediction.model_dump_json()) == prediction
    assert predictions[2].ensemble_depression == pytest.approx(0.25 * 0.2 + 0.75 * 0.7)


def test_manifest_weights_must_sum_to_one() -> None:
    assert EnsembleWeights(xgboost_weight=0.5, pat_weight=0.5).pat_weight == 0.5
    with pytest.raises(ValidationError, match="sum to 1"):
        EnsembleWeights(xgboost_weight=0.5, pat_weight=0.6)


def test_model_set_is_a_sha256() -> None:
    (prediction,) = _predictions(ModelSetStamp(model_set=DIGEST))[:1]
    with pytest.raises(ValidationError, match="model_set"):
        Prediction.model_validate(prediction.model_dump() | {"model_set": "not-a-digest"})


def test_the_events_coverage_reaches_its_prediction() -> None:
    """The windows stage's coverage travels from the event into the prediction; an event
    without it (a producer's own week, features alone) gives a null coverage."""
    clock = FakeClock()
    ensemble, _ = build(clock)
    plain = make_event(seed=2, activity=True)
    covered = plain.model_copy(update={"coverage": 0.875})
    scoring = ensemble.score([plain, covered])
    coverages = [
        build_prediction(
            event,
            outcome_for(i, scoring.runs_for(i), ensemble.versions()),
            SOURCE,
            1.0,
            SETTINGS,
            clock.now(),
        ).coverage
        for i, event in enumerate([plain, covered])
    ]
    assert coverages == [None, 0.875]

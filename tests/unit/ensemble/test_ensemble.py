"""Ensemble and output building with fake models and executors: no threads, no sleeps."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from consumer.ensemble.model_inputs import insufficient_features
from consumer.ensemble.outputs import (
    build_alerts,
    build_prediction,
    ensemble_depression,
    outcome_for,
)
from consumer.ensemble.scoring import Ensemble
from consumer.settings import EnsembleSettings
from schemas import AlertKind, ModelStatus, SourcePosition
from tests.fakes import FakeClock, FakeModel, InlineExecutor, booster_lanes, make_event, make_lane

SETTINGS = EnsembleSettings()
SOURCE = SourcePosition(topic="t", partition=0, offset=1)
AT = FakeClock().now()


def build(
    clock: FakeClock,
    pat_executor: InlineExecutor | None = None,
    pat_timeout_s: float = 10.0,
    **kw: Any,
) -> tuple[Ensemble, dict[str, FakeModel]]:
    models = {
        n: FakeModel(n, score=s)
        for n, s in [("depression", 0.2), ("hypomania", 0.1), ("mania", 0.05)]
    }
    models["pat"] = FakeModel("pat", score=0.7, **kw)
    boosters = [
        make_lane(models[n], InlineExecutor(), 5.0, clock)
        for n in ("depression", "hypomania", "mania")
    ]
    pat = make_lane(models["pat"], pat_executor or InlineExecutor(), pat_timeout_s, clock)
    return Ensemble(boosters, pat, SETTINGS, clock), models


def test_models_run_only_on_events_with_their_input() -> None:
    clock = FakeClock()
    ensemble, models = build(clock)
    events = [
        make_event(seed=0),
        make_event(seed=1, features=False, activity=True),
        make_event(seed=2, activity=True),
    ]
    scoring = ensemble.score(events)
    assert models["depression"].calls == [2] and models["pat"].calls == [2]
    only_features = outcome_for(0, scoring.runs_for(0), ensemble.versions())
    assert only_features.reports["pat"].status is ModelStatus.SKIPPED
    assert only_features.scores["pat"] is None and not only_features.partial
    only_activity = outcome_for(1, scoring.runs_for(1), ensemble.versions())
    assert only_activity.scores == {
        "depression": None,
        "hypomania": None,
        "mania": None,
        "pat": 0.7,
    }
    both = outcome_for(2, scoring.runs_for(2), ensemble.versions())
    prediction = build_prediction(events[2], both, SOURCE, 12.0, SETTINGS, AT)
    assert prediction.ensemble_depression == pytest.approx(0.6 * 0.2 + 0.4 * 0.7)
    assert prediction.next_day_risk.mania == 0.05 and prediction.current_depression == 0.7
    assert all(r.status is ModelStatus.OK for r in prediction.models.values())


def test_hung_model_gives_partial_prediction_and_alert_not_a_score() -> None:
    clock = FakeClock()
    hanging = InlineExecutor(hang=True)
    ensemble, _ = build(clock, pat_executor=hanging, pat_timeout_s=1.0)
    event = make_event(activity=True)
    scoring = ensemble.submit([event])
    assert scoring.unresolved == 1  # PAT is working on it
    clock.advance(1.0)  # its deadline
    ensemble.pump()
    outcome = outcome_for(0, scoring.runs_for(0), ensemble.versions())
    prediction = build_prediction(event, outcome, SOURCE, 3.0, SETTINGS, AT)
    assert prediction.partial is True
    assert prediction.models["pat"].status is ModelStatus.TIMEOUT
    assert prediction.current_depression is None
    assert prediction.ensemble_depression == pytest.approx(0.2)  # boosters only, no invented PAT
    alerts = build_alerts(event, outcome, 3.0, SETTINGS, clock.now())
    assert [(a.kind, a.model) for a in alerts] == [(AlertKind.MODEL_TIMEOUT, "pat")]
    # The lane is stuck: nothing queues behind the hung call; new rows time out at once.
    assert ensemble.stuck_models() == ["pat"]
    for _ in range(3):
        runs = ensemble.score([event]).runs_for(0)
        assert outcome_for(0, runs, {}).reports["pat"].status.value == "timeout"
    assert hanging.submitted == 1


def test_failing_model_is_reported_failed() -> None:
    clock = FakeClock()
    ensemble, _ = build(clock, fail=True)
    event = make_event(activity=True)
    outcome = outcome_for(0, ensemble.score([event]).runs_for(0), ensemble.versions())
    assert outcome.reports["pat"].status is ModelStatus.FAILED and outcome.scores["pat"] is None
    kinds = [a.kind for a in build_alerts(event, outcome, 1.0, SETTINGS, clock.now())]
    assert kinds == [AlertKind.MODEL_FAILURE]


def test_slow_prediction_alert_over_budget() -> None:
    clock = FakeClock()
    ensemble, _ = build(clock)
    event = make_event()
    outcome = outcome_for(0, ensemble.score([event]).runs_for(0), ensemble.versions())
    assert build_alerts(event, outcome, 999.0, SETTINGS, clock.now()) == []
    [alert] = build_alerts(event, outcome, 1_500.0, SETTINGS, clock.now())
    assert alert.kind is AlertKind.SLOW_PREDICTION and alert.budget_ms == 1_000.0


def test_uninstalled_pat_is_skipped_not_partial() -> None:
    clock = FakeClock()
    lanes = booster_lanes(clock)
    ensemble = Ensemble(lanes, None, SETTINGS, clock)
    event = make_event(activity=True)
    outcome = outcome_for(0, ensemble.score([event]).runs_for(0), ensemble.versions())
    assert (
        outcome.reports["pat"].status is ModelStatus.SKIPPED
        and outcome.reports["pat"].version is None
    )
    assert not outcome.partial


def test_weights_must_sum_to_one() -> None:
    with pytest.raises(ValidationError, match="sum to 1"):
        EnsembleSettings(xgboost_weight=0.7, pat_weight=0.4)
    settings = EnsembleSettings(xgboost_weight=0.5, pat_weight=0.5)
    assert ensemble_depression(0.2, 0.4, settings) == pytest.approx(0.3)
    assert ensemble_depression(None, 0.4, settings) == 0.4
    assert ensemble_depression(None, None, settings) is None


def test_the_pat_input_matrix_holds_each_week_as_float32_in_order() -> None:
    import numpy as np

    from consumer.ensemble.scoring import activity_matrix
    from schemas import ACTIVITY_MINUTES

    week = [float((m * 7919) % 3001) + 0.1 * (m % 10) for m in range(ACTIVITY_MINUTES)]
    import orjson

    from schemas import FeatureEvent
    from tests.fakes import event_dict

    events = [
        make_event(features=False, activity=True, seed=1),
        FeatureEvent.model_validate_json(
            orjson.dumps({**event_dict(features=False, seed=2), "activity": week})
        ),
    ]
    matrix = activity_matrix(events, [1, 0])
    assert matrix.dtype == np.float32 and matrix.shape == (2, ACTIVITY_MINUTES)
    assert np.array_equal(matrix[0], np.asarray(week, dtype=np.float32))  # same rounding
    assert np.array_equal(matrix[1], np.asarray(events[0].activity, dtype=np.float32))


def test_events_with_too_few_features_get_no_booster_and_are_named_insufficient() -> None:
    """The batch-wide hold-back agrees with the per-event rule on every event."""
    clock = FakeClock()
    ensemble, models = build(clock)
    events = []
    for seed, present in enumerate([36, 17, 18, 0, 19, 5, 36]):
        event = make_event(seed=seed, activity=seed in (1, 4))
        assert event.features is not None
        names = list(event.features)
        features = {n: (event.features[n] if i < present else None) for i, n in enumerate(names)}
        events.append(event.model_copy(update={"features": features}))
    events.append(make_event(seed=9, features=False, activity=True))
    scoring = ensemble.submit(events, 18)
    want = {i for i, e in enumerate(events) if insufficient_features(e, 18)}
    assert scoring.insufficient == want == {1, 3, 5}
    assert models["depression"].calls == [len(events) - 1 - len(want)]
    assert models["pat"].calls == [3]  # the short event 1 still gets its PAT score
    ensemble.pump()  # pick up the inline calls' answers
    assert "depression" not in scoring.runs_for(1) and "pat" in scoring.runs_for(1)
    assert ensemble.submit(events).insufficient == frozenset()  # no minimum: all scored

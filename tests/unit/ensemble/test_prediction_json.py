"""The prediction JSON built from plain data is byte for byte the pydantic model's JSON, and
a value the contract refuses is refused just as the model refuses it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from consumer.ensemble.outputs import BatchOutcomes, EventOutcome, build_prediction, outcome_for
from consumer.ensemble.prediction_json import PredictionEncoder, prediction_json
from consumer.ensemble.stamp import ModelSetStamp
from consumer.settings import EnsembleSettings
from schemas import FeatureEvent, ModelReport, ModelStatus, Prediction, SourcePosition
from tests.fakes import FakeClock, make_event
from tests.unit.ensemble.test_ensemble import build

SETTINGS = EnsembleSettings()
POSITION = ("mood.features.v1", 3, 123_456_789)
DIGEST = "0123456789abcdef" * 4
STAMPS = [
    None,
    ModelSetStamp(),
    ModelSetStamp(DIGEST, True, "onnx-fp32", (0.7, 0.3)),
    ModelSetStamp(DIGEST, False, None, None),
]
TIMES = [
    datetime(2026, 12, 5, 8, 43, 27, 914_000, tzinfo=UTC),
    datetime(2026, 12, 5, 8, 43, 27, tzinfo=UTC),
    datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=timezone(timedelta(0))),
]


def _both(
    event: FeatureEvent,
    outcome: EventOutcome,
    latency_ms: float = 12.3456789,
    at: datetime = TIMES[0],
    stamp: ModelSetStamp | None = None,
) -> tuple[bytes, bytes]:
    source = SourcePosition(topic=POSITION[0], partition=POSITION[1], offset=POSITION[2])
    model = build_prediction(event, outcome, source, latency_ms, SETTINGS, at, stamp)
    fast = prediction_json(event, outcome, POSITION, latency_ms, SETTINGS, at, stamp)
    return fast, model.model_dump_json().encode()


def _outcome(scores: dict[str, float | None], status: ModelStatus = ModelStatus.OK) -> EventOutcome:
    reports = {
        name: ModelReport(
            status=status if score is not None else ModelStatus.SKIPPED,
            version=f"{name}-v1" if score is not None else None,
            latency_ms=1.5 if score is not None else None,
            reason="max_event_age" if status is ModelStatus.SKIPPED else None,
        )
        for name, score in scores.items()
    }
    return EventOutcome(reports, scores, status is not ModelStatus.OK, ())


def test_the_bytes_equal_the_models_json_for_the_ensembles_outcomes() -> None:
    clock = FakeClock()
    ensemble, _ = build(clock)
    events = [
        make_event(seed=0),
        make_event(seed=1, features=False, activity=True),
        make_event(seed=2, activity=True),
    ]
    # An event from the windows stage carries its coverage (the model's output decides).
    events.append(events[2].model_copy(update={"coverage": 0.75}))
    scoring = ensemble.score(events)
    for index, event in enumerate(events):
        for insufficient in (False, True):
            runs = scoring.runs_for(index)
            outcome = outcome_for(index, runs, ensemble.versions(), insufficient=insufficient)
            for stamp in STAMPS:
                for at in TIMES:
                    for latency_ms in (0.0, 12.3456789, 1e16, 3.0):
                        fast, model = _both(event, outcome, latency_ms, at, stamp)
                        assert fast == model


@pytest.mark.parametrize(
    "scores",
    [
        {"depression": 0.0, "hypomania": 1.0, "mania": 1e-7, "pat": 0.123456789012345},
        {"depression": None, "hypomania": None, "mania": None, "pat": 0.5},
        {"depression": 0.3333333333333333, "hypomania": 2e-300, "mania": 0.999, "pat": None},
        {"depression": None, "hypomania": None, "mania": None, "pat": None},
    ],
)
def test_the_bytes_equal_the_models_json_for_any_scores(scores: dict[str, float | None]) -> None:
    event = make_event(seed=4)
    for status in (ModelStatus.OK, ModelStatus.TIMEOUT, ModelStatus.SKIPPED):
        for stamp in STAMPS:
            fast, model = _both(event, _outcome(scores, status), stamp=stamp)
            assert fast == model
            assert Prediction.model_validate_json(fast).event_id == event.event_id


@pytest.mark.parametrize("bad", [1.0000001, -0.1, float("nan"), float("inf")])
def test_a_score_out_of_range_is_refused_as_the_model_refuses_it(bad: float) -> None:
    scores: dict[str, float | None] = {"depression": bad, "hypomania": 0.1, "mania": 0.1}
    outcome = _outcome({**scores, "pat": None})
    with pytest.raises(ValidationError):
        prediction_json(make_event(seed=5), outcome, POSITION, 1.0, SETTINGS, TIMES[0])


def test_a_time_not_in_utc_and_a_bad_digest_are_refused() -> None:
    outcome = _outcome({"depression": 0.1, "hypomania": 0.1, "mania": 0.1, "pat": None})
    local = datetime(2026, 12, 5, 9, 0, tzinfo=timezone(timedelta(hours=1)))
    with pytest.raises(ValidationError):
        prediction_json(make_event(seed=6), outcome, POSITION, 1.0, SETTINGS, local)
    with pytest.raises(ValidationError):
        prediction_json(
            make_event(seed=6), outcome, POSITION, 1.0, SETTINGS, TIMES[0], ModelSetStamp("AB")
        )


def test_one_encoder_over_a_batch_gives_each_events_own_bytes() -> None:
    clock = FakeClock()
    ensemble, _ = build(clock)
    events = [make_event(seed=s, activity=s % 2 == 0) for s in range(6)]
    scoring = ensemble.score(events)
    source = SourcePosition(topic=POSITION[0], partition=POSITION[1], offset=POSITION[2])
    for stamp in STAMPS:
        encoder = PredictionEncoder(SETTINGS, TIMES[0], stamp)
        for rounds in range(2):  # the second round reads the cached model reports
            for index, event in enumerate(events):
                insufficient = (index + rounds) % 3 == 0
                outcome = outcome_for(
                    index, scoring.runs_for(index), ensemble.versions(), insufficient=insufficient
                )
                model = build_prediction(event, outcome, source, 2.5, SETTINGS, TIMES[0], stamp)
                fast = encoder.encode(event, outcome, POSITION, 2.5)
                assert fast == model.model_dump_json().encode()


def test_a_coverage_out_of_range_is_refused_as_the_model_refuses_it() -> None:
    outcome = _outcome({"depression": 0.1, "hypomania": 0.1, "mania": 0.1, "pat": None})
    event = make_event(seed=7, activity=True)
    unchecked = event.model_copy(update={"coverage": 1.5})  # as if built without validation
    with pytest.raises(ValidationError):
        prediction_json(unchecked, outcome, POSITION, 1.0, SETTINGS, TIMES[0])
    fast, model = _both(event.model_copy(update={"coverage": 0.25}), outcome)
    assert fast == model and b'"coverage":0.25' in fast


def test_batch_outcomes_equal_outcome_for_and_share_one_calls_reports() -> None:
    clock = FakeClock()
    ensemble, _ = build(clock)
    events = [make_event(seed=s, activity=s % 3 == 0, features=s % 6 != 0) for s in range(12)]
    scoring = ensemble.score(events)
    versions = ensemble.versions()
    for insufficient in (False, True):
        outcomes = BatchOutcomes(versions)
        for _ in range(2):  # the second pass reads the shapes already seen
            got = [
                outcomes.outcome(i, scoring.runs_for(i), insufficient) for i in range(len(events))
            ]
            want = [
                outcome_for(i, scoring.runs_for(i), versions, insufficient=insufficient)
                for i in range(len(events))
            ]
            assert got == want
        plain = [i for i, e in enumerate(events) if e.activity is None and e.features is not None]
        assert len({id(got[i].reports) for i in plain}) == 1  # one call: one shared dict


def test_spliced_values_and_a_topic_with_format_characters_give_the_models_bytes() -> None:
    clock = FakeClock()
    ensemble, _ = build(clock)
    events = [make_event(seed=s) for s in range(4)]
    scoring = ensemble.score(events)
    outcomes = BatchOutcomes(ensemble.versions())
    for stamp in STAMPS:
        encoder = PredictionEncoder(SETTINGS, TIMES[0], stamp)
        for topic in ("in.%b,%s", "plain"):
            for index, event in enumerate(events):
                outcome = outcomes.outcome(index, scoring.runs_for(index), False)
                position = (topic, index, 10**12 + index)
                source = SourcePosition(topic=topic, partition=index, offset=position[2])
                model = build_prediction(event, outcome, source, 0.5, SETTINGS, TIMES[0], stamp)
                fast = encoder.encode(event, outcome, position, 0.5)
                assert fast == model.model_dump_json().encode()

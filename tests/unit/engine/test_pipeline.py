"""The pipeline with fake messages, fake models and a fake clock: routing of every message."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import orjson
import pytest

from consumer.engine.batch_records import Polled
from consumer.engine.pipeline import Pipeline
from consumer.ensemble.scoring import Ensemble
from consumer.intake.ratelimit import KeyRateLimiter
from consumer.settings import EnsembleSettings, ProcessingSettings, Settings
from schemas import Prediction
from tests.fakes import (
    FakeClock,
    FakeMessage,
    FakeModel,
    InlineExecutor,
    ManualExecutor,
    booster_lanes,
    event_bytes,
    event_dict,
    make_lane,
)


def pipeline(
    clock: FakeClock, limiter: KeyRateLimiter | None = None, **processing: int
) -> Pipeline:
    settings = Settings(processing=ProcessingSettings.model_validate(processing))
    lanes = booster_lanes(clock)
    return Pipeline(Ensemble(lanes, None, settings.ensemble, clock), settings, clock, limiter)


def polled(values: Sequence[bytes | None], clock: FakeClock, partition: int = 0) -> list[Polled]:
    return [Polled(FakeMessage(v, i, partition), clock.monotonic()) for i, v in enumerate(values)]


def test_every_message_gets_outputs_in_input_order() -> None:
    clock = FakeClock()
    batch = polled([event_bytes(seed=1), b"{bad", event_bytes(seed=2)], clock)
    clock.advance(0.004)
    result = pipeline(clock).process(batch)
    assert [s.offset for s in result.sources] == [0, 1, 2]
    kinds = [[r.kind for r in s.records] for s in result.sources]
    assert kinds == [["prediction"], ["dead_letter"], ["prediction"]]
    prediction = orjson.loads(result.sources[0].records[0].value or b"")
    assert prediction["latency_ms"] == pytest.approx(4.0)
    assert prediction["source"] == {"topic": "mood.features.v1", "partition": 0, "offset": 0}
    assert result.sources[1].invalid_reason == "invalid_json"
    assert result.sources[0].records[0].key == b"user-1"  # keyed by user_id


def test_consecutive_invalid_events_stop_the_worker_with_a_clear_error() -> None:
    clock = FakeClock()
    stage = pipeline(clock, dlq_max_consecutive=3)
    result = stage.process(polled([b"x", b"y", event_bytes(), b"z", b"w"], clock))
    assert result.flood is None  # the good event in between resets the count
    result = stage.process(polled([b"v"], clock))
    assert result.flood is not None and result.flood.count == 3
    assert "upstream producer" in str(result.flood)
    assert all(len(s.records) == 1 for s in result.sources)  # still dead-lettered, not lost


def test_events_over_the_rate_limit_go_to_overflow_unscored() -> None:
    clock = FakeClock()
    stage = pipeline(clock, KeyRateLimiter(per_minute=2))
    same_user = [event_bytes(seed=0), event_bytes(seed=50), event_bytes(seed=100)]  # user-0 x3
    result = stage.process(polled(same_user, clock))
    kinds = [s.records[0].kind for s in result.sources]
    assert kinds == ["prediction", "prediction", "overflow"]
    overflow = result.sources[2].records[0]
    assert (
        overflow.value == same_user[2]
        and dict(overflow.headers or [])["overflow.reason"] == b"rate_limited"
    )


def test_rate_limiter_refills_over_time_and_is_bounded() -> None:
    limiter = KeyRateLimiter(per_minute=10, max_keys=2)
    assert all(limiter.allow("a", now=0.0) for _ in range(10))
    assert not limiter.allow("a", now=0.0)
    assert limiter.allow("a", now=6.0)  # one token back after 6 s
    limiter.allow("b", now=6.0)
    limiter.allow("c", now=6.0)  # evicts the least recently seen key ("a")
    assert all(limiter.allow("a", now=6.0) for _ in range(10))


def test_predictions_without_activity_do_not_wait_for_pat() -> None:
    clock = FakeClock()
    settings = Settings()
    pat_pool = ManualExecutor()
    lanes = booster_lanes(clock)
    pat = make_lane(FakeModel("pat", 0.7), pat_pool, 10.0, clock)
    ensemble = Ensemble(lanes, pat, settings.ensemble, clock)
    stage = Pipeline(ensemble, settings, clock)
    values = [event_bytes(seed=1), event_bytes(seed=2, activity=True), b"{bad"]
    started = stage.start(polled(values, clock))
    assert [s.offset for s in started.sources] == [0, 1, 2]
    ensemble.pump()  # the boosters answered (inline)
    first = stage.ready(started)
    assert first is not None
    assert sorted(s.offset for s in first.sources) == [0, 2]  # features-only event and the DLQ
    assert pat_pool.pending()  # published while PAT is still running
    assert stage.ready(started) is None and not started.complete
    pat_pool.run_all()
    ensemble.pump()
    second = stage.ready(started)
    assert second is not None
    [late] = second.sources
    prediction = orjson.loads(late.records[0].value or b"")
    assert late.offset == 1 and prediction["current_depression"] == 0.7
    assert started.complete and stage.ready(started) is None


# -- the contract: too few features, unknown fields, echoed ids, headers --------------------


def booster_pipeline(
    clock: FakeClock, pat: Any = None, **settings: Any
) -> tuple[Pipeline, list[FakeModel]]:
    config = Settings(**settings)
    models = [FakeModel(n) for n in ("depression", "hypomania", "mania")]
    lanes = [make_lane(m, InlineExecutor(), 5.0, clock) for m in models]
    return Pipeline(Ensemble(lanes, pat, config.ensemble, clock), config, clock), models


def with_present(count: int, **kwargs: Any) -> bytes:
    """An event whose first ``count`` features carry values and the rest are null."""
    raw = event_dict(**kwargs)
    raw["features"] = {
        name: (value if i < count else None)
        for i, (name, value) in enumerate(raw["features"].items())
    }
    return orjson.dumps(raw)


def prediction_of(result: Any, index: int = 0) -> dict[str, Any]:
    record = result.sources[index].records[0]
    assert record.kind == "prediction"
    return dict(orjson.loads(record.value or b""))


def test_all_null_features_are_insufficient_input_with_null_scores() -> None:
    clock = FakeClock()
    stage, models = booster_pipeline(clock)
    result = stage.process(polled([with_present(0), event_bytes(seed=1)], clock))
    prediction = prediction_of(result)
    assert prediction["next_day_risk"] == {"depression": None, "hypomania": None, "mania": None}
    assert prediction["ensemble_depression"] is None and prediction["partial"] is False
    statuses = {name: report["status"] for name, report in prediction["models"].items()}
    assert statuses == {
        "depression": "insufficient_input",
        "hypomania": "insufficient_input",
        "mania": "insufficient_input",
        "pat": "skipped",
    }
    assert prediction["models"]["depression"]["version"] == "depression-v1"
    assert result.sources[0].insufficient_input and not result.sources[1].insufficient_input
    assert all(model.calls == [1] for model in models)  # only the complete event was scored
    assert prediction_of(result, 1)["models"]["mania"]["status"] == "ok"


@pytest.mark.parametrize(("present", "status"), [(17, "insufficient_input"), (18, "ok")])
def test_the_minimum_of_present_features_is_inclusive(present: int, status: str) -> None:
    clock = FakeClock()
    stage, _ = booster_pipeline(clock, ensemble={"min_present_features": 18})
    prediction = prediction_of(stage.process(polled([with_present(present)], clock)))
    assert prediction["models"]["depression"]["status"] == status
    assert (prediction["next_day_risk"]["depression"] is None) == (status != "ok")


def test_with_too_few_features_the_ensemble_is_pat_alone() -> None:
    clock = FakeClock()
    pat = make_lane(FakeModel("pat", 0.7), InlineExecutor(), 10.0, clock)
    stage, _ = booster_pipeline(clock, pat)
    prediction = prediction_of(stage.process(polled([with_present(3, activity=True)], clock)))
    assert prediction["models"]["depression"]["status"] == "insufficient_input"
    assert prediction["current_depression"] == prediction["ensemble_depression"] == 0.7
    assert prediction["partial"] is False


def test_unknown_field_is_ignored_by_default_and_dead_lettered_when_strict() -> None:
    clock = FakeClock()
    value = orjson.dumps(event_dict(device_model="ring-2"))
    tolerant, _ = booster_pipeline(clock)
    [source] = tolerant.process(polled([value], clock)).sources
    assert [r.kind for r in source.records] == ["prediction"]
    assert source.ignored_fields == ("device_model",)
    strict, _ = booster_pipeline(clock, processing={"strict_fields": True})
    [source] = strict.process(polled([value], clock)).sources
    assert [r.kind for r in source.records] == ["dead_letter"]
    assert source.invalid_reason == "unknown_field"


def test_predictions_echo_ids_and_carry_their_time_and_headers() -> None:
    clock = FakeClock()
    upper = "3F2504E0-4F89-11D3-9A0C-0305E82C3301"
    stage, _ = booster_pipeline(clock)
    [source] = stage.process(polled([event_bytes(event_id=upper, user_id="User.A")], clock)).sources
    record = source.records[0]
    prediction = orjson.loads(record.value or b"")
    assert prediction["event_id"] == upper and prediction["user_id"] == "User.A"
    assert prediction["predicted_at"] == "2026-11-27T10:00:00Z"
    assert Prediction.model_validate_json(record.value or b"").event_id == upper
    assert dict(record.headers or []) == {
        "content-type": b"application/json",
        "moodstream.kind": b"prediction",
        "moodstream.schema_version": b"1",
        "moodstream.event_id": upper.encode(),
    }


def test_alert_records_carry_headers_with_their_kind() -> None:
    clock = FakeClock()
    settings = Settings()
    lanes = [
        make_lane(FakeModel(n, fail=n == "mania"), InlineExecutor(), 5.0, clock)
        for n in ("depression", "hypomania", "mania")
    ]
    stage = Pipeline(Ensemble(lanes, None, settings.ensemble, clock), settings, clock)
    [source] = stage.process(polled([event_bytes(seed=3)], clock)).sources
    [alert] = [r for r in source.records if r.kind == "alert"]
    headers = dict(alert.headers or [])
    assert headers["moodstream.kind"] == b"alert"
    assert headers["moodstream.alert_kind"] == b"model_failure"
    assert headers["content-type"] == b"application/json"
    assert headers["moodstream.event_id"] == str(uuid.UUID(int=4)).encode()


def test_overload_policy_skips_pat_for_old_events_with_a_reason_and_an_alert() -> None:
    clock = FakeClock()  # now: 2026-11-27T10:00:00Z; the events were emitted at 09:59:00Z
    settings = Settings(ensemble=EnsembleSettings(pat_max_event_age_s=30.0))
    lanes = booster_lanes(clock)
    pat = make_lane(FakeModel("pat", 0.7), InlineExecutor(), 10.0, clock)
    stage = Pipeline(Ensemble(lanes, pat, settings.ensemble, clock), settings, clock)
    [source] = stage.process(polled([event_bytes(seed=1, activity=True)], clock)).sources
    prediction = orjson.loads(source.records[0].value or b"")
    assert prediction["models"]["pat"]["status"] == "skipped"
    assert prediction["models"]["pat"]["reason"] == "max_event_age"
    assert prediction["current_depression"] is None and prediction["partial"] is True
    assert prediction["models"]["depression"]["status"] == "ok"  # the boosters still score it
    alerts = [orjson.loads(r.value or b"") for r in source.records if r.kind == "alert"]
    assert [(a["kind"], a["model"]) for a in alerts] == [("model_skipped", "pat")]
    fresh = Settings(ensemble=EnsembleSettings(pat_max_event_age_s=120.0))
    stage = Pipeline(Ensemble(lanes, pat, fresh.ensemble, clock), fresh, clock)
    [source] = stage.process(polled([event_bytes(seed=2, activity=True)], clock)).sources
    assert orjson.loads(source.records[0].value or b"")["models"]["pat"]["status"] == "ok"


def test_revoked_partitions_events_are_given_up_and_never_sent_to_pat() -> None:
    clock = FakeClock()
    settings = Settings()
    pat_pool = ManualExecutor()
    lanes = booster_lanes(clock)
    # PAT admits one call of one row at a time (1.5 s per row, 2 s budget): the rest waits
    pat = make_lane(FakeModel("pat", 0.7), pat_pool, 4.0, clock, seconds_per_row=1.5, chunk_rows=1)
    ensemble = Ensemble(lanes, pat, settings.ensemble, clock)
    stage = Pipeline(ensemble, settings, clock)
    batch = polled([event_bytes(seed=1, activity=True)], clock, partition=0)
    batch += polled([event_bytes(seed=2, activity=True)] * 2, clock, partition=1)
    started = stage.start(batch)
    ensemble.pump()
    assert stage.ready(started) is None and started.open_events == 3
    assert stage.abandon(started, {("mood.features.v1", 1)}) == 2
    assert started.open_events == 1 and not started.complete
    pat_pool.run_all()
    ensemble.pump()
    part = stage.ready(started)
    assert part is not None and [s.tp[1] for s in part.sources] == [0]
    assert started.complete and len(pat_pool.calls) == 1  # the given-up rows never ran


def test_one_pass_over_several_model_calls_gives_each_event_its_own_prediction() -> None:
    """Events answered by different runs (two booster calls, PAT or not, too few features)
    form groups encoded together: each prediction equals the event-by-event encoding, and
    the slow one carries its alert."""
    from consumer.ensemble.outputs import BatchOutcomes
    from consumer.ensemble.prediction_json import PredictionEncoder
    from consumer.intake import fast_path

    clock = FakeClock()
    settings = Settings()
    lanes = [
        make_lane(FakeModel(n, s), InlineExecutor(), 5.0, clock, chunk_rows=3)
        for n, s in (("depression", 0.2), ("hypomania", 0.1), ("mania", 0.05))
    ]
    pat = make_lane(FakeModel("pat", 0.7), InlineExecutor(), 10.0, clock)
    ensemble = Ensemble(lanes, pat, settings.ensemble, clock)
    stage = Pipeline(ensemble, settings, clock)
    values = [
        event_bytes(seed=s, activity=s % 3 == 0) if s != 4 else with_present(2, seed=s)
        for s in range(8)
    ]
    batch = polled(values, clock)
    slow = Polled(batch[5].message, clock.monotonic() - 2 * settings.ensemble.slow_budget_s)
    batch[5] = slow
    clock.advance(0.002)
    result = stage.process(batch)
    encoder = PredictionEncoder(settings.ensemble, clock.now(), ensemble.stamp)
    outcomes = BatchOutcomes(ensemble.versions())
    scoring = ensemble.submit(
        [e for v in values if (e := fast_path.accepted(v))], settings.ensemble.min_present_features
    )
    ensemble.pump()
    for index, source in enumerate(result.sources):
        event = fast_path.accepted(values[index])
        assert event is not None
        latency_ms = (clock.monotonic() - batch[index].polled_at) * 1000.0
        outcome = outcomes.outcome(index, scoring.runs_for(index), index == 4)
        want = encoder.encode(event, outcome, ("mood.features.v1", 0, index), latency_ms)
        assert source.records[0].value == want
        kinds = [record.kind for record in source.records]
        assert kinds == (["prediction", "alert"] if index == 5 else ["prediction"])
    assert result.sources[4].insufficient_input and not result.sources[3].insufficient_input


def test_a_batchs_notable_sources_are_each_there_once_and_the_plain_ones_not() -> None:
    """What the batch's metrics visit: dead letters, overflow copies, too few features and
    unknown fields, each source once (an overflowed one with an unknown field too)."""
    clock = FakeClock()
    stage, _ = booster_pipeline(clock)
    stage._rate_limiter = KeyRateLimiter(per_minute=1)
    values = [
        event_bytes(seed=1),  # plain
        b"{bad",  # a dead letter
        with_present(2, seed=2),  # too few features
        orjson.dumps(event_dict(seed=3, device_model="ring-2")),  # an unknown field
        orjson.dumps(event_dict(seed=53, device_model="ring-2")),  # user-3 again: overflow
    ]
    started = stage.start(polled(values, clock))
    assert sorted(s.offset for s in started.notable) == [1, 2, 3, 4]


def test_a_slow_group_is_encoded_together_and_each_slow_event_gets_its_alert() -> None:
    """A backlog on a loaded machine makes whole model calls' events slow: their predictions
    still go through the group encoding (equal to the event-by-event one) and each gets
    the alert the event-by-event way builds (slow_prediction with its reason), in order."""
    from consumer.engine.slow_reasons import slow_reason
    from consumer.ensemble.outputs import BatchOutcomes, build_alerts
    from consumer.ensemble.prediction_json import PredictionEncoder
    from consumer.intake import fast_path

    clock = FakeClock()
    settings = Settings()
    ensemble = Ensemble(booster_lanes(clock), None, settings.ensemble, clock)
    stage = Pipeline(ensemble, settings, clock)
    values = [event_bytes(seed=s) for s in range(6)]
    batch = polled(values, clock)
    batch[2:4] = [  # two of them polled longer ago: slower still
        Polled(item.message, clock.monotonic() - 0.5) for item in batch[2:4]
    ]
    clock.advance(2 * settings.ensemble.slow_budget_s)
    result = stage.process(batch)
    encoder = PredictionEncoder(settings.ensemble, clock.now(), ensemble.stamp)
    events = [e for v in values if (e := fast_path.accepted(v))]
    scoring = ensemble.submit(events, settings.ensemble.min_present_features)
    ensemble.pump()
    outcomes = BatchOutcomes(ensemble.versions())
    for index, source in enumerate(result.sources):
        latency_ms = (clock.monotonic() - batch[index].polled_at) * 1000.0
        runs = scoring.runs_for(index)
        outcome = outcomes.outcome(index, runs, False)
        want = encoder.encode(events[index], outcome, ("mood.features.v1", 0, index), latency_ms)
        reason = slow_reason(latency_ms, runs.values(), 0.0)
        [alert] = build_alerts(
            events[index], outcome, latency_ms, settings.ensemble, encoder.at, reason
        )
        prediction, alert_record = source.records
        assert prediction.kind == "prediction" and prediction.value == want
        assert alert_record.kind == "alert" and alert_record.label == "slow_prediction"
        assert alert_record.value == alert.model_dump_json().encode()
        assert alert_record.key == prediction.key == events[index].user_id.encode()

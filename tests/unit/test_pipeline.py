"""The pipeline with fake messages, fake models and a fake clock: routing of every message."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

import orjson
import pytest

from consumer.ensemble import Ensemble, ModelLane
from consumer.pipeline import Pipeline, Polled
from consumer.ratelimit import KeyRateLimiter
from consumer.settings import ProcessingSettings, Settings
from tests.fakes import FakeClock, FakeMessage, FakeModel, InlineExecutor, event_bytes


def pipeline(
    clock: FakeClock, limiter: KeyRateLimiter | None = None, **processing: int
) -> Pipeline:
    settings = Settings(processing=ProcessingSettings(**processing))
    lanes = [
        ModelLane(FakeModel(n), InlineExecutor(), 5.0, clock)  # type: ignore[arg-type]
        for n in ("depression", "hypomania", "mania")
    ]
    return Pipeline(Ensemble(lanes, None, settings.ensemble, clock), settings, clock, limiter)


def polled(values: list[bytes | None], clock: FakeClock, partition: int = 0) -> list[Polled]:
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


class ManualExecutor:
    """Hands out futures the test completes by hand."""

    def __init__(self) -> None:
        self.calls: list[tuple[Future[Any], Any, tuple[Any, ...]]] = []

    def submit(self, fn: Any, *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self.calls.append((future, fn, args))
        return future

    def run_all(self) -> None:
        for future, fn, args in self.calls:
            future.set_result(fn(*args))


def test_predictions_without_activity_do_not_wait_for_pat() -> None:
    clock = FakeClock()
    settings = Settings()
    pat_pool = ManualExecutor()
    lanes = [
        ModelLane(FakeModel(n), InlineExecutor(), 5.0, clock)  # type: ignore[arg-type]
        for n in ("depression", "hypomania", "mania")
    ]
    pat = ModelLane(FakeModel("pat", 0.7), pat_pool, 10.0, clock)  # type: ignore[arg-type]
    stage = Pipeline(Ensemble(lanes, pat, settings.ensemble, clock), settings, clock)
    values = [event_bytes(seed=1), event_bytes(seed=2, activity=True), b"{bad"]
    started = stage.start(polled(values, clock))
    assert [s.offset for s in started.sources] == [0, 1, 2]
    first = next(started.parts)
    assert [s.offset for s in first.sources] == [0, 2]  # the features-only event and the DLQ
    assert not pat_pool.calls[0][0].done()  # published while PAT is still running
    pat_pool.run_all()
    second = next(started.parts)
    [late] = second.sources
    prediction = orjson.loads(late.records[0].value or b"")
    assert late.offset == 1 and prediction["current_depression"] == 0.7
    assert next(started.parts, None) is None

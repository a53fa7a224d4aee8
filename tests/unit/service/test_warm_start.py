"""The start-up gate and the slow-prediction reason, with fakes and a fake clock: the
group's settled state, the runner holding its partitions paused until then, why a slow
prediction was slow, the warm-up's shapes, and the demo's alert and first-prediction
summary. No broker, no threads, no sleeps."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from confluent_kafka import TopicPartition

from consumer.demo.view import DemoTally
from consumer.engine.pipeline import Pipeline
from consumer.engine.runner import Runner
from consumer.engine.slow_reasons import GroupWaits, slow_reason
from consumer.ensemble.scoring import Ensemble, ModelRun
from consumer.kafka.group_settle import GroupSettle, group_covers
from consumer.models.registry import ModelSet
from consumer.service.warmup import WarmShapes, warm_up
from consumer.settings import Settings
from schemas import ModelStatus, SlowReason
from tests.fakes import FakeClock, FakeModel, InlineExecutor
from tests.fakes.kafka import FakeConsumer, FakeHealth, FakePublisher


def _tps(*partitions: int, topic: str = "in") -> list[TopicPartition]:
    return [TopicPartition(topic, p) for p in partitions]


def test_a_group_is_settled_when_stable_and_every_partition_is_owned() -> None:
    assert group_covers("STABLE", [_tps(0, 1), _tps(2)], "in", 3)
    assert not group_covers("STABLE", [_tps(0, 1), []], "in", 3)  # 2 revoked, not handed over
    assert not group_covers("PREPARING_REBALANCE", [_tps(0, 1), _tps(2)], "in", 3)
    assert not group_covers("STABLE", [_tps(0, 1), _tps(2, topic="other")], "in", 3)


@dataclass
class _Member:
    assignment: Any


@dataclass
class _Assignment:
    topic_partitions: list[TopicPartition]


@dataclass
class _Description:
    state: str
    members: list[_Member]


@dataclass
class _Describer:
    """Answers each describe with the next description; the test completes it."""

    futures: list[Future[Any]] = field(default_factory=list)

    def __call__(self, group: str) -> Future[Any]:
        self.futures.append(Future())
        return self.futures[-1]


def _describe(state: str, *owned: list[TopicPartition]) -> _Description:
    return _Description(state, [_Member(_Assignment(tps)) for tps in owned])


def test_the_group_check_asks_until_settled_then_stops() -> None:
    ask = _Describer()
    settle = GroupSettle(ask, "g", "in", 2, started_at=0.0, max_wait_s=30.0)
    assert not settle.check(0.0) and len(ask.futures) == 1
    assert not settle.check(0.1) and len(ask.futures) == 1  # one request in flight at a time
    ask.futures[0].set_result(_describe("STABLE", _tps(0), []))  # 1 not handed over yet
    assert not settle.check(0.3) and len(ask.futures) == 2
    ask.futures[1].set_exception(RuntimeError("coordinator moved"))  # asked again
    assert not settle.check(0.6) and len(ask.futures) == 3
    ask.futures[2].set_result(_describe("STABLE", _tps(0), _tps(1)))
    assert settle.check(0.9)
    assert settle.check(5.0) and len(ask.futures) == 3  # settled once: no more requests


def test_the_group_check_gives_up_after_its_bound() -> None:
    ask = _Describer()
    settle = GroupSettle(ask, "g", "in", 2, started_at=0.0, max_wait_s=20.0)
    assert not settle.check(19.9)
    assert settle.check(20.0)  # a neighbour that never settles does not keep us unready


def _gated_runner(ask: _Describer) -> tuple[Runner, FakeConsumer, FakeHealth, FakeClock]:
    clock = FakeClock()
    settings = Settings()
    consumer, publisher, health = FakeConsumer(), FakePublisher(), FakeHealth()
    ensemble = Ensemble([], None, settings.ensemble, clock)
    settle = GroupSettle(ask, "g", "in", 2, clock.monotonic(), 30.0)
    loop = Runner(
        consumer,
        publisher,
        Pipeline(ensemble, settings, clock),
        ensemble,
        settings,
        clock,
        health=health,
        settle=settle,
    )
    return loop, consumer, health, clock


def test_partitions_stay_paused_and_the_worker_unready_until_the_group_settles() -> None:
    ask = _Describer()
    loop, consumer, health, clock = _gated_runner(ask)
    loop._periodic(clock.monotonic())
    assert health.reports[-1] == (False, None)  # not joined yet
    loop.membership.on_assign(None, _tps(0, 1))
    assert consumer.calls == [("pause", [0, 1])]  # nothing is fetched before the gate opens
    loop._check_settled(clock.monotonic())
    clock.advance(1.0)
    loop._periodic(clock.monotonic())
    assert health.reports[-1:] == [(False, True)] and not loop.settled
    ask.futures[0].set_result(_describe("STABLE", _tps(0, 1)))
    loop._check_settled(clock.monotonic())
    assert loop.settled and consumer.calls[-1] == ("resume", [0, 1])
    loop._periodic(clock.monotonic())  # at once, not at the next heartbeat
    assert health.reports[-1] == (True, True)


def test_rebalance_callbacks_count_as_time_waited_for_the_group() -> None:
    ask = _Describer()
    loop, _, _, _ = _gated_runner(ask)
    waits = loop._group_waits
    loop.membership.on_assign(None, _tps(0))
    assert waits.overlap_s(0.0, 2_000.0) == 0.0  # the fake clock did not move in it
    waits.record(10.0, 12.0)
    assert waits.overlap_s(11.0, 20.0) == 1.0
    assert waits.overlap_s(0.0, 5.0) == 0.0


def _run(name: str, latency_ms: float) -> ModelRun:
    return ModelRun(name, ModelStatus.OK, "v1", latency_ms, (0,), None, 1000.0)


def test_the_slow_reason_names_where_most_of_the_time_went() -> None:
    boosters = [_run("depression", 20.0)]
    pat = [*boosters, _run("pat", 40.0)]
    assert slow_reason(1500.0, pat, group_wait_ms=1200.0) is SlowReason.WAITED_FOR_GROUP
    assert slow_reason(1500.0, pat, group_wait_ms=0.0) is SlowReason.WAITED_FOR_PAT
    assert slow_reason(1500.0, boosters, group_wait_ms=0.0) is SlowReason.WAITED_IN_WORKER
    assert slow_reason(1500.0, [_run("pat", 1400.0)], 0.0) is SlowReason.RAN_SLOWLY


class _Warmable(FakeModel):
    def warmup(self, rows: int = 1) -> None:
        self.predict_batch(np.zeros((rows, 1), np.float32))


def test_warm_up_calls_every_model_at_its_shapes_on_its_pool() -> None:
    boosters = (_Warmable("depression"), _Warmable("mania"))
    pat = _Warmable("pat")
    models = ModelSet(boosters=boosters, pat=pat, infos=())  # type: ignore[arg-type]
    booster_pool, pat_pool = InlineExecutor(), InlineExecutor()
    per_row_s = warm_up(
        models,
        booster_pool,
        pat_pool,
        WarmShapes(256, 4),
        FakeClock(),
    )
    assert [b.calls for b in boosters] == [[1, 256], [1, 256]]
    assert pat.calls == [4, 4]  # once for lazy set-up, once timed
    assert per_row_s == 1e-6  # the fake clock does not move: the floor
    assert (booster_pool.submitted, pat_pool.submitted) == (4, 2)


def test_the_demo_summary_lists_alerts_by_kind_and_the_first_prediction() -> None:
    tally = DemoTally(2, 0.0)
    assert tally.alerts_by_kind() == "0" and tally.first_prediction_after_ms() is None
    tally.produced("a", 1_000)
    tally.produced("b", 1_010)
    tally.prediction(b'{"event_id": "a", "partial": false}', 1_090)
    tally.alert(b'{"kind": "slow_prediction"}')
    tally.alert(b'{"kind": "model_timeout"}')
    tally.alert(b'{"kind": "slow_prediction"}')
    assert tally.alerts_by_kind() == "3 (slow_prediction 2, model_timeout 1)"
    assert tally.first_prediction_after_ms() == 90


def test_time_waited_overlapping_an_event_is_clipped_to_its_life() -> None:
    waits = GroupWaits()
    waits.record(1.0, 3.0)
    waits.record(5.0, 4.0)  # not an interval: ignored
    assert waits.overlap_s(2.0, 10.0) == 1.0

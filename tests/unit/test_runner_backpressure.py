"""Backpressure decisions of the poll loop with a fake consumer (no broker, no threads)."""

from __future__ import annotations

import pytest
from confluent_kafka import TopicPartition

from consumer.runner import Runner, resume_below
from consumer.settings import ProcessingSettings, Settings
from tests.fakes import FakeClock


@pytest.mark.parametrize(("bound", "resume"), [(1, 1), (2, 1), (3, 1), (4, 2), (2048, 1024)])
def test_every_allowed_bound_resumes(bound: int, resume: int) -> None:
    assert resume_below(bound) == resume
    assert 0 < resume_below(bound) <= bound  # in-flight 0 always resumes; pause needs >= bound


class PauseRecorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[int]]] = []

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.calls.append(("pause", [tp.partition for tp in partitions]))

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.calls.append(("resume", [tp.partition for tp in partitions]))

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        return []


class Inflight:
    def __init__(self) -> None:
        self.count = 0

    def inflight(self) -> int:
        return self.count


def runner(bound: int) -> tuple[Runner, PauseRecorder, Inflight]:
    consumer, publisher = PauseRecorder(), Inflight()
    settings = Settings(processing=ProcessingSettings(max_inflight_events=bound))
    loop = Runner(consumer, publisher, None, settings, FakeClock())  # type: ignore[arg-type]
    return loop, consumer, publisher


def assign(loop: Runner, *partitions: int) -> None:
    tps = [TopicPartition("in", p) for p in partitions]
    loop._on_assign(None, tps)  # type: ignore[arg-type]


def test_bound_one_pauses_at_one_and_resumes_at_zero() -> None:
    loop, consumer, publisher = runner(bound=1)
    assign(loop, 0)
    publisher.count = 1
    loop._apply_backpressure()
    publisher.count = 0
    loop._apply_backpressure()
    assert consumer.calls[-2:] == [("pause", [0]), ("resume", [0])]


def test_assigned_partitions_take_the_loops_state() -> None:
    """A partition paused by an earlier owner-ship stays paused in librdkafka: an assignment
    while the loop runs freely resumes it; one while the loop is paused pauses it."""
    loop, consumer, publisher = runner(bound=4)
    assign(loop, 0, 1)
    assert consumer.calls == [("resume", [0, 1])]
    publisher.count = 4
    loop._apply_backpressure()
    assign(loop, 2)
    assert consumer.calls[-2:] == [("pause", [0, 1]), ("pause", [2])]

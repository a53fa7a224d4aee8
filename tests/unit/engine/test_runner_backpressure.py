"""Backpressure decisions of the poll loop with a fake consumer (no broker, no threads)."""

from __future__ import annotations

import numpy as np
import pytest
from confluent_kafka import TopicPartition

from consumer.engine.backpressure import Backpressure, Change, resume_below
from consumer.engine.pipeline import Pipeline
from consumer.engine.runner import Runner
from consumer.ensemble.scoring import Ensemble
from consumer.settings import KafkaSettings, ProcessingSettings, Settings
from schemas import ACTIVITY_MINUTES
from tests.fakes import FakeClock, FakeModel, ManualExecutor, make_lane
from tests.fakes.kafka import FakeConsumer, FakePublisher


@pytest.mark.parametrize(("bound", "resume"), [(1, 1), (2, 1), (3, 1), (4, 2), (2048, 1024)])
def test_every_allowed_bound_resumes(bound: int, resume: int) -> None:
    assert resume_below(bound) == resume
    assert 0 < resume_below(bound) <= bound  # in-flight 0 always resumes; pause needs >= bound


@pytest.mark.parametrize(
    ("bound", "batch", "resume"),
    [(4096, 2048, 2049), (8192, 2048, 6145), (100, 2048, 50), (1, 2048, 1), (2048, 2048, 1024)],
)
def test_a_hold_ends_once_a_whole_batch_fits_or_below_half(
    bound: int, batch: int, resume: int
) -> None:
    """Two batches in flight (4,096 of 2,048): the next batch is taken as soon as the
    first is out, so the boosters always have one queued (waiting for half starved them)."""
    assert resume_below(bound, batch) == resume
    assert resume_below(bound, batch) >= resume_below(bound)


def test_with_two_batches_in_flight_the_third_is_taken_when_the_first_is_out() -> None:
    state = Backpressure.of(ProcessingSettings(max_inflight_events=4096, max_batch_size=2048))
    assert state.update(4096, 0, now=0.0) == (Change.HOLD, 0.0)  # two batches in flight
    assert state.update(2049, 0, now=0.1) == (Change.NONE, 0.0)  # the first not all out
    change, lasted_s = state.update(2048, 0, now=0.2)
    assert change is Change.RELEASE and lasted_s == pytest.approx(0.2)


def test_either_bound_pauses_and_both_must_be_below_half_to_resume() -> None:
    state = Backpressure(max_inflight=100, max_pat_pending=8)
    assert state.update(99, 7, now=0.0) == (Change.NONE, 0.0)
    assert state.update(10, 8, now=1.0) == (Change.PAUSE, 0.0)
    assert state.paused_for == "pat_pending"
    assert state.update(10, 4, now=2.0) == (Change.NONE, 0.0)  # 4 is not below half of 8
    assert state.update(60, 3, now=3.0) == (Change.NONE, 0.0)  # in flight not below half
    assert state.update(49, 3, now=4.5) == (Change.RESUME, 3.5)  # paused for 3.5 s
    assert state.update(100, 0, now=5.0) == (Change.PAUSE, 0.0)
    assert state.paused_for == "inflight"


def runner(
    bound: int,
    pat_bound: int = 512,
    pat_pool: ManualExecutor | None = None,
    pause_after_s: float = 0.0,  # 0: pause at once (the hold is tested on its own)
    clock: FakeClock | None = None,
    consumer: FakeConsumer | None = None,
    publisher: FakePublisher | None = None,
) -> tuple[Runner, FakeConsumer, FakePublisher]:
    consumer, publisher = consumer or FakeConsumer(), publisher or FakePublisher()
    processing = ProcessingSettings(
        max_inflight_events=bound,
        max_pending_activity_events=pat_bound,
        pause_after_s=pause_after_s,
    )
    settings = Settings(processing=processing)
    clock = clock or FakeClock()
    pat = make_lane(
        FakeModel("pat"),
        pat_pool or ManualExecutor(),
        10.0,
        clock,
        seconds_per_row=1.0,
        chunk_rows=2,
    )
    ensemble = Ensemble([], pat, settings.ensemble, clock)
    pipeline = Pipeline(ensemble, settings, clock)
    loop = Runner(consumer, publisher, pipeline, ensemble, settings, clock)
    return loop, consumer, publisher


def assign(loop: Runner, *partitions: int) -> None:
    tps = [TopicPartition("in", p) for p in partitions]
    loop.membership.on_assign(None, tps)


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


def test_activity_waiting_for_pat_pauses_until_the_lane_drains() -> None:
    """PAT holds 5 s of work at most (1 s per row, deadline 10 s x 0.5): the rest of 8
    activity rows wait in front of the lane; at the pending bound the loop pauses, and it
    resumes once PAT has answered enough of them."""
    pool = ManualExecutor()
    loop, consumer, _ = runner(bound=2048, pat_bound=8, pat_pool=pool)
    assign(loop, 0)
    pat = loop._ensemble.pat
    assert pat is not None
    pat.enqueue(tuple(range(8)), np.zeros((8, ACTIVITY_MINUTES), np.float32), None)
    loop._ensemble.pump()
    assert pat.admission.held_rows == 4 and pat.waiting_rows() == 4  # 2 calls of 2 rows
    loop._apply_backpressure()
    assert consumer.calls[-1] == ("pause", [0])
    pool.run_next()
    loop._ensemble.pump()  # 2 answered, 2 more admitted: 6 pending, above half of 8
    loop._apply_backpressure()
    assert consumer.calls[-1] == ("pause", [0])
    pool.run_next()
    pool.run_next()
    loop._ensemble.pump()  # 2 pending
    loop._apply_backpressure()
    assert consumer.calls[-1] == ("resume", [0])


# -- hold before pause: lasting back-pressure only pauses (issue 25) -----------------------


def test_at_a_bound_the_input_is_held_and_only_lasting_back_pressure_pauses() -> None:
    state = Backpressure(max_inflight=100, max_pat_pending=8, pause_after_s=5.0)
    assert state.update(100, 0, now=0.0) == (Change.HOLD, 0.0)
    assert state.holding and not state.paused and state.held_for == "inflight"
    assert state.update(60, 0, now=4.9) == (Change.NONE, 0.0)  # not below half yet
    assert state.update(49, 0, now=4.95) == (Change.RELEASE, 4.95)  # fetched data kept
    assert not state.holding and not state.paused
    assert state.update(10, 8, now=10.0) == (Change.HOLD, 0.0)
    assert state.update(10, 7, now=14.9) == (Change.NONE, 0.0)
    assert state.update(10, 7, now=15.0) == (Change.PAUSE, 0.0)  # held 5 s: pause
    assert state.paused and not state.holding and state.paused_for == "pat_pending"
    assert state.update(10, 4, now=16.0) == (Change.NONE, 0.0)  # 4 is not below half of 8
    assert state.update(10, 3, now=17.0) == (Change.RESUME, 7.0)  # held 5 s + paused 2 s


def test_a_held_loop_takes_no_message_pauses_after_the_hold_and_then_polls_again() -> None:
    """The hold pauses nothing (librdkafka keeps what it fetched) and takes no message: it
    waits for the acks instead (no busy loop). After ``pause_after_s`` of it the partitions
    are paused, and the loop polls again (group callbacks, ``max.poll.interval.ms``)."""
    clock = FakeClock()
    consumer, publisher = FakeConsumer(), FakePublisher()
    loop, _, _ = runner(4, pause_after_s=5.0, clock=clock, consumer=consumer, publisher=publisher)
    assign(loop, 0)
    publisher.count = 4
    loop._apply_backpressure()
    assert loop._flow.backpressure.holding and consumer.calls == [("resume", [0])]
    loop._step()
    assert consumer.consumed == 0 and publisher.waits == [0.1]  # blocked on acks, no fetch
    clock.advance(5.0)
    loop._apply_backpressure()
    assert consumer.calls[-1] == ("pause", [0]) and loop._flow.backpressure.paused
    assert not loop._flow.backpressure.holding  # paused: the loop polls again
    loop._step()
    assert consumer.consumed == 1  # serves callbacks; paused partitions give nothing
    publisher.count = 1
    loop._apply_backpressure()
    assert consumer.calls[-1] == ("resume", [0])


def test_a_hold_ends_without_any_pause_or_resume_call() -> None:
    clock = FakeClock()
    loop, consumer, publisher = runner(bound=4, pause_after_s=5.0, clock=clock)
    assign(loop, 0)
    publisher.count = 4
    loop._apply_backpressure()
    clock.advance(1.0)
    publisher.count = 1
    loop._apply_backpressure()
    assert consumer.calls == [("resume", [0])]  # the assignment's only
    assert not loop._flow.backpressure.holding


def test_a_hold_longer_than_half_the_poll_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="PAUSE_AFTER_S"):
        Settings(
            kafka=KafkaSettings(max_poll_interval_ms=10_000),
            processing=ProcessingSettings(pause_after_s=6.0),
        )

"""The ledger of a lane's calls (``CallLedger``) on a hand-run pool and a fake clock: what
the pool's side writes (a call's start, the done count) and what the loop reads. No
threads: the fake pool runs a call when the test says so."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from consumer.ensemble.lane_calls import Answer, Call, CallLedger
from consumer.ensemble.lane_queue import Segment
from consumer.ensemble.model_runs import InputArray, LaneRequest
from tests.fakes import FakeClock, ManualExecutor

Run = Callable[[InputArray, Call], Answer]


def call(rows: tuple[int, ...], clock: FakeClock, deadline_s: float = 2.0) -> Call:
    inputs = np.zeros((len(rows), 2), dtype=np.float32)
    request = LaneRequest(rows, inputs, clock.monotonic())
    return Call((Segment(request, tuple(range(len(rows)))),), clock.monotonic(), deadline_s)


def timed(clock: FakeClock, seconds: float) -> Run:
    """A model call as the lane's pool runs it: marks its start, takes ``seconds``."""

    def run(inputs: InputArray, c: Call) -> Answer:
        c.start(clock.monotonic())
        clock.advance(seconds)
        return np.zeros(len(inputs)), seconds * 1000.0

    return run


def test_a_finished_call_is_counted_then_collected_once() -> None:
    clock, pool, ledger = FakeClock(), ManualExecutor(), CallLedger()
    start = clock.monotonic()
    first, second = call((0,), clock), call((1, 2), clock)
    ledger.submit(pool, timed(clock, 0.1), first, clock.monotonic())
    ledger.submit(pool, timed(clock, 0.1), second, clock.monotonic())
    assert first.row_count == 1 and second.row_count == 2
    assert not ledger.answers_waiting()
    assert ledger.futures(clock.monotonic()) == [first.future]  # the second waits behind it
    pool.run_next()
    assert ledger.answers_waiting() and first.started == start  # written by the pool's side
    assert ledger.collect(clock.monotonic()) == [(first, True)]
    assert not ledger.answers_waiting()
    assert ledger.futures(clock.monotonic()) == [second.future]
    assert ledger.collect(clock.monotonic()) == []


def test_a_running_call_past_its_deadline_is_reported_once_and_makes_the_lane_stuck() -> None:
    clock, pool, ledger = FakeClock(), ManualExecutor(), CallLedger()
    slow = call((0,), clock, deadline_s=2.0)
    ledger.submit(pool, timed(clock, 5.0), slow, clock.monotonic())
    assert ledger.running_ends(clock.monotonic()) == []  # queued: its deadline has not begun
    clock.advance(10.0)  # time in the pool's queue is not the model's fault
    pool.start_next()
    seen = clock.monotonic()
    assert ledger.running_ends(seen) == [seen + 2.0]  # its deadline counts from here
    clock.advance(1.9)
    assert not ledger.stuck(clock.monotonic()) and ledger.collect(clock.monotonic()) == []
    clock.advance(0.1)
    assert ledger.stuck(clock.monotonic())
    assert ledger.collect(clock.monotonic()) == [(slow, False)] and slow.reported
    assert ledger.collect(clock.monotonic()) == []  # reported once
    assert ledger.futures(clock.monotonic()) == [] and ledger.running_ends(clock.monotonic()) == []
    assert slow.ran_ms(clock.monotonic()) == 2000.0
    pool.finish_started()  # the late answer still comes, and is collected
    assert ledger.collect(clock.monotonic()) == [(slow, True)]
    assert not ledger.stuck(clock.monotonic())


def test_queued_calls_are_cancelled_and_counted_as_answered() -> None:
    clock, pool, ledger = FakeClock(), ManualExecutor(), CallLedger()
    running, queued = call((0,), clock), call((1,), clock)
    ledger.submit(pool, timed(clock, 1.0), running, clock.monotonic())
    ledger.submit(pool, timed(clock, 1.0), queued, clock.monotonic())
    pool.start_next()
    assert ledger.cancel_queued(clock.monotonic()) == [queued]  # the running one stays
    assert queued.future is not None and queued.future.cancelled()
    assert ledger.answers_waiting() is False  # cancelled and collected at once
    assert ledger.futures(clock.monotonic()) == [running.future]


def test_the_loop_looks_only_up_to_the_first_queued_call() -> None:
    clock, pool, ledger = FakeClock(), ManualExecutor(), CallLedger()
    calls = [call((i,), clock) for i in range(5)]
    for c in calls:
        ledger.submit(pool, timed(clock, 0.1), c, clock.monotonic())
    assert list(ledger.live(clock.monotonic())) == calls[:1]
    pool.start_next()
    assert list(ledger.live(clock.monotonic())) == calls[:2]

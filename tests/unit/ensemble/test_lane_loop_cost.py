"""The poll loop's cost per step stays flat however much work a lane holds: a lane looks
only at the calls that can finish next (issue 20: at the PAT limit, looking at ~180
queued one-row calls on every 5 ms step cost ~14 % of the worker's CPU)."""

from __future__ import annotations

import numpy as np

from consumer.ensemble.lanes import ModelLane
from consumer.ensemble.scoring import Ensemble
from consumer.settings import EnsembleSettings
from schemas import ACTIVITY_MINUTES, ModelStatus
from tests.fakes import FakeClock, FakeModel, ManualExecutor, make_lane


def _held_lane(calls: int) -> tuple[ModelLane, ManualExecutor, FakeClock]:
    clock, pool = FakeClock(), ManualExecutor()
    lane = make_lane(FakeModel("pat"), pool, 10.0, clock, seconds_per_row=0.01, chunk_rows=1)
    lane.enqueue(tuple(range(calls)), np.zeros((calls, ACTIVITY_MINUTES), np.float32), None)
    lane.pump(clock.monotonic())
    return lane, pool, clock


def test_only_the_calls_that_can_finish_next_are_looked_at() -> None:
    lane, pool, clock = _held_lane(100)
    assert len(pool.calls) == 100  # all admitted: 1 s of estimated work within a 5 s budget
    assert len(lane.futures()) == 1  # the first queued call; the 99 behind it cannot start
    pool.run_next()
    assert len(lane.futures()) == 2  # the finished one and the next in line
    runs = lane.pump(clock.monotonic())
    assert [run.status for run in runs] == [ModelStatus.OK] and len(lane.futures()) == 1
    for _ in range(99):
        pool.run_next()
    runs = lane.pump(clock.monotonic())
    assert len(runs) == 99 and lane.futures() == []  # every answer is still collected


def test_a_running_call_past_its_deadline_is_still_seen() -> None:
    lane, pool, clock = _held_lane(50)
    future = pool.calls[0][0]
    assert future.set_running_or_notify_cancel()  # the first call starts and hangs
    assert lane.pump(clock.monotonic()) == []  # seen running from now on
    clock.advance(2.5)  # past its deadline (2 s at least)
    assert lane.stuck(clock.monotonic())
    runs = lane.pump(clock.monotonic())
    assert runs[0].status is ModelStatus.TIMEOUT and len(runs) == 50  # the rest: stuck lane


def test_the_ensemble_says_whether_a_model_call_is_outstanding() -> None:
    lane, pool, clock = _held_lane(3)
    ensemble = Ensemble([], lane, EnsembleSettings(), clock)
    assert ensemble.working()
    for _ in range(3):
        pool.run_next()
    ensemble.pump()
    assert not ensemble.working()

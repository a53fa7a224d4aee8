"""Admission by cost with a fake clock: lane bound, deadlines under backlog, the estimate
following the model's speed, sick models, overload policy. No threads, no sleeps: the
fake pool runs one call at a time when the test says so, and a fake model moves the fake
clock by its cost per row."""

from __future__ import annotations

import numpy as np
import pytest

from consumer.ensemble.admission import LaneAdmission, SpeedEstimate
from consumer.ensemble.lanes import ModelLane, ModelRun
from schemas import ModelStatus
from tests.fakes import CostlyModel, FakeClock, InlineExecutor, ManualExecutor, make_lane

TIMEOUT_S = 10.0  # budget = half of it: 5 s of estimated work


def rows(n: int) -> np.ndarray:
    return np.zeros((n, 4), dtype=np.float32)


def pat_lane(
    clock: FakeClock, seconds_per_row: float = 1.0, estimate_s: float | None = None
) -> tuple[ModelLane, CostlyModel, ManualExecutor]:
    model = CostlyModel("pat", clock, seconds_per_row)
    pool = ManualExecutor()
    lane = make_lane(
        model, pool, TIMEOUT_S, clock, seconds_per_row=estimate_s or seconds_per_row, chunk_rows=2
    )
    return lane, model, pool


def drain(lane: ModelLane, pool: ManualExecutor, clock: FakeClock) -> list[ModelRun]:
    """Run the lane until nothing is left, as the poll loop would (pump between calls)."""
    runs = lane.pump(clock.monotonic())
    while lane.queued_rows():
        pool.run_next()
        runs += lane.pump(clock.monotonic())
    return runs


def test_estimate_follows_the_models_speed() -> None:
    estimate = SpeedEstimate(0.1)
    estimate.observe(rows=4, elapsed_s=4.0)  # 1 s per row: slower counts half at once
    assert estimate.seconds_per_row == pytest.approx(0.55)
    for _ in range(40):
        estimate.observe(rows=4, elapsed_s=0.2)
    assert estimate.seconds_per_row == pytest.approx(0.05, rel=1e-2)
    estimate.observe(rows=0, elapsed_s=1.0)  # no rows: no sample
    assert estimate.seconds_per_row == pytest.approx(0.05, rel=1e-2)
    with pytest.raises(ValueError, match="> 0"):
        SpeedEstimate(0.0)


def test_admission_holds_at_most_the_budget_and_never_starves() -> None:
    admission = LaneAdmission(budget_s=5.0, estimate=SpeedEstimate(1.0), chunk_rows=2)
    taken = 0
    while (n := admission.next_call_rows(100 - taken)) > 0:
        admission.admit(n)
        taken += n
    assert taken == 4 and admission.held_s == pytest.approx(4.0)  # a 3rd call would be 6 s
    admission.release(2, elapsed_s=2.0)
    assert admission.next_call_rows(10) == 2
    huge = LaneAdmission(budget_s=5.0, estimate=SpeedEstimate(100.0), chunk_rows=2)
    assert huge.next_call_rows(10) == 2  # an empty lane takes one call whatever it costs
    huge.admit(2)
    assert huge.next_call_rows(10) == 0


def test_a_healthy_model_never_misses_its_deadline_under_any_backlog() -> None:
    """60 rows at 1 s each is 60 s of work against a 10 s deadline: every call is ok,
    because the lane holds at most 5 s of it; the rest waits in front of the lane."""
    clock = FakeClock()
    lane, model, pool = pat_lane(clock)
    lane.enqueue(tuple(range(60)), rows(60), None)
    lane.pump(clock.monotonic())
    assert lane.admission.held_rows == 4 and lane.waiting_rows() == 56
    assert lane.stats.deferred_rows == 60
    runs = drain(lane, pool, clock)
    assert {run.status for run in runs} == {ModelStatus.OK}
    assert sum(len(run.rows) for run in runs) == 60 and sum(model.calls) == 60
    assert clock.t - 1_000.0 == pytest.approx(60.0)  # took as long as the work, no longer
    assert lane.stats.admitted_rows == 60


def test_a_model_20x_slower_times_out_within_its_deadline_and_admission_shrinks() -> None:
    clock = FakeClock()
    lane, model, pool = pat_lane(clock, seconds_per_row=0.05)
    lane.enqueue(tuple(range(400)), rows(400), None)
    lane.pump(clock.monotonic())
    assert lane.admission.held_rows == 100  # 5 s at 0.05 s per row, in calls of 2 rows
    assert lane.call_deadline_s(2) == 2.0  # 10 x 0.1 s is 1 s: at least 2 s
    pool.run_next()
    pool.run_next()
    healthy = lane.pump(clock.monotonic())
    assert [run.status for run in healthy] == [ModelStatus.OK, ModelStatus.OK]
    model.seconds_per_row = 1.0  # sick: 20x slower
    pool.start_next()
    lane.pump(clock.monotonic())  # seen running
    clock.advance(2.0)  # its deadline, while it still runs
    sick = lane.pump(clock.monotonic())
    assert {run.status for run in sick} == {ModelStatus.TIMEOUT}
    assert sum(len(run.rows) for run in sick) == 396  # the running call, the queued, the waiting
    ran, *never_ran = sick
    assert ran.latency_ms == pytest.approx(2_000.0)  # reported at its deadline
    assert all(run.latency_ms is None for run in never_ran)  # answered at once, never run
    assert lane.stuck(clock.monotonic())
    pool.finish_started()  # the late call ends after 2 s: dropped, but its speed is learnt
    assert lane.pump(clock.monotonic()) == []
    assert lane.admission.estimate.seconds_per_row > 0.5
    assert lane.admission.next_call_rows(100) == 2 and lane.call_deadline_s(2) == TIMEOUT_S
    # At the new speed, new work fits within the deadline again: no more timeouts.
    lane.enqueue(tuple(range(20)), rows(20), None)
    later = drain(lane, pool, clock)
    assert {run.status for run in later} == {ModelStatus.OK}


def test_a_hung_model_answers_waiting_rows_with_timeout_at_once() -> None:
    clock = FakeClock()
    lane = make_lane(
        CostlyModel("pat", clock, 0.1),
        InlineExecutor(hang=True),
        TIMEOUT_S,
        clock,
        seconds_per_row=0.1,
        chunk_rows=2,
    )
    request = lane.enqueue((0, 1, 2, 3), rows(4), None)
    lane.pump(clock.monotonic())
    assert request.unresolved == 4  # all admitted (0.4 s), none answered
    clock.advance(TIMEOUT_S)
    runs = lane.pump(clock.monotonic())
    assert [run.status for run in runs] == [ModelStatus.TIMEOUT, ModelStatus.TIMEOUT]
    assert lane.stuck(clock.monotonic())
    late = lane.enqueue((0,), rows(1), None)
    [run] = lane.pump(clock.monotonic())
    assert run.status is ModelStatus.TIMEOUT and late.run_for(0) is run  # no waiting behind it


def test_a_failing_model_is_failed_not_scored() -> None:
    clock = FakeClock()
    model = CostlyModel("pat", clock, 0.1)
    model.fail = True
    pool = ManualExecutor()
    lane = make_lane(model, pool, TIMEOUT_S, clock, chunk_rows=2)
    lane.enqueue((0, 1), rows(2), None)
    runs = drain(lane, pool, clock)
    assert [(run.status, run.scores) for run in runs] == [(ModelStatus.FAILED, None)]


def test_old_events_are_skipped_by_policy_with_a_reason() -> None:
    clock = FakeClock()
    lane, _, pool = pat_lane(clock)
    now = clock.monotonic()
    request = lane.enqueue((0, 1, 2, 3, 4, 5), rows(6), tuple(now + 1.0 for _ in range(6)))
    runs = drain(lane, pool, clock)
    skipped = [run for run in runs if run.status is ModelStatus.SKIPPED]
    assert [run.reason for run in skipped] == ["max_event_age"]
    assert skipped[0].rows == (4, 5)  # 4 rows admitted before they expired; 2 waited too long
    assert request.unresolved == 0 and lane.stats.skipped_rows == 2


def test_cancelled_rows_are_never_submitted() -> None:
    clock = FakeClock()
    lane, model, pool = pat_lane(clock)
    request = lane.enqueue(tuple(range(10)), rows(10), None)
    lane.pump(clock.monotonic())  # 4 rows admitted
    request.cancel({6, 7, 8, 9})
    drain(lane, pool, clock)
    assert sum(model.calls) == 6 and request.unresolved == 0


def test_answers_waiting_counts_finished_calls_until_they_are_collected() -> None:
    clock = FakeClock()
    lane, _, pool = pat_lane(clock)
    lane.enqueue(tuple(range(4)), rows(4), None)
    lane.pump(clock.monotonic())  # two calls of 2 rows submitted (4 s of the 5 s budget)
    assert len(pool.pending()) == 2 and not lane.answers_waiting()
    pool.run_next()
    assert lane.answers_waiting()  # one finished, not picked up yet
    pool.run_next()
    assert lane.answers_waiting()
    assert len(lane.pump(clock.monotonic())) == 2
    assert not lane.answers_waiting()  # both collected


def test_a_cancelled_call_is_collected_without_leaving_an_answer_waiting() -> None:
    clock = FakeClock()
    lane, _, pool = pat_lane(clock)
    lane.enqueue(tuple(range(4)), rows(4), None)
    lane.pump(clock.monotonic())
    pool.start_next()  # the first call runs and hangs; the second waits behind it
    assert lane.pump(clock.monotonic()) == []  # the lane sees it running from now
    clock.advance(TIMEOUT_S + 1.0)
    runs = lane.pump(clock.monotonic())  # overdue: stuck, the queued call is cancelled
    assert {run.status for run in runs} == {ModelStatus.TIMEOUT}
    assert not lane.answers_waiting()  # the cancellation was counted and collected
    pool.finish_started()  # the hung call returns late
    assert lane.answers_waiting()
    lane.pump(clock.monotonic())
    assert not lane.answers_waiting()

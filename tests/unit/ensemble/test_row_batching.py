"""Device batching with a fake clock and a hand-run pool: rows gathered across micro-batches
up to the batch bound, partial calls sent at the wait bound, each request answered with its
own rows' scores, admission still deciding room, timeouts and failures reaching every
request of a gathered call. No threads, no sleeps."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from consumer.ensemble.lanes import ModelLane
from consumer.ensemble.model_runs import LaneRequest
from consumer.ensemble.row_batching import RowBatching
from schemas import ModelStatus
from tests.fakes import FakeClock, FakeModel, ManualExecutor, make_lane

TIMEOUT_S = 10.0
WAIT_S = 0.010


class EchoModel(FakeModel):
    """Scores each row with its first value, so a test can tell rows apart."""

    def predict_batch(self, inputs: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        super().predict_batch(inputs)
        return inputs[:, 0].astype(np.float64)


def tagged(first: int, count: int) -> np.ndarray:
    """``count`` rows whose first value is ``first``, ``first + 1``, ..."""
    rows = np.zeros((count, 4), dtype=np.float32)
    rows[:, 0] = np.arange(first, first + count)
    return rows


def device_lane(
    clock: FakeClock,
    *,
    max_rows: int = 8,
    seconds_per_row: float = 0.001,
    model: FakeModel | None = None,
) -> tuple[ModelLane, FakeModel, ManualExecutor]:
    model = model or EchoModel("pat")
    pool = ManualExecutor()
    lane = make_lane(
        model,
        pool,
        TIMEOUT_S,
        clock,
        seconds_per_row=seconds_per_row,
        chunk_rows=max_rows,
        batching=RowBatching(max_rows, WAIT_S),
    )
    return lane, model, pool


def enqueue(lane: ModelLane, first: int, count: int) -> LaneRequest:
    """One micro-batch's rows (batch indices 0..count-1) tagged from ``first``."""
    return lane.enqueue(tuple(range(count)), tagged(first, count), None)


def scores_of(request: LaneRequest) -> list[float | None]:
    runs = [request.run_for(index) for index in request.rows]
    return [None if run is None else run.score_for(index) for index, run in enumerate(runs)]


def test_the_bound_checks_its_arguments_and_says_when_a_call_leaves() -> None:
    with pytest.raises(ValueError, match="max_rows"):
        RowBatching(0, WAIT_S)
    with pytest.raises(ValueError, match="max_wait_s"):
        RowBatching(4, -1.0)
    batching = RowBatching(4, WAIT_S)
    assert not batching.ready(0, 1.0, 5.0)  # nothing waits
    assert not batching.ready(3, 1.0, 1.0 + WAIT_S / 2)  # partial, within its wait
    assert batching.ready(4, 1.0, 1.0)  # full
    assert batching.ready(1, 1.0, 1.0 + WAIT_S)  # partial, due
    assert batching.wake_at(1.0, 1.0) == pytest.approx(1.0 + WAIT_S)
    assert batching.wake_at(1.0, 1.0 + WAIT_S) is None  # due already: no wake-up to wait for
    assert batching.wake_at(None, 1.0) is None


def test_rows_of_several_micro_batches_go_in_one_full_call() -> None:
    clock = FakeClock()
    lane, model, pool = device_lane(clock, max_rows=8)
    first = enqueue(lane, 100, 3)
    second = enqueue(lane, 200, 3)
    lane.pump(clock.monotonic())
    assert pool.calls == []  # 6 of 8 rows, within the wait bound: no call yet
    third = enqueue(lane, 300, 3)
    lane.pump(clock.monotonic())
    assert len(pool.calls) == 1  # 9 rows waiting: one call of 8, one row left
    pool.run_all()
    runs = lane.pump(clock.monotonic())
    assert model.calls == [8]
    assert [run.rows for run in runs] == [(0, 1, 2), (0, 1, 2), (0, 1)]  # one run per batch
    assert scores_of(first) == [100.0, 101.0, 102.0]
    assert scores_of(second) == [200.0, 201.0, 202.0]
    assert scores_of(third) == [300.0, 301.0, None]  # its last row still waits
    assert lane.waiting_rows() == 1


def test_a_partial_call_leaves_at_the_wait_bound_and_the_loop_is_told_when() -> None:
    clock = FakeClock()
    lane, model, pool = device_lane(clock, max_rows=8)
    request = enqueue(lane, 7, 2)
    lane.pump(clock.monotonic())
    assert pool.calls == []
    assert lane.next_deadline() == pytest.approx(clock.monotonic() + WAIT_S)
    clock.advance(WAIT_S / 2)
    lane.pump(clock.monotonic())
    assert pool.calls == []
    clock.advance(WAIT_S / 2)
    lane.pump(clock.monotonic())
    pool.run_all()
    lane.pump(clock.monotonic())
    assert model.calls == [2]
    assert scores_of(request) == [7.0, 8.0]
    assert lane.next_deadline() is None  # nothing waits, nothing runs


def test_admission_still_decides_room_and_a_due_call_never_spins_the_loop() -> None:
    clock = FakeClock()
    # 1 s per row and a 5 s budget: one call of 4 rows fits, a second does not.
    lane, model, pool = device_lane(clock, max_rows=4, seconds_per_row=1.0)
    enqueue(lane, 0, 4)
    enqueue(lane, 10, 4)
    lane.pump(clock.monotonic())
    assert len(pool.calls) == 1  # the second full call waits for room
    pool.start_next()
    clock.advance(WAIT_S * 5)  # the waiting rows are long due, but there is no room
    lane.pump(clock.monotonic())
    assert len(pool.calls) == 1
    # The loop is woken by the running call's deadline, never by a due time in the past.
    assert lane.next_deadline() == pytest.approx(clock.monotonic() + TIMEOUT_S)  # seen now
    pool.finish_started()
    lane.pump(clock.monotonic())
    assert len(pool.calls) == 2  # room again: the due call leaves
    assert model.calls == [4]


def test_a_gathered_call_that_misses_its_deadline_times_out_every_batch_in_it() -> None:
    clock = FakeClock()
    lane, _, pool = device_lane(clock, max_rows=4)
    first = enqueue(lane, 0, 2)
    second = enqueue(lane, 10, 2)
    lane.pump(clock.monotonic())
    pool.start_next()  # running, never finishing
    lane.pump(clock.monotonic())  # the lane sees it running from now
    clock.advance(TIMEOUT_S)
    runs = lane.pump(clock.monotonic())
    assert [(run.status, run.rows) for run in runs] == [
        (ModelStatus.TIMEOUT, (0, 1)),
        (ModelStatus.TIMEOUT, (0, 1)),
    ]
    assert scores_of(first) == [None, None] and scores_of(second) == [None, None]


def test_a_gathered_call_that_raises_fails_every_batch_in_it() -> None:
    clock = FakeClock()
    lane, _, pool = device_lane(clock, max_rows=4, model=EchoModel("pat", fail=True))
    first = enqueue(lane, 0, 3)
    second = enqueue(lane, 10, 1)
    lane.pump(clock.monotonic())
    pool.run_all()
    runs = lane.pump(clock.monotonic())
    assert [run.status for run in runs] == [ModelStatus.FAILED, ModelStatus.FAILED]
    assert first.unresolved == 0 and second.unresolved == 0
    assert lane.admission.held_rows == 0  # the failed call gave its room back


def test_a_cpu_lane_still_sends_each_batch_on_its_own() -> None:
    clock = FakeClock()
    model = EchoModel("pat")
    pool = ManualExecutor()
    lane = make_lane(model, pool, TIMEOUT_S, clock, chunk_rows=8)
    enqueue(lane, 0, 3)
    enqueue(lane, 10, 3)
    lane.pump(clock.monotonic())
    pool.run_all()
    lane.pump(clock.monotonic())
    assert model.calls == [3, 3]

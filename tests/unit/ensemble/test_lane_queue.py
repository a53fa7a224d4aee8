"""The rows waiting in front of a lane (``LaneQueue``), pure: a fake clock's times passed
in, no pool, no threads."""

from __future__ import annotations

import numpy as np

from consumer.ensemble.lane_queue import LaneQueue
from consumer.ensemble.model_runs import LaneRequest
from consumer.ensemble.row_batching import RowBatching
from tests.fakes import FakeClock


def request(
    rows: tuple[int, ...], at: float, expires: tuple[float, ...] | None = None
) -> LaneRequest:
    inputs = np.arange(len(rows) * 2, dtype=np.float32).reshape(len(rows), 2)
    return LaneRequest(rows, inputs, at, expires)


def test_a_call_takes_from_the_first_request_alone_in_order() -> None:
    clock, queue = FakeClock(), LaneQueue()
    first, second = request((3, 4, 5), clock.monotonic()), request((6,), clock.monotonic())
    queue.append(first)
    queue.append(second)
    assert queue.call_rows(clock.monotonic(), None) == 3  # never mixes requests
    (segment,) = queue.take(2)
    assert segment.request is first and segment.rows == (3, 4)
    assert segment.inputs().tolist() == [[0.0, 1.0], [2.0, 3.0]]
    assert queue.waiting_rows() == 2 and queue.call_rows(clock.monotonic(), None) == 1
    assert [s.rows for s in queue.take(1)] == [(5,)]
    assert queue.call_rows(clock.monotonic(), None) == 1  # the second request now
    assert [s.rows for s in queue.take(5)] == [(6,)]  # at most what waits
    assert not queue and queue.call_rows(clock.monotonic(), None) == 0


def test_a_device_call_gathers_across_requests_when_full_or_due() -> None:
    clock, queue = FakeClock(), LaneQueue()
    batching = RowBatching(max_rows=4, max_wait_s=0.5)
    queue.append(request((0, 1), clock.monotonic()))
    clock.advance(0.1)
    queue.append(request((2,), clock.monotonic()))
    assert queue.call_rows(clock.monotonic(), batching) == 0  # 3 rows wait for company
    assert queue.oldest_waiting() == clock.monotonic() - 0.1
    clock.advance(0.4)  # the oldest row waited its bound
    assert queue.call_rows(clock.monotonic(), batching) == 3
    assert [s.rows for s in queue.take(3)] == [(0, 1), (2,)]  # one call, two requests
    queue.append(request((7, 8, 9, 10), clock.monotonic()))
    assert queue.call_rows(clock.monotonic(), batching) == 4  # full: no wait


def test_expired_rows_leave_and_emptied_requests_are_dropped() -> None:
    clock, queue = FakeClock(), LaneQueue()
    now = clock.monotonic()
    partly = request((0, 1, 2), now, (now + 1.0, now + 5.0, now + 1.0))
    wholly = request((3,), now, (now + 1.0,))
    queue.append(partly)
    queue.append(wholly)
    queue.append(request((4,), now))  # never expires
    assert queue.expire(clock.monotonic()) == []
    clock.advance(1.0)
    assert queue.expire(clock.monotonic()) == [(partly, (0, 2)), (wholly, (3,))]
    assert queue.waiting_rows() == 2
    assert [s.rows for s in queue.take(2)] == [(1,), (4,)]  # the emptied request is gone


def test_a_drain_takes_every_waiting_row_and_empties_the_queue() -> None:
    clock, queue = FakeClock(), LaneQueue()
    first, second = request((0, 1), clock.monotonic()), request((2,), clock.monotonic())
    queue.append(first)
    queue.append(second)
    queue.take(1)
    assert queue.drain() == [(first, (1,)), (second, (2,))]
    assert not queue and queue.waiting_rows() == 0 and queue.oldest_waiting() is None
    assert not first.waiting and not second.waiting


def test_cancelled_rows_are_never_taken() -> None:
    clock, queue = FakeClock(), LaneQueue()
    first = request((0, 1), clock.monotonic())
    queue.append(first)
    queue.append(request((2,), clock.monotonic()))
    first.cancel([0, 1])
    assert queue  # still queued, with nothing to submit
    assert queue.call_rows(clock.monotonic(), None) == 1  # the answered front is dropped
    assert [s.rows for s in queue.take(1)] == [(2,)]

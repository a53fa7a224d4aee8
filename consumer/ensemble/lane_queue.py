"""The rows waiting in front of a model lane: a pure queue of requests in arrival order.

No threads, no futures, no clock of its own (``now`` is passed in): what leaves the queue
and when is decided here and tested with a fake clock; the calls the pool runs are
``consumer.ensemble.lane_calls``'s, the lane (``consumer.ensemble.lanes``) joins them.
Used from the poll loop's thread only.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from consumer.ensemble.model_runs import InputArray, LaneRequest
from consumer.ensemble.row_batching import RowBatching


@dataclass(frozen=True, slots=True)
class Segment:
    """The rows one call takes from one request (``positions`` index ``request.rows``)."""

    request: LaneRequest
    positions: tuple[int, ...]

    @property
    def whole(self) -> bool:
        """Whether it takes every row of its request (then its positions are 0, 1, ...: a
        request's rows leave in order)."""
        return len(self.positions) == len(self.request.rows)

    @property
    def rows(self) -> tuple[int, ...]:
        rows = self.request.rows
        return rows if self.whole else tuple(rows[p] for p in self.positions)

    def inputs(self) -> InputArray:
        """Its rows' inputs: the request's own array when it takes them all (nothing reads
        them there again), else a copy of its rows."""
        inputs = self.request.inputs
        return inputs if self.whole else inputs[list(self.positions)]


#: Rows that leave the queue without a call: a request and the batch indices it loses.
Dropped = tuple[LaneRequest, tuple[int, ...]]


class LaneQueue:
    """Requests with rows still to submit, oldest first. Pure; not thread-safe."""

    def __init__(self) -> None:
        self._requests: deque[LaneRequest] = deque()

    def __bool__(self) -> bool:
        """Whether any request is queued (even one whose rows were all cancelled)."""
        return bool(self._requests)

    def append(self, request: LaneRequest) -> None:
        self._requests.append(request)

    def waiting_rows(self) -> int:
        return sum(len(request.waiting) for request in self._requests)

    def oldest_waiting(self) -> float | None:
        """When the oldest request with rows still to submit was queued (None: none)."""
        return next((r.enqueued_at for r in self._requests if r.waiting), None)

    def call_rows(self, now: float, batching: RowBatching | None) -> int:
        """How many rows the next call may take now, before admission: the first request's
        (a call never mixes requests), or for a device lane (``batching``) every waiting
        row once the call is full or due (0 while it waits for company)."""
        self._drop_answered_front()
        if not self._requests:
            return 0
        front = self._requests[0]
        if batching is None:
            return len(front.waiting)
        waiting = self.waiting_rows()
        return waiting if batching.ready(waiting, front.enqueued_at, now) else 0

    def take(self, rows: int) -> tuple[Segment, ...]:
        """Pop ``rows`` waiting rows from the front, request after request (at most what
        waits)."""
        segments: list[Segment] = []
        while rows > 0 and self._requests:
            request = self._requests[0]
            waiting = request.waiting
            count = min(rows, len(waiting))
            if count == len(waiting):  # all that waits (most calls): no pop per row
                positions = tuple(waiting)
                waiting.clear()
            else:
                positions = tuple(waiting.popleft() for _ in range(count))
            if positions:
                segments.append(Segment(request, positions))
            if not request.waiting:
                self._requests.popleft()
            rows -= count
        return tuple(segments)

    def expire(self, now: float) -> list[Dropped]:
        """Remove the rows whose ``expires_at`` has passed; drops requests left empty."""
        dropped: list[Dropped] = []
        for request in self._requests:
            expires = request.expires_at
            if expires is None or not request.waiting:
                continue
            old = [p for p in request.waiting if expires[p] <= now]
            if old:
                request.waiting = deque(p for p in request.waiting if expires[p] > now)
                dropped.append((request, tuple(request.rows[p] for p in old)))
        self._requests = deque(request for request in self._requests if request.waiting)
        return dropped

    def drain(self) -> list[Dropped]:
        """Remove every waiting row (the lane is stuck: they will not be submitted)."""
        dropped = [
            (request, tuple(request.rows[p] for p in request.waiting))
            for request in self._requests
            if request.waiting
        ]
        for request in self._requests:
            request.waiting.clear()
        self._requests.clear()
        return dropped

    def _drop_answered_front(self) -> None:
        while self._requests and not self._requests[0].waiting:
            self._requests.popleft()

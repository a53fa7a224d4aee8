"""The ledger of a model lane's submitted calls: the one part of a lane other threads
touch.

The poll loop's thread submits, collects and cancels calls; two things are written from
elsewhere, and only here: a call's start time (by the pool's thread, in the timed model
call: :meth:`Call.start`) and the count of finished calls (by the futures' done callbacks,
under the ledger's lock). Every other field is the poll loop's. A call's deadline counts
from when it starts running, never from time spent queued behind admitted work.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from consumer.ensemble.lane_queue import Segment
from consumer.ensemble.model_runs import FloatArray, InputArray
from consumer.ensemble.pools import Pool

#: What a call's future answers: the scores and the model's latency in ms.
Answer = tuple[FloatArray, float]


@dataclass(eq=False)
class Call:
    """One submitted call over one or more requests' rows."""

    segments: tuple[Segment, ...]
    submitted: float
    deadline_s: float
    future: Future[Answer] | None = None
    started: float | None = None  # written once: by the pool's thread, or when seen running
    reported: bool = False  # answered (timeout) before its future finished

    @property
    def row_count(self) -> int:
        return sum(len(segment.positions) for segment in self.segments)

    def inputs(self) -> InputArray:
        """The call's input rows, segment after segment (a copy)."""
        parts = [segment.inputs() for segment in self.segments]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def start(self, now: float) -> None:
        """The pool's thread began the model call (a float store: atomic)."""
        self.started = now

    def running_since(self, now: float) -> float | None:
        if self.started is None and self.future is not None and self.future.running():
            self.started = now
        return self.started

    def overdue(self, now: float) -> bool:
        start = self.running_since(now)
        return start is not None and now - start >= self.deadline_s

    def ran_ms(self, now: float) -> float:
        """How long it has run (0 if it never started)."""
        return (now - (self.started or now)) * 1000.0


class CallLedger:
    """A lane's calls in submission order. Thread-safe where other threads write (the done
    count, a call's start); everything else is called from the poll loop's thread."""

    def __init__(self) -> None:
        self._calls: deque[Call] = deque()
        self._lock = threading.Lock()
        self._done = 0  # calls finished or cancelled (done callbacks, any thread)
        self._collected = 0  # calls taken out (the poll loop)

    def submit(
        self, pool: Pool, run: Callable[[InputArray, Call], Answer], call: Call, now: float
    ) -> None:
        """Hand ``run(inputs, call)`` to ``pool``; never blocks (beyond copying inputs)."""
        call.future = pool.submit(run, call.inputs(), call)
        call.future.add_done_callback(self._on_done)
        call.running_since(now)  # an idle pool may have started it already
        self._calls.append(call)

    def _on_done(self, _future: Future[Answer]) -> None:
        with self._lock:
            self._done += 1

    def answers_waiting(self) -> bool:
        """Whether a call has finished (or was cancelled) and waits to be collected. O(1);
        reads without the lock (an int read is atomic; one step stale only delays a poll)."""
        return self._done > self._collected

    def live(self, now: float) -> Iterator[Call]:
        """Calls in submission order up to and including the first that has not started.
        Pools run a lane's calls in that order (a FIFO queue), so the calls behind a queued
        one are queued too: they can neither finish nor be overdue. Stopping there keeps
        the loop's cost per step flat however much work the lane holds (PAT at 1 row per
        call holds ~180 calls: looking at each on every 5 ms step cost ~14 % of a worker's
        CPU)."""
        for call in list(self._calls):
            yield call
            future = call.future
            if call.running_since(now) is None and not (future is not None and future.done()):
                return

    def stuck(self, now: float) -> bool:
        """True while a call runs past its deadline."""
        return any(call.overdue(now) for call in self.live(now))

    def futures(self, now: float) -> list[Future[Answer]]:
        """The unanswered calls that can finish next: the started ones and the first queued."""
        return [call.future for call in self.live(now) if call.future and not call.reported]

    def running_ends(self, now: float) -> list[float]:
        """The deadlines of the unanswered running calls (monotonic)."""
        return [
            start + call.deadline_s
            for call in self.live(now)
            if not call.reported and (start := call.running_since(now)) is not None
        ]

    def collect(self, now: float) -> list[tuple[Call, bool]]:
        """In submission order: (a call whose future is done, now removed, True) and (a call
        newly past its deadline, now marked ``reported``, False)."""
        seen: list[tuple[Call, bool]] = []
        for call in self.live(now):
            if call.future is not None and call.future.done():
                self._remove(call)
                seen.append((call, True))
            elif not call.reported and call.overdue(now):
                call.reported = True
                seen.append((call, False))
        return seen

    def cancel_queued(self, now: float) -> list[Call]:
        """Cancel and remove the unanswered calls that have not started (the lane is stuck:
        they would wait behind it)."""
        cancelled: list[Call] = []
        for call in list(self._calls):
            future = call.future
            queued = future is not None and call.running_since(now) is None
            if queued and future is not None and not call.reported and future.cancel():
                self._remove(call)
                cancelled.append(call)
        return cancelled

    def _remove(self, call: Call) -> None:
        self._calls.remove(call)
        self._collected += 1

"""A model lane: one model, its executor, its deadline and its admission by cost.

Work arrives as requests (one batch's rows for this model). The lane submits them to its
executor in calls of at most ``chunk_rows`` rows, only while the estimated seconds it
already holds leave room (``consumer.ensemble.admission``), so a healthy model finishes every call
within its deadline however long the queue in front of the lane. Each call's outcome is a
``ModelRun`` over its rows: ``ok`` with scores, ``failed`` when it raised, ``timeout`` when
it missed its deadline, and ``skipped`` for rows older than the lane's maximum event age. A
call's deadline counts from when it starts running (never from time spent queued behind
admitted work) and is ``slowdown_factor`` times its estimated time, at least 2 s and at
most the lane's timeout: it catches a hung model, and one much slower than its own recent
speed; a late result is dropped. While a call runs past its deadline the lane is *stuck*:
the rows waiting in front of it are reported ``timeout`` at once instead of waiting
behind a model that does not answer.

A lane on an accelerator (``RowBatching``) gathers its waiting rows across requests into
calls of up to a batch bound, sent when full or when the oldest row has waited the wait
bound (``consumer.ensemble.row_batching``); such a call answers each request it took rows
from with a run of its own.

Used from one thread (the poll loop); the executor's threads only run ``_timed``.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from consumer.clock import Clock
from consumer.ensemble.admission import LaneAdmission
from consumer.ensemble.model_runs import FloatArray, InputArray, LaneRequest, ModelRun
from consumer.ensemble.row_batching import RowBatching
from schemas import ModelStatus

__all__ = [
    "MIN_CALL_DEADLINE_S",
    "LaneRequest",
    "LaneStats",
    "ModelLane",
    "ModelRun",
    "ScoringModel",
]

#: The shortest deadline of a call (unless the model's timeout is shorter): a call of a
#: few milliseconds is never declared sick for a scheduling hiccup on a busy machine.
MIN_CALL_DEADLINE_S = 2.0


class ScoringModel(Protocol):
    """What a lane needs of a model (``consumer.models.protocol.BatchModel``)."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    def predict_batch(self, inputs: InputArray) -> FloatArray: ...


@dataclass(frozen=True, slots=True)
class _Segment:
    """The rows one call takes from one request (``positions`` index ``request.rows``)."""

    request: LaneRequest
    positions: tuple[int, ...]

    @property
    def rows(self) -> tuple[int, ...]:
        return tuple(self.request.rows[p] for p in self.positions)

    def inputs(self) -> InputArray:
        return self.request.inputs[list(self.positions)]


@dataclass(eq=False)
class _Call:
    """One submitted call over one or more requests' rows. Its deadline counts from the
    moment it starts running (time in the executor's queue, behind admitted work, is not
    the model's fault)."""

    segments: tuple[_Segment, ...]
    submitted: float
    deadline_s: float
    future: Future[tuple[FloatArray, float]] | None = None
    started: float | None = None  # set by the pool thread, or when first seen running
    reported: bool = False

    @property
    def row_count(self) -> int:
        return sum(len(segment.positions) for segment in self.segments)

    def inputs(self) -> InputArray:
        """The call's input rows, segment after segment (a copy)."""
        parts = [segment.inputs() for segment in self.segments]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def running_since(self, now: float) -> float | None:
        if self.started is None and self.future is not None and self.future.running():
            self.started = now
        return self.started

    def overdue(self, now: float) -> bool:
        start = self.running_since(now)
        return start is not None and now - start >= self.deadline_s


@dataclass
class LaneStats:
    """Cumulative counts, read by the poll loop for metrics."""

    admitted_rows: int = 0
    deferred_rows: int = 0
    skipped_rows: int = 0


class ModelLane:
    """One model bound to its executor, deadline and admission. Not thread-safe."""

    def __init__(
        self,
        model: ScoringModel,
        executor: Executor,
        timeout_s: float,
        clock: Clock,
        admission: LaneAdmission,
        *,
        slowdown_factor: float = 10.0,
        batching: RowBatching | None = None,
    ) -> None:
        self.model = model
        self.timeout_s = timeout_s
        self.admission = admission
        self.slowdown_factor = slowdown_factor
        self.batching = batching
        self.stats = LaneStats()
        self._executor = executor
        self._clock = clock
        self._queue: deque[LaneRequest] = deque()
        self._calls: deque[_Call] = deque()
        # Calls finished (done callbacks, on the pool's thread or on cancel) and calls
        # collected (the owner's thread): more finished than collected = answers wait.
        self._done_lock = threading.Lock()
        self._done_count = 0
        self._collected_count = 0

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def budget_ms(self) -> float:
        return self.timeout_s * 1000.0

    def enqueue(
        self, rows: tuple[int, ...], inputs: InputArray, expires_at: tuple[float, ...] | None
    ) -> LaneRequest:
        """Queue one batch's rows; they are submitted by ``pump``. Does not block."""
        request = LaneRequest(rows, inputs, self._clock.monotonic(), expires_at)
        if self.batching is not None:  # rows wait for company anyway: deferred = no room
            deferred = self.admission.next_call_rows(len(rows)) == 0
        else:
            deferred = bool(self._queue) or self.admission.next_call_rows(len(rows)) < len(rows)
        if deferred:
            self.stats.deferred_rows += len(rows)
        self._queue.append(request)
        return request

    def waiting_rows(self) -> int:
        return sum(len(request.waiting) for request in self._queue)

    def queued_rows(self) -> int:
        """Rows the lane has not answered yet: waiting in front of it or held by it."""
        return self.waiting_rows() + self.admission.held_rows

    def stuck(self, now: float) -> bool:
        """True while a call runs past its deadline."""
        return any(call.overdue(now) for call in self._live_calls(now))

    def answers_waiting(self) -> bool:
        """Whether a submitted call has finished (or was cancelled) and waits for ``pump``.
        O(1): counted by done callbacks, never by scanning the calls. Reads without the lock
        (an int read is atomic; a count one step stale only delays a poll by one step)."""
        return self._done_count > self._collected_count

    def _on_done(self, _future: Future[tuple[FloatArray, float]]) -> None:
        with self._done_lock:
            self._done_count += 1

    def futures(self) -> list[Future[tuple[FloatArray, float]]]:
        """The unanswered calls that can finish next: the started ones and the first queued
        one (the calls behind it cannot start before it)."""
        now = self._clock.monotonic()
        return [call.future for call in self._live_calls(now) if call.future and not call.reported]

    def _live_calls(self, now: float) -> Iterator[_Call]:
        """Calls in submission order up to and including the first that has not started.
        Executors run a lane's calls in that order (a FIFO queue), so the calls behind a
        queued one are queued too: they can neither finish nor be overdue. Iterating only
        to there keeps the loop's cost per step flat however much work the lane holds
        (PAT at 1 row per call holds ~180 calls: looking at each on every 5 ms step cost
        ~14 % of a worker's CPU)."""
        for call in list(self._calls):
            yield call
            future = call.future
            if call.running_since(now) is None and not (future is not None and future.done()):
                return

    def next_deadline(self) -> float | None:
        """Monotonic time of the earliest deadline of an unanswered running call, or of a
        gathered call's wait bound (a device lane), whichever comes first."""
        now = self._clock.monotonic()
        ends = [
            start + call.deadline_s
            for call in self._live_calls(now)
            if not call.reported and (start := call.running_since(now)) is not None
        ]
        if self.batching is not None:
            wake = self.batching.wake_at(self._oldest_waiting(), now)
            if wake is not None:
                ends.append(wake)
        return min(ends) if ends else None

    def _oldest_waiting(self) -> float | None:
        """When the oldest request with rows still to submit was queued (None: none)."""
        return next((r.enqueued_at for r in self._queue if r.waiting), None)

    def call_deadline_s(self, rows: int) -> float:
        """A call's deadline once it runs: ``slowdown_factor`` times its estimated time (at
        least ``MIN_CALL_DEADLINE_S``), at most the lane's timeout. A model much slower than
        its own recent speed misses it; the estimate then follows, and the lane admits less."""
        estimated_s = rows * self.admission.estimate.seconds_per_row
        floor_s = min(self.timeout_s, MIN_CALL_DEADLINE_S)
        return min(self.timeout_s, max(floor_s, self.slowdown_factor * estimated_s))

    def pump(self, now: float) -> list[ModelRun]:
        """Answer what finished or missed its deadline, then submit what fits. Does not block
        (beyond copying inputs). Returns the runs resolved by this call."""
        resolved = self._collect(now)
        resolved += self._skip_expired(now)
        if self.stuck(now):
            resolved += self._fail_waiting(now)
        else:
            self._submit_fitting(now)
        return resolved

    def _collect(self, now: float) -> list[ModelRun]:
        resolved: list[ModelRun] = []
        for call in self._live_calls(now):
            if call.future is not None and call.future.done():
                self._calls.remove(call)
                self._collected_count += 1
                resolved += self._finished(call, now)
            elif not call.reported and call.overdue(now):
                call.reported = True
                ran_ms = (now - (call.started or now)) * 1000.0  # how long it ran, ~ its deadline
                resolved += self._resolve(call, ModelStatus.TIMEOUT, ran_ms)
        return resolved

    def _finished(self, call: _Call, now: float) -> list[ModelRun]:
        rows = call.row_count
        assert call.future is not None
        if call.future.cancelled() or call.future.exception() is not None:
            self.admission.release(rows, None)
            if call.reported:
                return []
            ran_ms = (now - (call.started or now)) * 1000.0
            return self._resolve(call, ModelStatus.FAILED, ran_ms)
        scores, latency_ms = call.future.result()
        self.admission.release(rows, latency_ms / 1000.0)
        if call.reported:
            return []  # its deadline passed: the late result is dropped
        if latency_ms > call.deadline_s * 1000.0:  # finished late, before anyone looked
            return self._resolve(call, ModelStatus.TIMEOUT, latency_ms)
        return self._resolve(call, ModelStatus.OK, latency_ms, scores)

    def _resolve(
        self,
        call: _Call,
        status: ModelStatus,
        latency_ms: float | None,
        scores: FloatArray | None = None,
        waited_ms: float | None = None,
    ) -> list[ModelRun]:
        """One run per request the call took rows from, each with its slice of ``scores``."""
        budget_ms = call.deadline_s * 1000.0
        runs: list[ModelRun] = []
        start = 0
        for part, segment in enumerate(call.segments):
            end = start + len(segment.positions)
            run = ModelRun(
                self.name,
                status,
                self.model.version,
                latency_ms,
                segment.rows,
                None if scores is None else scores[start:end],
                budget_ms,
                waited_ms=waited_ms,
                call_part=part,
                call_rows=call.row_count,
            )
            segment.request.resolve(run)
            runs.append(run)
            start = end
        return runs

    def _skip_expired(self, now: float) -> list[ModelRun]:
        runs: list[ModelRun] = []
        for request in self._queue:
            expires = request.expires_at
            if expires is None or not request.waiting:
                continue
            old = [p for p in request.waiting if expires[p] <= now]
            if old:
                request.waiting = deque(p for p in request.waiting if expires[p] > now)
                rows = tuple(request.rows[p] for p in old)
                run = ModelRun(
                    self.name,
                    ModelStatus.SKIPPED,
                    self.model.version,
                    None,
                    rows,
                    None,
                    self.budget_ms,
                    reason="max_event_age",
                )
                request.resolve(run)
                self.stats.skipped_rows += len(rows)
                runs.append(run)
        self._drop_empty()
        return runs

    def _fail_waiting(self, now: float) -> list[ModelRun]:
        """The lane is stuck: rows in front of it (waiting, or submitted and not started)
        are answered ``timeout`` now."""
        runs: list[ModelRun] = []
        for call in list(self._calls):
            future = call.future
            queued = future is not None and call.running_since(now) is None
            if queued and future is not None and not call.reported and future.cancel():
                self._calls.remove(call)
                self._collected_count += 1
                self.admission.release(call.row_count, None)
                waited_ms = (now - call.submitted) * 1000.0  # it never ran
                runs += self._resolve(call, ModelStatus.TIMEOUT, None, None, waited_ms)
        for request in self._queue:
            if request.waiting:
                rows = tuple(request.rows[p] for p in request.waiting)
                request.waiting.clear()
                waited_ms = (now - request.enqueued_at) * 1000.0
                run = ModelRun(
                    self.name,
                    ModelStatus.TIMEOUT,
                    self.model.version,
                    None,
                    rows,
                    None,
                    self.budget_ms,
                    waited_ms=waited_ms,
                )
                request.resolve(run)
                runs.append(run)
        self._queue.clear()
        return runs

    def _submit_fitting(self, now: float) -> None:
        """Submit calls while admission has room: from the first request alone, or (a device
        lane) gathered across requests once the batching says a call is full or due."""
        while self._queue:
            request = self._queue[0]
            if not request.waiting:
                self._queue.popleft()
                continue
            if self.batching is None:
                waiting = len(request.waiting)
            else:
                waiting = self.waiting_rows()
                if not self.batching.ready(waiting, request.enqueued_at, now):
                    return
            take = self.admission.next_call_rows(waiting)
            if take == 0:
                return
            self._submit(self._take(take), now)

    def _take(self, rows: int) -> tuple[_Segment, ...]:
        """Pop ``rows`` waiting rows from the front of the queue, request after request."""
        segments: list[_Segment] = []
        while rows > 0:
            request = self._queue[0]
            count = min(rows, len(request.waiting))
            positions = tuple(request.waiting.popleft() for _ in range(count))
            if positions:
                segments.append(_Segment(request, positions))
            if not request.waiting:
                self._queue.popleft()
            rows -= count
        return tuple(segments)

    def _submit(self, segments: tuple[_Segment, ...], now: float) -> None:
        call = _Call(segments, now, 0.0)
        rows = call.row_count
        call.deadline_s = self.call_deadline_s(rows)
        call.future = self._executor.submit(self._timed, call.inputs(), call)
        call.future.add_done_callback(self._on_done)
        call.running_since(now)  # an idle pool may have started it already
        self._calls.append(call)
        self.admission.admit(rows)
        self.stats.admitted_rows += rows

    def _drop_empty(self) -> None:
        self._queue = deque(request for request in self._queue if request.waiting)

    def _timed(self, inputs: InputArray, call: _Call) -> tuple[FloatArray, float]:
        """Runs on the pool's thread: the model on one call's rows, timed."""
        start = call.started = self._clock.monotonic()
        scores = np.asarray(self.model.predict_batch(inputs), dtype=np.float64)
        if scores.shape != (len(inputs),):
            raise ValueError(f"{self.name} returned shape {scores.shape} for {len(inputs)} rows")
        return scores, (self._clock.monotonic() - start) * 1000.0

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

The lane joins three parts: the rows waiting in front of it (``lane_queue``, pure), the
calls it submitted (``lane_calls``, the only state other threads write) and its admission
(``admission``). Used from one thread (the poll loop); the pool's threads only run
``_timed``.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from consumer.clock import Clock
from consumer.ensemble.admission import LaneAdmission
from consumer.ensemble.lane_calls import Answer, Call, CallLedger
from consumer.ensemble.lane_queue import Dropped, LaneQueue
from consumer.ensemble.model_runs import FloatArray, InputArray, LaneRequest, ModelRun
from consumer.ensemble.pools import Pool
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


@dataclass
class LaneStats:
    """Cumulative counts, read by the poll loop for metrics."""

    admitted_rows: int = 0
    deferred_rows: int = 0
    skipped_rows: int = 0


class ModelLane:
    """One model bound to its pool, deadline and admission. Not thread-safe: the poll
    loop's; the pool's threads touch only its ledger of calls."""

    def __init__(
        self,
        model: ScoringModel,
        executor: Pool,
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
        self._pool = executor
        self._clock = clock
        self._queue = LaneQueue()
        self._calls = CallLedger()

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
        return self._queue.waiting_rows()

    def queued_rows(self) -> int:
        """Rows the lane has not answered yet: waiting in front of it or held by it."""
        return self.waiting_rows() + self.admission.held_rows

    def stuck(self, now: float) -> bool:
        """True while a call runs past its deadline."""
        return self._calls.stuck(now)

    def answers_waiting(self) -> bool:
        """Whether a submitted call has finished (or was cancelled) and waits for ``pump``.
        O(1): counted by done callbacks, never by scanning the calls."""
        return self._calls.answers_waiting()

    def futures(self) -> list[Future[Answer]]:
        """The unanswered calls that can finish next: the started ones and the first queued
        one (the calls behind it cannot start before it)."""
        return self._calls.futures(self._clock.monotonic())

    def next_deadline(self) -> float | None:
        """Monotonic time of the earliest deadline of an unanswered running call, or of a
        gathered call's wait bound (a device lane), whichever comes first."""
        now = self._clock.monotonic()
        ends = self._calls.running_ends(now)
        if self.batching is not None:
            wake = self.batching.wake_at(self._queue.oldest_waiting(), now)
            if wake is not None:
                ends.append(wake)
        return min(ends) if ends else None

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
        expired = self._queue.expire(now)
        resolved += self._dropped(expired, ModelStatus.SKIPPED, now, reason="max_event_age")
        self.stats.skipped_rows += sum(len(rows) for _, rows in expired)
        if self.stuck(now):
            resolved += self._fail_waiting(now)
        else:
            self._submit_fitting(now)
        return resolved

    def _collect(self, now: float) -> list[ModelRun]:
        resolved: list[ModelRun] = []
        for call, done in self._calls.collect(now):
            if done:
                resolved += self._finished(call, now)
            else:  # past its deadline: how long it ran, ~ its deadline
                resolved += self._resolve(call, ModelStatus.TIMEOUT, call.ran_ms(now))
        return resolved

    def _finished(self, call: Call, now: float) -> list[ModelRun]:
        rows = call.row_count
        assert call.future is not None
        if call.future.cancelled() or call.future.exception() is not None:
            self.admission.release(rows, None)
            if call.reported:
                return []
            return self._resolve(call, ModelStatus.FAILED, call.ran_ms(now))
        scores, latency_ms = call.future.result()
        self.admission.release(rows, latency_ms / 1000.0)
        if call.reported:
            return []  # its deadline passed: the late result is dropped
        if latency_ms > call.deadline_s * 1000.0:  # finished late, before anyone looked
            return self._resolve(call, ModelStatus.TIMEOUT, latency_ms)
        return self._resolve(call, ModelStatus.OK, latency_ms, scores)

    def _resolve(
        self,
        call: Call,
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

    def _dropped(
        self, dropped: list[Dropped], status: ModelStatus, now: float, reason: str | None = None
    ) -> list[ModelRun]:
        """One run per request for rows that leave the queue without a call: ``skipped``
        (too old) or ``timeout`` (behind a stuck call, with how long they waited)."""
        runs: list[ModelRun] = []
        for request, rows in dropped:
            waited_ms = None if reason else (now - request.enqueued_at) * 1000.0
            run = ModelRun(
                self.name,
                status,
                self.model.version,
                None,
                rows,
                None,
                self.budget_ms,
                waited_ms=waited_ms,
                reason=reason,
            )
            request.resolve(run)
            runs.append(run)
        return runs

    def _fail_waiting(self, now: float) -> list[ModelRun]:
        """The lane is stuck: rows in front of it (waiting, or submitted and not started)
        are answered ``timeout`` now."""
        runs: list[ModelRun] = []
        for call in self._calls.cancel_queued(now):
            self.admission.release(call.row_count, None)
            waited_ms = (now - call.submitted) * 1000.0  # it never ran
            runs += self._resolve(call, ModelStatus.TIMEOUT, None, None, waited_ms)
        return runs + self._dropped(self._queue.drain(), ModelStatus.TIMEOUT, now)

    def _submit_fitting(self, now: float) -> None:
        """Submit calls while admission has room: from the first request alone, or (a device
        lane) gathered across requests once the batching says a call is full or due."""
        while take := self.admission.next_call_rows(self._queue.call_rows(now, self.batching)):
            call = Call(self._queue.take(take), now, 0.0)
            rows = call.row_count
            call.deadline_s = self.call_deadline_s(rows)
            self._calls.submit(self._pool, self._timed, call, now)
            self.admission.admit(rows)
            self.stats.admitted_rows += rows

    def _timed(self, inputs: InputArray, call: Call) -> Answer:
        """Runs on the pool's thread: the model on one call's rows, timed."""
        start = self._clock.monotonic()
        call.start(start)
        scores = np.asarray(self.model.predict_batch(inputs), dtype=np.float64)
        if scores.shape != (len(inputs),):
            raise ValueError(f"{self.name} returned shape {scores.shape} for {len(inputs)} rows")
        return scores, (self._clock.monotonic() - start) * 1000.0

"""The one owner of an exactly-once worker's transactional producer: the one in use, its
replacements, and the calls left stuck on their threads, each holding a replaced producer
(librdkafka #5456, ``consumer.engine.txn_calls``) with their bound, a metric
(``moodstream_txn_stuck_calls``) and a health reason while any is left.

A replacement drops the producer in use (purged, never flushed or closed: that would wait
on the broker; a call stuck in it keeps it alive on its thread until the call returns)
and makes a new one with the same transactional id, whose ``init_transactions`` fences the
old one and ends its open transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from consumer.clock import Clock
from consumer.engine.txn_calls import MAX_STUCK_CALLS, BoundedCalls, InlineCalls
from consumer.engine.txn_clients import TxnProducer
from consumer.logs import log_event

if TYPE_CHECKING:
    from consumer.observability.metrics import Metrics

_log = logging.getLogger("moodstream.delivery")
#: ``report(reason)``: a reason the worker is not ready, or None once there is none.
Report = Callable[[str | None], None]


class ProducerLife:
    """The producer in use (``producer``), ``replace`` and the stuck calls (``bounded``,
    ``refresh``). ``make`` creates a producer with the worker's transactional id (None:
    none can be replaced). Not thread-safe: the poll loop's thread."""

    def __init__(
        self,
        first: TxnProducer,
        clock: Clock,
        *,
        make: Callable[[], TxnProducer] | None = None,
        bounded: BoundedCalls | None = None,
        metrics: Metrics | None = None,
        report: Report | None = None,
    ) -> None:
        self._producer = first
        self._clock = clock
        self._make = make
        self._bounded: BoundedCalls = bounded if bounded is not None else InlineCalls()
        self._metrics = metrics
        self._report = report
        self._stuck = 0
        self.recreated = 0

    @property
    def producer(self) -> TxnProducer:
        return self._producer

    @property
    def replaceable(self) -> bool:
        return self._make is not None

    @property
    def stuck(self) -> int:
        """Calls left running past their bound at the last ``refresh``."""
        return self._stuck

    def bounded(self, call: Callable[[], None], bound_s: float, alive: Callable[[], None]) -> None:
        """Run a call that may block past its timeout (``BoundedCalls``); raises what it
        raises, CallStuck or TooManyStuckCalls. Blocks up to ``bound_s``."""
        try:
            self._bounded(call, bound_s, alive)
        finally:
            self.refresh()

    def refresh(self) -> int:
        """Count the calls still stuck; when the count changed, set the gauge and tell the
        health reporter (a reason while any is left). Returns the count. Does not block
        (the health file is written by the loop's next heartbeat)."""
        left = self._bounded.left()
        if left == self._stuck:
            return left
        self._stuck = left
        if self._metrics is not None:
            self._metrics.txn_stuck_calls.set(left)
        if self._report is not None:
            self._report(self.reason())
        log_event(_log, "txn_stuck_calls", level=logging.WARNING if left else logging.INFO,
                  still_running=left, limit=MAX_STUCK_CALLS)  # fmt: skip
        return left

    def reason(self) -> str | None:
        """Why the worker is not ready while a stuck call is left (None: none is)."""
        if not self._stuck:
            return None
        return (
            f"{self._stuck} transactional call(s) stuck on their threads, each holding a "
            f"replaced producer (librdkafka #5456; the worker restarts at {MAX_STUCK_CALLS})"
        )

    def replace(self, why: str, init: Callable[[TxnProducer], None]) -> TxnProducer:
        """Drop the producer in use, make a new one and ``init(new)`` it (its
        ``init_transactions``, retried by the caller). Blocks while ``init`` does; raises
        what it raises (the new producer is then the one in use, uninitialised)."""
        assert self._make is not None, "no producer factory"
        started = self._clock.monotonic()
        old, self._producer = self._producer, self._make()
        try:
            old.purge(in_queue=True, in_flight=True, blocking=False)
        except Exception as exc:  # a stuck or fatal producer: it is dropped anyway
            log_event(_log, "producer_purge_failed", level=logging.WARNING, error=str(exc))
        del old  # destroyed now, or by the thread of a call still stuck in it
        init(self._producer)
        self.recreated += 1
        if self._metrics is not None:
            self._metrics.producer_recreated.inc()
        seconds = round(self._clock.monotonic() - started, 3)
        log_event(_log, "producer_recreated", level=logging.WARNING, error=why,
                  seconds=seconds, stuck_calls=self.refresh())  # fmt: skip
        return self._producer

"""Why the loop takes no input now, and the one place that pauses and resumes partitions.

Three owners stop the input, each through a named reason of the pure ``FetchGate``: the
start-up gate (``starting``), a batch held for the Schema Registry (``schema_registry``,
``RegistryWait``) and lasting back-pressure (``inflight``, ``pat_pending``; a shorter one
only *holds*: ``Backpressure``). ``FlowControl`` feeds them in and applies the gate's
changes to the assigned partitions. Runs on the loop's thread; pause and resume do not
block.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from consumer.clock import Clock
from consumer.engine.backpressure import Backpressure, Change
from consumer.engine.fetch_gate import FetchGate
from consumer.engine.membership import partitions_of
from consumer.engine.offsets import TopicPartitionKey
from consumer.engine.recorder import Recorder
from consumer.logs import log_event
from consumer.schema_registry.wait import RegistryWait

if TYPE_CHECKING:
    from consumer.engine.ports import LoopConsumer

_log = logging.getLogger("moodstream.runner")
T = TypeVar("T")


class FlowControl:
    def __init__(
        self,
        consumer: LoopConsumer,
        assigned: Callable[[], set[TopicPartitionKey]],
        backpressure: Backpressure,
        recorder: Recorder,
        clock: Clock,
        *,
        starting: bool,
    ) -> None:
        self._consumer = consumer
        self._assigned = assigned
        self.backpressure = backpressure
        self.gate = FetchGate(("starting",) if starting else ())
        self._recorder = recorder
        self._clock = clock

    @property
    def holding(self) -> bool:
        """Back-pressure holds the input: take no message (partitions not paused)."""
        return self.backpressure.holding

    def set(self, reason: str, on: bool) -> None:
        """Hold or clear one pause reason and apply the gate's change to the assigned
        partitions. Does not block."""
        self.gate.set(reason, on)
        change = self.gate.take_change()
        assigned = self._assigned()
        if change is Change.PAUSE and assigned:
            self._consumer.pause(partitions_of(assigned))
        elif change is Change.RESUME and assigned:
            self._consumer.resume(partitions_of(assigned))

    def apply_backpressure(self, inflight: int, pat_pending: int) -> None:
        """At either bound hold the input, pause the partitions once that lasts, take
        messages and resume below both release counts (``consumer.engine.backpressure``).
        A loop without partitions has nothing to hold."""
        self._recorder.inflight(inflight)
        state = self.backpressure
        if not self._assigned() and not (state.paused or state.holding):
            return
        cause = state.paused_for or state.held_for
        change, lasted_s = state.update(inflight, pat_pending, self._clock.monotonic())
        if change is Change.PAUSE and state.paused_for is not None:
            self.set(state.paused_for, True)
            self._recorder.pause(state.paused_for)
            log_event(
                _log, "paused", cause=state.paused_for, inflight=inflight, pat_pending=pat_pending
            )
        elif change in (Change.RESUME, Change.RELEASE) and cause is not None:
            self._recorder.paused(cause, lasted_s)
            if change is Change.RESUME:
                self.set(cause, False)
                log_event(_log, "resumed", inflight=inflight, pat_pending=pat_pending)

    def hold_for_registry(self, wait: RegistryWait[T], batch: list[T], reason: str) -> None:
        """Hold ``batch`` while the Schema Registry does not answer (partitions paused,
        polling on) until ``wait``'s retry is due."""
        hold_logged(wait, batch, self._clock.monotonic(), reason)
        self.set("schema_registry", True)

    def end_registry_wait(self, wait: RegistryWait[T]) -> None:
        """The registry answered again (or nothing is held any more): resume polling."""
        recovered_logged(wait, self._clock.monotonic())
        self.set("schema_registry", False)


def hold_logged(wait: RegistryWait[T], batch: list[T], now: float, reason: str) -> None:
    """``wait.hold`` the batch (monotonic ``now``), logged (``schema_registry_unavailable``)."""
    pause_s = wait.hold(batch, now, reason)
    log_event(
        _log,
        "schema_registry_unavailable",
        level=logging.WARNING,
        error=reason,
        held=len(batch),
        retry_in_s=round(pause_s, 3),
    )


def recovered_logged(wait: RegistryWait[T], now: float) -> bool:
    """``wait.recovered()``; True (logged: ``schema_registry_recovered``) when a wait
    ended."""
    waited_since = wait.recovered()
    if waited_since is None:
        return False
    log_event(_log, "schema_registry_recovered", waited_s=round(now - waited_since, 3))
    return True

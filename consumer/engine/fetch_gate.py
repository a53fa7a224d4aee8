"""Whether the worker's assigned partitions are paused: one pure gate over named reasons.

Every owner of a pause sets or clears its own reason; the partitions are paused while any
reason holds and resumed when the last one clears, so no owner resumes what another
still needs paused. The reasons: ``starting`` (the start-up gate: the group has not
settled, ``consumer.kafka.group_settle``), ``schema_registry`` (a batch waits for the
registry), and the back-pressure causes of ``consumer.engine.backpressure`` once it
pauses (``inflight``, ``pat_pending``). Newly assigned partitions take ``paused``
(librdkafka keeps a partition's paused state across revoke and re-assign). No Kafka, no
clock; the caller applies ``take_change``. Not thread-safe: one owner, the poll loop.
"""

from __future__ import annotations

from collections.abc import Iterable

from consumer.engine.backpressure import Change

REASONS: tuple[str, ...] = ("starting", "schema_registry", "inflight", "pat_pending")


class FetchGate:
    def __init__(self, reasons: Iterable[str] = ()) -> None:
        """Start with ``reasons`` holding (partitions assigned from now on start paused)."""
        self._reasons: set[str] = set()
        for reason in reasons:
            self.set(reason, True)
        self._applied = self.paused  # the state the assigned partitions are in

    @property
    def paused(self) -> bool:
        return bool(self._reasons)

    @property
    def reasons(self) -> frozenset[str]:
        return frozenset(self._reasons)

    def set(self, reason: str, on: bool) -> None:
        """Hold (``on``) or clear ``reason``. Raises ValueError for an unknown reason."""
        if reason not in REASONS:
            raise ValueError(f"unknown pause reason {reason!r}")
        if on:
            self._reasons.add(reason)
        else:
            self._reasons.discard(reason)

    def take_change(self) -> Change:
        """What to do to the assigned partitions now: ``PAUSE`` or ``RESUME`` when the
        wanted state differs from the last one taken, else ``NONE``."""
        if self.paused == self._applied:
            return Change.NONE
        self._applied = self.paused
        return Change.PAUSE if self._applied else Change.RESUME

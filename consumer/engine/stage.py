"""What a stage other than scoring needs of the engine: a processing contract and ordered
at-least-once delivery.

``Stage``: given a batch of polled records, the outputs of each input offset (in order),
and the records that must be durable only after those outputs (a store's changelog);
``before_commit`` runs before offsets may be committed (a local store's flush).

``OrderedAtLeastOnce`` is the engine's ``AtLeastOnce`` with one more step: a batch's
*after* records (a changelog) are produced only once every output of the batch is
acknowledged, and the batch's offsets are committable only once those are acknowledged
too. So a crash never leaves a changelog saying a revision was sent when its event was
lost: the worst is an output sent twice (replayed with the same ``event_id``).
Since every record of a batch is acknowledged when its ``flush`` returns with none left
(and no failure reported), offsets are released for the whole batch at once, not per
record: a record's delivery report matters only when it failed, so the producer may be
configured to send only those (``delivery.report.only.error``: no report object, no
Python call per acknowledged record). Used from the poll loop's thread only.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any, Protocol

from consumer.engine.batch_records import OutRecord, Polled, SourceResult
from consumer.engine.delivery import AtLeastOnce


class Stage(Protocol):
    """A stage's processing: pure apart from its own state; never produces itself."""

    def process(self, batch: Sequence[Polled]) -> tuple[list[SourceResult], list[OutRecord]]:
        """Per input offset its outputs (dead letters included), in input order; and the
        records to write once the outputs are durable. Raises only on a broken state."""
        ...

    def before_commit(self) -> None:
        """Make local state durable up to what was processed. Blocks on local disk."""
        ...


class OrderedAtLeastOnce(AtLeastOnce):
    """At-least-once delivery of outputs, then of the records that depend on them."""

    def publish_ordered(
        self, sources: list[SourceResult], after: list[OutRecord], timeout_s: float
    ) -> None:
        """Register ``sources`` (``begin``), publish their outputs, wait until they are
        acknowledged, then publish ``after``; every offset of the batch is held until
        ``after`` is acknowledged too. Blocks up to ``timeout_s`` on the
        acknowledgements; raises ``DeliveryFailed`` when an output was refused or not
        acknowledged in time (the offsets stay held: the worker stops)."""
        if not sources:
            return
        self.begin(sources)  # each offset held until both flushes below returned
        failed, produce = self._failed, self._produce
        for source in sources:
            for record in source.records:
                produce(record, partial(failed, record))
        self.wait_acknowledged(timeout_s)
        self._send(after, timeout_s)
        ack = self._tracker.ack
        for source in sources:
            ack(source.tp, source.offset)
        self._count_all([(source, record) for source in sources for record in source.records])

    def publish_untracked(
        self, records: list[OutRecord], after: list[OutRecord], timeout_s: float
    ) -> None:
        """Outputs of no input offset (a wall-clock timer's), then what depends on them.
        Blocks until both are acknowledged; raises ``DeliveryFailed``."""
        self._send(records, timeout_s)
        self._send(after, timeout_s)

    def _send(self, records: list[OutRecord], timeout_s: float) -> None:
        if not records:
            return
        failed, produce = self._failed, self._produce
        for record in records:
            produce(record, partial(failed, record))
        self.wait_acknowledged(timeout_s)
        none = SourceResult(("", -1), -1, self._clock.monotonic())
        self._count_all([(none, record) for record in records])

    def _failed(self, record: OutRecord, err: Any, _msg: Any) -> None:
        """A delivery report: kept when it says ``record`` failed (``wait_acknowledged``
        raises); an acknowledgement needs nothing (the flush's count says it)."""
        if err is not None:
            self._delivered(SourceResult(("", -1), -1, 0.0), record, err)

    def wait_acknowledged(self, timeout_s: float) -> None:
        """Block until every queued record is acknowledged; raises ``DeliveryFailed`` when
        one was refused or some are still unacknowledged after ``timeout_s``."""
        from consumer.engine.delivery import DeliveryFailed

        left = self._producer.flush(timeout_s)
        self._raise_on_failure()
        if left:
            raise DeliveryFailed(f"{left} records unacknowledged after {timeout_s} s")

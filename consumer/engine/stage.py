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
Used from the poll loop's thread only.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any, Protocol

from consumer.engine.batch_records import BatchResult, OutRecord, Polled, SourceResult
from consumer.engine.delivery import AtLeastOnce
from consumer.engine.offsets import TopicPartitionKey


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
        acknowledged, then publish ``after``; the first source of each partition is held (so
        the whole batch is) until ``after`` is acknowledged. Blocks up to ``timeout_s`` on
        the acknowledgements; raises ``DeliveryFailed`` when an output was refused or not
        acknowledged in time."""
        if not sources:
            return
        self.begin(sources)
        anchors = _first_per_partition(sources)
        for anchor in anchors.values():
            self._tracker.add(anchor.tp, anchor.offset, 1)  # released by the 2nd publish
        self.publish(BatchResult(sources))
        self.wait_acknowledged(timeout_s)
        self._send(after, timeout_s)
        held = [SourceResult(a.tp, a.offset, a.polled_at) for a in anchors.values()]
        self.publish(BatchResult(held))  # no records: releases the holds

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
        none = SourceResult(("", -1), -1, self._clock.monotonic())
        for record in records:
            self._produce(record, partial(self._acked, none, record))
        self.wait_acknowledged(timeout_s)

    def _acked(self, source: SourceResult, record: OutRecord, err: Any, _msg: Any) -> None:
        self._delivered(source, record, err)

    def wait_acknowledged(self, timeout_s: float) -> None:
        """Block until every queued record is acknowledged; raises ``DeliveryFailed`` when
        one was refused or some are still unacknowledged after ``timeout_s``."""
        from consumer.engine.delivery import DeliveryFailed

        left = self._producer.flush(timeout_s)
        self._raise_on_failure()
        if left:
            raise DeliveryFailed(f"{left} records unacknowledged after {timeout_s} s")


def _first_per_partition(sources: list[SourceResult]) -> dict[TopicPartitionKey, SourceResult]:
    """The first source of each partition: held, it holds every later one of the batch
    (offsets commit as a contiguous prefix)."""
    first: dict[TopicPartitionKey, SourceResult] = {}
    for source in sources:
        first.setdefault(source.tp, source)
    return first

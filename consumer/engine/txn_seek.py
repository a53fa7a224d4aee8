"""Rewinding the consumer after an aborted or replaced transaction, without ever going on
past an aborted batch.

A seek that fails for a partition this worker no longer owns (revoked, lost, deleted) is
skipped: its new owner reads from the group's committed offset. A seek that fails for a
partition it still owns cannot be skipped: the next transaction would commit offsets past
the aborted batch, whose events were never published (silent loss). Such a partition is
sought again at the group's committed offset (after an aborted transaction that is where
its batch began); if that fails too, ``RewindFailed`` restarts the worker, whose new
consumer starts at the committed offsets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from consumer.clock import Clock
from consumer.engine.offsets import TopicPartitionKey
from consumer.engine.txn_clients import TxnConsumer
from consumer.engine.txn_policy import Phase
from consumer.engine.txn_retry import Retrying
from consumer.engine.txn_rewind import committed_retriable, rewind_targets
from consumer.errors import MoodstreamError
from consumer.logs import log_event

if TYPE_CHECKING:
    from confluent_kafka import TopicPartition

_log = logging.getLogger("moodstream.delivery")
#: (topic, partition, offset) to seek.
Target = tuple[str, int, int]
#: The group's committed offsets of some partitions (negative: none); blocks, raises
#: ``KafkaException``.
CommittedOffsets = Callable[[list["TopicPartition"]], dict[TopicPartitionKey, int]]


class RewindFailed(MoodstreamError):
    """A partition this worker still owns could not be rewound after an aborted batch;
    the worker restarts rather than commit past it."""


def seek_each(consumer: TxnConsumer, targets: list[Target]) -> tuple[list[int], dict[Target, str]]:
    """Seek every target. Returns the partitions rewound and, for each target whose seek
    failed while its partition is still assigned, the error; a partition no longer
    assigned is skipped. Does not block (a seek sets the next fetch position)."""
    from confluent_kafka import KafkaException, TopicPartition

    rewound: list[int] = []
    failed: dict[Target, str] = {}
    for target in targets:
        topic, partition, offset = target
        try:
            consumer.seek(TopicPartition(topic, partition, offset))
            rewound.append(partition)
        except KafkaException as exc:
            failed[target] = str(exc.args[0])
    if failed:
        owned = {(tp.topic, tp.partition) for tp in consumer.assignment()}
        failed = {t: error for t, error in failed.items() if (t[0], t[1]) in owned}
    return rewound, failed


def rewind(consumer: TxnConsumer, targets: list[Target], committed: CommittedOffsets) -> list[int]:
    """Seek every target (``seek_each``); seek the partitions still owned whose seek failed
    again at the group's committed offsets (the target's offset where none is committed).
    Returns the partitions rewound. Blocks while ``committed`` does; raises RewindFailed
    when an owned partition still cannot be rewound or its committed offset not read."""
    from confluent_kafka import KafkaException, TopicPartition

    rewound, failed = seek_each(consumer, targets)
    if not failed:
        return rewound
    log_event(_log, "rewind_seek_failed", level=logging.WARNING, failed=_described(failed))
    first = {(topic, partition): offset for topic, partition, offset in failed}
    try:
        offsets = committed([TopicPartition(topic, partition) for topic, partition in first])
    except KafkaException as exc:
        raise RewindFailed(_message(failed, f"committed offsets unread: {exc.args[0]}")) from exc
    again, still = seek_each(consumer, rewind_targets(offsets, first))
    if still:
        raise RewindFailed(_message(still, "the seek to the committed offset failed too"))
    return rewound + again


def _described(failed: dict[Target, str]) -> str:
    return ", ".join(f"{t}[{p}]@{o}: {error}" for (t, p, o), error in sorted(failed.items()))


def _message(failed: dict[Target, str], then: str) -> str:
    return (
        f"cannot rewind past an aborted batch ({_described(failed)}; {then}): restarting "
        "the worker, which resumes at the group's committed offsets"
    )


class Rewinder:
    """Where the consumer goes on after an aborted or replaced transaction: the batch's
    first offsets, or the group's committed ones. The committed offsets are read again
    while the table says ``retry``, all reads of one rewind within ``committed_s``. Not
    thread-safe (the poll loop's thread)."""

    def __init__(
        self, consumer: TxnConsumer, retry: Retrying, clock: Clock, committed_s: float
    ) -> None:
        self._consumer = consumer
        self._retry = retry
        self._clock = clock
        self._committed_s = committed_s

    def to_batch_start(self, first: dict[TopicPartitionKey, int]) -> list[int]:
        """Seek each partition of the batch to its first offset (``rewind``). Returns the
        partitions rewound; raises RewindFailed."""
        targets = [(t, p, offset) for (t, p), offset in sorted(first.items())]
        return rewind(self._consumer, targets, self._reader())

    def to_committed(
        self, first: dict[TopicPartitionKey, int], by: float | None = None
    ) -> list[int]:
        """Seek every assigned partition to the group's committed offset (the batch's
        first offset where none is committed). Blocks up to ``committed_s`` plus a call,
        and not past ``by`` (a monotonic deadline shared with the replacement before it);
        raises KafkaException (unread) or RewindFailed."""
        assigned = self._consumer.assignment()
        reader = self._reader(by)
        offsets = reader(assigned) if assigned else {}
        return rewind(self._consumer, rewind_targets(offsets, first), reader)

    def _reader(self, by: float | None = None) -> CommittedOffsets:
        deadline = self._clock.monotonic() + self._committed_s
        if by is not None:
            deadline = min(deadline, by)
        return lambda partitions: self._committed(partitions, deadline)

    def _committed(
        self, partitions: list[TopicPartition], deadline: float
    ) -> dict[TopicPartitionKey, int]:
        """The group's committed offsets of ``partitions`` (negative: none). Blocks up to
        ``deadline`` plus one call; raises KafkaException."""
        from confluent_kafka import KafkaException

        found: list[TopicPartition] = []

        def fetch(timeout_s: float) -> None:
            found[:] = self._consumer.committed(partitions, timeout_s)
            for tp in found:
                if tp.error is not None:
                    raise KafkaException(tp.error)

        self._retry.alive(Phase.COMMITTED)
        self._retry.run_or_raise(Phase.COMMITTED, fetch, deadline, committed_retriable())
        return {(tp.topic, tp.partition): tp.offset for tp in found}

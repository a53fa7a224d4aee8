"""The offsets the exactly-once publisher commits in a transaction, and where it rewinds
the consumer to. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from consumer.engine.batch_records import SourceResult
from consumer.engine.offsets import TopicPartitionKey, streak_metadata

if TYPE_CHECKING:
    from confluent_kafka import TopicPartition


def batch_offsets(sources: list[SourceResult]) -> list[TopicPartition]:
    """The offsets to commit with the batch: its last offset + 1 per partition, with the
    invalid-event streak in the metadata."""
    from confluent_kafka import TopicPartition

    last: dict[TopicPartitionKey, SourceResult] = {}
    for source in sources:
        if source.tp not in last or source.offset > last[source.tp].offset:
            last[source.tp] = source
    return [
        TopicPartition(t, p, s.offset + 1, metadata=streak_metadata(s.invalid_streak))
        for (t, p), s in last.items()
    ]


def committed_retriable() -> frozenset[int]:
    """The errors of ``Consumer.committed`` worth another try though librdkafka does not
    flag them retriable (the group coordinator moving or loading, a pending transaction's
    offsets)."""
    from confluent_kafka import KafkaError

    return frozenset(
        {
            KafkaError._TIMED_OUT,
            KafkaError._WAIT_COORD,
            KafkaError.COORDINATOR_NOT_AVAILABLE,
            KafkaError.NOT_COORDINATOR,
            KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
            KafkaError.UNSTABLE_OFFSET_COMMIT,
            KafkaError._TRANSPORT,
        }
    )


def first_offsets(sources: list[SourceResult]) -> dict[TopicPartitionKey, int]:
    """The batch's first (lowest) offset per partition."""
    first: dict[TopicPartitionKey, int] = {}
    for source in sources:
        first[source.tp] = min(first.get(source.tp, source.offset), source.offset)
    return first


def rewind_targets(
    committed: Mapping[TopicPartitionKey, int], first: Mapping[TopicPartitionKey, int]
) -> list[tuple[str, int, int]]:
    """(topic, partition, offset) to seek, sorted: each assigned partition's committed
    offset, which tells whether a transaction of unknown outcome committed; for a partition
    of the batch with nothing committed (a negative offset), the batch's first offset.
    Partitions of the batch no longer assigned (absent from ``committed``) are left to
    their new owner."""
    targets = []
    for (topic, partition), offset in sorted(committed.items()):
        if offset < 0:
            if (topic, partition) not in first:
                continue
            offset = first[(topic, partition)]
        targets.append((topic, partition, offset))
    return targets

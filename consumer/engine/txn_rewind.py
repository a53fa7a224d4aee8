"""Where the exactly-once publisher rewinds the consumer to. Pure."""

from __future__ import annotations

from collections.abc import Mapping

from consumer.engine.batch_records import SourceResult
from consumer.engine.offsets import TopicPartitionKey


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

"""The poison-flood rule of every stage (the count: ``consumer.intake.invalid_runs``): the
worker stops after publishing and committing the batch that crossed it. The run travels
with the partition in its commit metadata (``offsets.streak_metadata``), so the next owner
goes on counting where the last one stopped (``read_committed`` at assignment).

``InvalidStreaks`` is pure state, not thread-safe (the poll loop's); ``read_committed``
blocks on the broker.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

from consumer.engine.batch_records import SourceResult
from consumer.engine.offsets import TopicPartitionKey, parse_streak
from consumer.errors import PoisonFloodError
from consumer.intake.invalid_runs import InvalidRuns

if TYPE_CHECKING:
    from confluent_kafka import TopicPartition

COMMITTED_TIMEOUT_S = 5.0


class InvalidStreaks(InvalidRuns):
    """``InvalidRuns`` over a processed batch's sources (the windows stage's processing
    yields them with their dead letters already built)."""

    def observe(self, sources: Iterable[SourceResult]) -> PoisonFloodError | None:
        """Count a processed batch (a source is invalid when it produced a dead letter;
        it carries its run as ``invalid_streak``, for the commit metadata); the first
        flood it reached, if any."""
        flood: PoisonFloodError | None = None
        for source in sources:
            if any(record.kind == "dead_letter" for record in source.records):
                source.invalid_streak = self.invalid(source.tp)
            else:
                self.valid(source.tp)
            flood = flood or self.flood(source.tp)
        return flood


class CommittedReader(Protocol):
    def committed(
        self, partitions: list[TopicPartition], /, *, timeout: float
    ) -> list[TopicPartition]: ...


def read_committed(
    consumer: CommittedReader, partitions: list[TopicPartition]
) -> tuple[dict[TopicPartitionKey, int], dict[TopicPartitionKey, int]] | None:
    """The group's committed offsets of ``partitions`` and the invalid-input runs their
    metadata carries (only those above 0); None when the broker did not answer. Blocks up
    to ``COMMITTED_TIMEOUT_S`` (one round trip)."""
    from confluent_kafka import KafkaException

    try:
        committed = consumer.committed(partitions, timeout=COMMITTED_TIMEOUT_S)
    except KafkaException:
        return None
    offsets = {(tp.topic, tp.partition): tp.offset for tp in committed}
    streaks = {(tp.topic, tp.partition): parse_streak(tp.metadata) for tp in committed}
    return offsets, {tp: n for tp, n in streaks.items() if n}

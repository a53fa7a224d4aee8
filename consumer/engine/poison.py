"""The poison-flood rule of every stage: per input partition, the run of consecutive
invalid inputs (dead letters); once it reaches ``PROCESSING__DLQ_MAX_CONSECUTIVE`` the
worker stops with ``PoisonFloodError`` (exit 6, not restarted: the upstream producer is
broken) after publishing and committing the batch that crossed it. The run travels with
the partition in its commit metadata (``offsets.streak_metadata``), so the next owner
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

if TYPE_CHECKING:
    from confluent_kafka import TopicPartition

COMMITTED_TIMEOUT_S = 5.0


class InvalidStreaks:
    """Consecutive invalid inputs per partition, against the flood ``limit``."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._runs: dict[TopicPartitionKey, int] = {}

    def invalid(self, source: SourceResult) -> None:
        """``source`` was dead-lettered: its partition's run grows; the source carries it
        (``invalid_streak``, for the commit metadata)."""
        self._runs[source.tp] = self._runs.get(source.tp, 0) + 1
        source.invalid_streak = self._runs[source.tp]

    def valid(self, tp: TopicPartitionKey) -> None:
        """A valid input ends its partition's run."""
        self._runs[tp] = 0

    def flood(self, tp: TopicPartitionKey) -> PoisonFloodError | None:
        """The error to stop with once ``tp``'s run has reached the limit, else None."""
        count = self._runs.get(tp, 0)
        return PoisonFloodError(tp[0], tp[1], count) if count >= self._limit else None

    def observe(self, sources: Iterable[SourceResult]) -> PoisonFloodError | None:
        """Count a processed batch (a source is invalid when it produced a dead letter);
        the first flood it reached, if any."""
        flood: PoisonFloodError | None = None
        for source in sources:
            if any(record.kind == "dead_letter" for record in source.records):
                self.invalid(source)
            else:
                self.valid(source.tp)
            flood = flood or self.flood(source.tp)
        return flood

    def inherit(self, streaks: dict[TopicPartitionKey, int]) -> None:
        """Go on from the runs the partitions' previous owner committed."""
        self._runs.update(streaks)

    def forget(self, partitions: Iterable[TopicPartitionKey]) -> None:
        for tp in partitions:
            self._runs.pop(tp, None)


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

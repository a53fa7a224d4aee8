"""A worker's ``consumer_lag`` gauge, from librdkafka's local caches only: never a broker
round trip on the hot path (the cluster-wide view is ``consumer.kafka.lag``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from confluent_kafka import KafkaException, TopicPartition

from consumer.kafka.lag import TopicPartitionKey, compute_lag

if TYPE_CHECKING:
    from prometheus_client import Gauge


class LagMetrics(Protocol):
    """Where the gauge goes: a stage's metrics with ``consumer_lag`` {topic, partition}
    (the scoring stage's ``Metrics``, the windows stage's ``WindowsMetrics``)."""

    @property
    def consumer_lag(self) -> Gauge: ...


class CachedOffsets(Protocol):
    """What the gauge reads of a consumer: its fetch positions and cached watermarks
    (librdkafka's ``Consumer`` satisfies it; neither call waits for the broker)."""

    def position(self, partitions: list[TopicPartition], /) -> list[TopicPartition]: ...
    def get_watermark_offsets(
        self, partition: TopicPartition, /, *, cached: bool = ...
    ) -> tuple[int, int] | None: ...


def update_lag_gauge(
    metrics: LagMetrics,
    consumer: CachedOffsets,
    partitions: Sequence[TopicPartition],
    committed: Mapping[TopicPartitionKey, int] | None = None,
    pending: Mapping[TopicPartitionKey, int] | None = None,
) -> None:
    """Refresh ``consumer_lag`` for the worker's assigned ``partitions``.

    Lag = cached high watermark - the oldest offset the worker has read but not yet
    published (``pending``: events held for a busy model count as behind, as they do for
    the commit), else - the consumer's fetch position; before anything was fetched since
    the assignment, - the partition's committed offset from ``committed`` (read once at
    assignment); without either, - the low watermark. Uses only
    librdkafka's caches (``get_watermark_offsets(cached=True)``, ``position``): never
    blocks on the broker. Partitions whose watermark is not known yet are left as they
    are. Call from the poll loop's thread, every few seconds; raises nothing.
    """
    if not partitions:
        return
    try:
        positions = {
            (tp.topic, tp.partition): tp.offset for tp in consumer.position(list(partitions))
        }
    except KafkaException:
        return
    for tp in partitions:
        key = (tp.topic, tp.partition)
        try:
            marks = consumer.get_watermark_offsets(tp, cached=True)
        except KafkaException:
            continue
        if marks is None or marks[1] < 0:
            continue
        low, high = marks
        start = positions.get(key, -1)
        if pending is not None and key in pending:
            start = pending[key] if start < 0 else min(start, pending[key])
        if start < 0 and committed is not None:  # nothing fetched since the assignment
            start = committed.get(key, -1)
        if start < 0 and low < 0:
            continue
        metrics.consumer_lag.labels(topic=tp.topic, partition=str(tp.partition)).set(
            compute_lag(start, low, high)
        )


def reset_lag_gauge(metrics: LagMetrics, partitions: Iterable[TopicPartition]) -> None:
    """Set ``consumer_lag`` to 0 for partitions this worker lost (revocation).

    In multiprocess mode the gauge is aggregated with ``livemax`` across workers and
    a label cannot be removed from the files, so 0 is how a worker lets go. Does not
    block; raises nothing.
    """
    for tp in partitions:
        metrics.consumer_lag.labels(topic=tp.topic, partition=str(tp.partition)).set(0)

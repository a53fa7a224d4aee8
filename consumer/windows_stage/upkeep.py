"""What the windows loop does besides processing, with the engine's own code:

- the poison-flood rule (``engine.poison``): each batch's dead letters extend their
  partition's run of invalid inputs, carried in the commit metadata and inherited at
  assignment; the runner stops with ``PoisonFloodError`` once a run reaches
  ``PROCESSING__DLQ_MAX_CONSECUTIVE`` (after publishing and committing that batch);
- the consumer-lag gauge of both inputs (``observability.lag_gauge``:
  ``moodstream_consumer_lag``, librdkafka's caches only) every ``LAG_REFRESH_S``;
- a batch held while the Schema Registry does not answer (``schema_registry.wait``:
  the assigned partitions paused, polling on, retried with backoff; nothing is
  dead-lettered or committed because of an outage).

Runs on the poll loop's thread; ``assigned`` blocks on one broker round trip.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from consumer.clock import Clock
from consumer.engine.batch_records import Polled
from consumer.engine.delivery import Publisher
from consumer.engine.flow_control import hold_logged, recovered_logged
from consumer.engine.membership import partitions_of
from consumer.engine.offsets import TopicPartitionKey
from consumer.engine.poison import InvalidStreaks, read_committed
from consumer.logs import log_event
from consumer.observability.lag_gauge import reset_lag_gauge, update_lag_gauge
from consumer.schema_registry.wait import RegistryWait
from consumer.settings import Settings

if TYPE_CHECKING:
    from confluent_kafka import Consumer, TopicPartition

    from consumer.windows_stage.metrics import WindowsMetrics

_log = logging.getLogger("moodstream.windows")
LAG_REFRESH_S = 5.0


class Upkeep:
    def __init__(
        self,
        consumer: Consumer,
        publisher: Publisher,
        settings: Settings,
        clock: Clock,
        metrics: WindowsMetrics | None = None,
    ) -> None:
        self._consumer = consumer
        self._publisher = publisher
        self._clock = clock
        self._metrics = metrics
        self.streaks = InvalidStreaks(settings.processing.dlq_max_consecutive)
        registry = settings.schema_registry
        self.wait: RegistryWait[Polled] = RegistryWait(
            registry.retry_initial_s, registry.retry_max_s
        )
        self._committed: dict[TopicPartitionKey, int] = {}
        self._last_lag = float("-inf")

    def assigned(self, partitions: list[TopicPartition]) -> None:
        """New partitions: their committed offsets (the lag until the first fetch) and
        invalid runs; paused while a batch waits for the registry, else resumed. Blocks
        up to 5 s."""
        read = read_committed(self._consumer, partitions)
        if read is not None:
            offsets, streaks = read
            self._committed.update(offsets)
            self.streaks.inherit(streaks)
        self._set_paused(partitions)

    def _set_paused(self, partitions: list[TopicPartition]) -> None:
        """Paused while a batch is held, else resumed: librdkafka keeps a partition's
        paused state across a revocation and a new assignment. Does not block."""
        from confluent_kafka import KafkaException

        if not partitions:
            return
        try:
            if self.wait.holding:
                self._consumer.pause(partitions)
            else:
                self._consumer.resume(partitions)
        except KafkaException as exc:  # set again at the next hold or recovery
            log_event(_log, "pause_state_failed", level=logging.WARNING, error=str(exc))

    def rewound(self, partitions: list[TopicPartition]) -> None:
        """A transaction was aborted and its batch will be read again: the runs go back
        to what was committed. Blocks up to 5 s."""
        self.streaks.forget((tp.topic, tp.partition) for tp in partitions)
        self.assigned(partitions)

    def let_go(self, partitions: set[TopicPartitionKey], still: list[TopicPartition]) -> None:
        """Partitions revoked or lost: runs, lag and held records dropped (never
        committed: the next owner reads them again); ``still``: those kept."""
        self.streaks.forget(partitions)
        for tp in partitions:
            self._committed.pop(tp, None)
        if self._metrics is not None:
            reset_lag_gauge(self._metrics, partitions_of(partitions))
        if self.wait.remove_if(lambda item: item.tp in partitions) and not self.wait.holding:
            self.recovered(still)

    def hold(self, batch: list[Polled], reason: str, assigned: list[TopicPartition]) -> None:
        """The registry did not answer: keep ``batch`` for a retry, pause the input."""
        hold_logged(self.wait, batch, self._clock.monotonic(), reason)
        self._set_paused(assigned)

    def recovered(self, assigned: list[TopicPartition]) -> None:
        """The registry answered (or nothing is held any more): resume the input."""
        if recovered_logged(self.wait, self._clock.monotonic()):
            self._set_paused(assigned)

    def lag(self, now: float, assigned: list[TopicPartition]) -> None:
        """Refresh the lag gauge when due. Never blocks on the broker."""
        if self._metrics is None or now - self._last_lag < LAG_REFRESH_S:
            return
        self._last_lag = now
        pending = self._publisher.oldest_pending()
        update_lag_gauge(self._metrics, self._consumer, assigned, self._committed, pending)

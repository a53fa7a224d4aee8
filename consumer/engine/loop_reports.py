"""What the poll loop reports now and then, outside its steps: health (every
``HEARTBEAT_S``: ready, assigned, stuck models, why not ready), the dead-letter summary,
the lanes' metrics, and the consumer-lag gauge (every ``LAG_REFRESH_S``). The loop hands
in its state (``LoopState``) and the time; this module decides when each is due. Runs on
the loop's thread; the lag refresh blocks on a broker round trip, the rest does not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from consumer.engine.delivery import Publisher
from consumer.engine.offsets import TopicPartitionKey
from consumer.engine.pipeline import Pipeline
from consumer.engine.recorder import Recorder
from consumer.ensemble.scoring import Ensemble

if TYPE_CHECKING:
    from confluent_kafka import TopicPartition

    from consumer.engine.ports import Health, LoopConsumer
    from consumer.observability.metrics import Metrics

HEARTBEAT_S = 1.0
LAG_REFRESH_S = 5.0


@dataclass(frozen=True)
class LoopState:
    """The loop's state the reports read."""

    joined: bool
    settled: bool
    assigned: list[TopicPartition]
    committed_at_assign: Mapping[TopicPartitionKey, int]
    registry_wait: str | None  # why a batch waits for the Schema Registry (None: none)


@dataclass
class LoopReports:
    consumer: LoopConsumer
    publisher: Publisher
    pipeline: Pipeline
    ensemble: Ensemble
    recorder: Recorder
    metrics: Metrics | None = None
    health: Health | None = None
    _last_heartbeat: float = float("-inf")
    _last_lag: float = float("-inf")

    def report_now(self) -> None:
        """Report health at the next ``tick`` instead of the next heartbeat."""
        self._last_heartbeat = float("-inf")

    def due(self, now: float) -> bool:
        """Whether a report is due at ``now`` (build the ``LoopState`` only then)."""
        lag_due = self.metrics is not None and now - self._last_lag >= LAG_REFRESH_S
        return lag_due or now - self._last_heartbeat >= HEARTBEAT_S

    def tick(self, now: float, state: LoopState) -> None:
        """Report what is due at ``now``. Blocks only for the lag refresh."""
        if now - self._last_heartbeat >= HEARTBEAT_S:
            self._last_heartbeat = now
            self.pipeline.log_dead_letters()
            self.recorder.lanes(self.ensemble.lanes())
            if self.health is not None:
                self._health(self.health, state)
        if self.metrics is not None and now - self._last_lag >= LAG_REFRESH_S:
            self._last_lag = now
            from consumer.observability.lag_gauge import update_lag_gauge

            pending = self.publisher.oldest_pending()
            update_lag_gauge(
                self.metrics, self.consumer, state.assigned, state.committed_at_assign, pending
            )

    def _health(self, health: Health, state: LoopState) -> None:
        stuck = self.ensemble.stuck_models()
        detail: dict[str, str] | str | None = None
        if state.registry_wait:
            detail = {"waiting_for_schema_registry": state.registry_wait}
        elif not state.settled:
            detail = "waiting for the consumer group to settle"
        health.update(
            ready=state.settled and not stuck,
            assigned=bool(state.assigned) if state.joined else None,
            stuck_models=stuck,
            detail=detail,
        )

    def forget(self, partitions: list[TopicPartition]) -> None:
        """Partitions let go: their lag reads 0 from this worker. Does not block."""
        if self.metrics is not None:
            from consumer.observability.lag_gauge import reset_lag_gauge

            reset_lag_gauge(self.metrics, partitions)

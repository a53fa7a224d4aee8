"""The poll loop: consume → micro-batch → pipeline → publish → commit. No model code.

One thread owns everything here (the worker's main thread); rebalance and delivery
callbacks run on it too, inside ``consume``/``poll``. Backpressure: when too many
offsets wait for acknowledgement, the assigned partitions are paused and the loop keeps
polling (group membership stays alive); they resume below half the bound (at zero for a
bound of 1). librdkafka keeps a partition's paused state across revoke and re-assign, so
every assignment explicitly pauses or resumes the partitions it brings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from consumer.batching import BatchPolicy, MicroBatcher
from consumer.clock import Clock
from consumer.delivery import Publisher
from consumer.ensemble import ModelRun
from consumer.errors import KafkaSetupError
from consumer.logs import log_event
from consumer.offsets import TopicPartitionKey, parse_streak
from consumer.pipeline import Pipeline, Polled, SourceResult, StartedBatch
from consumer.settings import Guarantee, Settings
from schemas import ModelStatus

if TYPE_CHECKING:
    from confluent_kafka import Consumer, Message, TopicPartition

    from consumer.observability.health import HealthReporter
    from consumer.observability.metrics import Metrics

_log = logging.getLogger("moodstream.runner")
IDLE_POLL_S = 0.1
REVOKE_TIMEOUT_S = 10.0
HEARTBEAT_S = 1.0
LAG_REFRESH_S = 5.0


def resume_below(bound: int) -> int:
    """In-flight count under which paused partitions resume: half the pause bound, and at
    least 1 so a bound of 1 resumes once nothing is in flight. Pure."""
    return max(1, bound // 2)


class Runner:
    def __init__(
        self,
        consumer: Consumer,
        publisher: Publisher,
        pipeline: Pipeline,
        settings: Settings,
        clock: Clock,
        *,
        metrics: Metrics | None = None,
        health: HealthReporter | None = None,
        stuck_models: Callable[[], list[str]] = list,
    ) -> None:
        self._consumer = consumer
        self._publisher = publisher
        self._pipeline = pipeline
        self._settings = settings
        self._clock = clock
        self._metrics = metrics
        self._health = health
        self._stuck_models = stuck_models
        processing = settings.processing
        policy = BatchPolicy(processing.max_batch_size, processing.max_batch_wait_ms / 1000.0)
        self._batcher: MicroBatcher[Polled] = MicroBatcher(policy)
        self._assigned: set[TopicPartitionKey] = set()
        self._committed_at_assign: dict[TopicPartitionKey, int] = {}
        self._paused = False
        self._last_heartbeat = float("-inf")
        self._last_lag = float("-inf")
        # At-least-once overlaps one batch's models with the next batch's decoding; a
        # transaction per batch (exactly-once) finishes each batch before the next.
        self._pipelined = processing.guarantee is Guarantee.AT_LEAST_ONCE
        self._in_flight: StartedBatch | None = None
        self.processed = 0

    def run(self, should_stop: Callable[[], bool]) -> None:
        """Block until ``should_stop()`` is true, then drain, flush, commit and close.

        Raises PoisonFloodError, DeliveryFailed or KafkaSetupError on fatal conditions
        (after committing what is done).
        """
        self._consumer.subscribe(
            [self._settings.topics.features],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        log_event(_log, "worker_started", topic=self._settings.topics.features)
        try:
            while not should_stop():
                self._step()
            self._drain()
        finally:
            self._close()

    def _step(self) -> None:
        now = self._clock.monotonic()
        left = self._batcher.time_left_s(now)
        timeout = IDLE_POLL_S if left is None else min(left, IDLE_POLL_S)
        if self._in_flight is not None:
            timeout = 0.0  # never sit on a batch whose models may be done
        self._accept(self._poll(timeout))
        if self._batcher.ready(self._clock.monotonic()):
            self._process(self._batcher.take())
        elif self._in_flight is not None:
            self._finish()  # no next batch ready to overlap with: publish now
        self._publisher.poll()
        self._apply_backpressure()
        now = self._clock.monotonic()
        self._publisher.maybe_commit(now)
        self._periodic(now)

    def _poll(self, timeout_s: float) -> list[Message]:
        """Wake on the first message when no batch is open (a batch-sized consume would wait
        the whole timeout for messages that are not coming); then take what is already
        fetched without waiting. Blocks up to ``timeout_s``."""
        room = max(1, self._batcher.room())
        if len(self._batcher) or room == 1:
            return self._consumer.consume(num_messages=room, timeout=timeout_s)
        messages = self._consumer.consume(num_messages=1, timeout=timeout_s)
        if messages:
            messages += self._consumer.consume(num_messages=room - 1, timeout=0)
        return messages

    def _accept(self, messages: Sequence[Message]) -> None:
        now = self._clock.monotonic()
        accepted = 0
        for message in messages:
            error = message.error()
            if error is not None:  # an error event from librdkafka, not an input record
                self._consumer_error(error)
                continue
            self._batcher.add(Polled(message, now), now)
            accepted += 1
        if accepted and self._metrics is not None:
            self._metrics.events_consumed.inc(accepted)

    def _consumer_error(self, error: Any) -> None:
        """A fatal or authorization error stops the worker (no restart can fix it); others
        are transient (librdkafka retries) and are logged."""
        from confluent_kafka import KafkaError

        if error.code() in (
            KafkaError.TOPIC_AUTHORIZATION_FAILED,
            KafkaError.GROUP_AUTHORIZATION_FAILED,
        ):
            raise KafkaSetupError(
                f"not authorized: {error.str()} (grant the service's principal READ on "
                f"{self._settings.topics.features} and the group "
                f"{self._settings.kafka.group_id}, and WRITE on its output topics)"
            )
        if error.fatal():
            raise KafkaSetupError(f"fatal consumer error: {error.str()}")
        log_event(_log, "consumer_error", level=logging.WARNING, error=error.str())

    def _process(self, batch: list[Polled]) -> None:
        """Decode the batch and start its models, then finish the batch before it (whose
        models ran meanwhile); this one stays in flight until the next step."""
        started = self._pipeline.start(batch)
        self._publisher.begin(started.sources)
        self._finish()
        self._in_flight = started
        if not self._pipelined:
            self._finish()

    def _finish(self) -> None:
        """Publish the in-flight batch part by part as its models answer: predictions that
        need no PAT do not wait for it (offsets still commit in order, via the ledger).
        Blocks up to the longest model deadline. Raises PoisonFloodError after publishing."""
        started, self._in_flight = self._in_flight, None
        if started is None:
            return
        runs: dict[str, ModelRun] = {}
        for part in started.parts:
            self._publisher.publish(part)
            runs |= part.runs
        self._publisher.end(started.sources)
        self.processed += len(started.sources)
        self._record(started.sources, runs)
        if started.flood is not None:
            self._publisher.close(self._settings.processing.shutdown_timeout_s)
            raise started.flood

    def _record(self, sources: list[SourceResult], runs: dict[str, ModelRun]) -> None:
        metrics = self._metrics
        if metrics is None:
            return
        metrics.batch_size.observe(len(sources))
        for source in sources:
            if source.invalid_reason is not None:
                metrics.events_invalid.labels(reason=source.invalid_reason).inc()
            elif source.partial is None:
                metrics.events_overflow.labels(reason="rate_limited").inc()
            _record_input_quality(metrics, source)
        for run in runs.values():
            if run.latency_ms is not None:
                metrics.model_latency.labels(model=run.name).observe(run.latency_ms / 1000.0)
            if run.status is ModelStatus.TIMEOUT:
                metrics.model_timeouts.labels(model=run.name).inc()
            elif run.status is ModelStatus.FAILED:
                metrics.model_failures.labels(model=run.name).inc()
                log_event(_log, "model_failed", level=logging.WARNING, model=run.name)

    def _apply_backpressure(self) -> None:
        inflight = self._publisher.inflight() + len(self._batcher)
        if self._metrics is not None:
            self._metrics.inflight_events.set(inflight)
        bound = self._settings.processing.max_inflight_events
        if not self._paused and inflight >= bound and self._assigned:
            self._consumer.pause(self._partitions(self._assigned))
            self._paused = True
            log_event(_log, "paused", inflight=inflight)
        elif self._paused and inflight < resume_below(bound):
            self._consumer.resume(self._partitions(self._assigned))
            self._paused = False
            log_event(_log, "resumed", inflight=inflight)

    def _periodic(self, now: float) -> None:
        if now - self._last_heartbeat >= HEARTBEAT_S:
            self._last_heartbeat = now
            self._pipeline.log_dead_letters()
            if self._health is not None:
                stuck = self._stuck_models()
                self._health.update(
                    ready=not stuck, assigned=bool(self._assigned), stuck_models=stuck
                )
        if self._metrics is not None and now - self._last_lag >= LAG_REFRESH_S:
            self._last_lag = now
            from consumer.kafka.lag import update_lag_gauge

            partitions = self._partitions(self._assigned)
            update_lag_gauge(self._metrics, self._consumer, partitions, self._committed_at_assign)

    # Rebalance callbacks (cooperative-sticky: incremental; called inside consume()).
    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        added = {(tp.topic, tp.partition) for tp in partitions}
        self._assigned |= added
        if partitions:
            self._remember_committed(partitions)
        if partitions:
            self._set_paused(partitions)
        log_event(_log, "partitions_assigned", partitions=sorted(p for _, p in added))

    def _set_paused(self, partitions: list[TopicPartition]) -> None:
        """Give newly assigned partitions the loop's current state. A partition paused
        while this worker last owned it is still paused in librdkafka: resume it, or it is
        never read again. Does not block."""
        from confluent_kafka import KafkaException

        try:
            if self._paused:
                self._consumer.pause(partitions)
            else:
                self._consumer.resume(partitions)
        except KafkaException as exc:  # resumed again at the next backpressure change
            log_event(_log, "pause_state_failed", level=logging.WARNING, error=str(exc))

    def _remember_committed(self, partitions: list[TopicPartition]) -> None:
        """The group's committed offsets of new partitions (for the lag gauge until the
        first fetch) and the invalid-event streaks their metadata carries. Blocks up to
        5 s (one broker round trip); failures are ignored."""
        from confluent_kafka import KafkaException

        try:
            committed = self._consumer.committed(partitions, timeout=5.0)
        except KafkaException:
            return
        streaks = {(tp.topic, tp.partition): parse_streak(tp.metadata) for tp in committed}
        if any(streaks.values()):
            self._pipeline.inherit_streaks({tp: n for tp, n in streaks.items() if n})
        if self._metrics is not None:
            for tp in committed:
                self._committed_at_assign[(tp.topic, tp.partition)] = tp.offset

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        self._finish()  # the batch in flight may hold revoked partitions: publish it first
        abandoned = self._batcher.remove_if(lambda item: item.tp in revoked)
        self._publisher.on_revoke(revoked, REVOKE_TIMEOUT_S)
        self._forget(revoked)
        log_event(
            _log,
            "partitions_revoked",
            partitions=sorted(p for _, p in revoked),
            abandoned=abandoned,
            paused=self._paused,
        )

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        lost = {(tp.topic, tp.partition) for tp in partitions}
        self._finish()
        self._batcher.remove_if(lambda item: item.tp in lost)
        self._publisher.on_lost(lost)
        self._forget(lost)
        log_event(
            _log, "partitions_lost", level=logging.WARNING, partitions=sorted(p for _, p in lost)
        )

    def _forget(self, partitions: set[TopicPartitionKey]) -> None:
        self._assigned -= partitions
        for tp in partitions:
            self._committed_at_assign.pop(tp, None)
        self._pipeline.forget(partitions)
        if self._metrics is not None:
            from consumer.kafka.lag import reset_lag_gauge

            reset_lag_gauge(self._metrics, self._partitions(partitions))

    def _drain(self) -> None:
        """Finish what was polled, then flush and commit (bounded)."""
        started = self._clock.monotonic()
        if len(self._batcher):
            self._process(self._batcher.take())
        self._finish()
        budget = self._settings.processing.shutdown_timeout_s
        remaining = max(0.5, budget - (self._clock.monotonic() - started) - 2.0)
        self._publisher.close(remaining)
        log_event(_log, "drained", seconds=round(self._clock.monotonic() - started, 3))

    def _close(self) -> None:
        try:
            self._consumer.close()
        except Exception as exc:
            log_event(_log, "consumer_close_failed", level=logging.WARNING, error=str(exc))
        if self._health is not None:
            self._health.remove()
        log_event(_log, "worker_stopped", processed=self.processed)

    @staticmethod
    def _partitions(keys: set[TopicPartitionKey]) -> list[TopicPartition]:
        from confluent_kafka import TopicPartition

        return [TopicPartition(topic, partition) for topic, partition in sorted(keys)]


def _record_input_quality(metrics: Metrics, source: SourceResult) -> None:
    """Count an event scored without its boosters, and each unknown field ignored (the
    first time a field name is seen in this process it is also logged, once)."""
    if source.insufficient_input:
        metrics.insufficient_input.inc()
    for label in source.ignored_fields:
        if metrics.count_unknown_field(label):
            log_event(_log, "unknown_field_ignored", level=logging.WARNING, field=label)

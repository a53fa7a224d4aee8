"""The poll loop: consume → micro-batch → pipeline → publish → commit. No model code.

One thread owns everything here (the worker's main thread); rebalance and delivery
callbacks run on it too, inside ``consume``/``poll``. Batches are queued on the model
lanes and their events published as the models answer, so a PAT backlog never holds back
events that need no PAT (at-least-once; exactly-once finishes each batch's transaction
before the next). Backpressure: when too many offsets wait for acknowledgement, or too
many activity events wait for PAT (the lane admits only what it can finish within its
deadline), the assigned partitions are paused and the loop keeps polling (group
membership stays alive); they resume below half of each bound (at zero for a bound of
1). librdkafka keeps a partition's paused state across revoke and re-assign, so every
assignment explicitly pauses or resumes the partitions it brings.

Start-up gate: until the worker has joined and the group has settled (every input
partition owned, ``consumer.kafka.group_settle``) its partitions stay paused and its
health says not ready, so no record is fetched before ``/readyz`` can say 200. Time the
loop spends in rebalance callbacks is recorded (``GroupWaits``) for the slow-prediction
alert's reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from consumer.clock import Clock
from consumer.engine.backpressure import Backpressure, Change
from consumer.engine.batch_records import Polled, SourceResult
from consumer.engine.batching import BatchPolicy, MicroBatcher
from consumer.engine.delivery import Publisher
from consumer.engine.inflight import InFlight
from consumer.engine.offsets import TopicPartitionKey, parse_streak
from consumer.engine.ordering import KeySequencer
from consumer.engine.pipeline import Pipeline
from consumer.engine.slow_reasons import GroupWaits
from consumer.ensemble.scoring import Ensemble
from consumer.errors import KafkaSetupError, SchemaRegistryUnavailable
from consumer.logs import log_event
from consumer.observability.recorder import Recorder
from consumer.schema_registry.wait import RegistryWait
from consumer.settings import Guarantee, Settings

if TYPE_CHECKING:
    from confluent_kafka import Consumer, Message, TopicPartition

    from consumer.kafka.group_settle import GroupSettle
    from consumer.observability.health import HealthReporter
    from consumer.observability.metrics import Metrics

_log = logging.getLogger("moodstream.runner")
IDLE_POLL_S = 0.1
#: Poll timeout while models are working: how late an answer may be noticed.
WORK_POLL_S = 0.005
REVOKE_TIMEOUT_S = 10.0
#: How long a revocation waits for the revoked partitions' running model calls.
REVOKE_WAIT_S = 2.0
HEARTBEAT_S = 1.0
LAG_REFRESH_S = 5.0


class Runner:
    def __init__(
        self,
        consumer: Consumer,
        publisher: Publisher,
        pipeline: Pipeline,
        ensemble: Ensemble,
        settings: Settings,
        clock: Clock,
        *,
        metrics: Metrics | None = None,
        health: HealthReporter | None = None,
        settle: GroupSettle | None = None,
        group_waits: GroupWaits | None = None,
    ) -> None:
        self._consumer = consumer
        self._publisher = publisher
        self._pipeline = pipeline
        self._ensemble = ensemble
        self._settings = settings
        self._clock = clock
        self._metrics = metrics
        self._health = health
        self._recorder = Recorder(metrics)
        # Start-up gate: partitions stay paused (nothing fetched) and the worker unready
        # until the group has settled (``consumer.kafka.group_settle``); None: settled.
        self._settle = settle
        self._joined = False
        self._group_waits = group_waits or GroupWaits()
        processing = settings.processing
        policy = BatchPolicy(processing.max_batch_size, processing.max_batch_wait_ms / 1000.0)
        self._batcher: MicroBatcher[Polled] = MicroBatcher(policy)
        self._assigned: set[TopicPartitionKey] = set()
        self._committed_at_assign: dict[TopicPartitionKey, int] = {}
        self._backpressure = Backpressure(
            processing.max_inflight_events,
            processing.max_pending_activity_events,
            processing.pause_after_s,
        )
        registry = settings.schema_registry
        self._registry_wait: RegistryWait[Polled] = RegistryWait(
            registry.retry_initial_s, registry.retry_max_s
        )
        self._last_heartbeat = float("-inf")
        self._last_lag = float("-inf")
        # At-least-once keeps batches in flight while their models answer; a transaction
        # per batch (exactly-once) finishes each batch before the next.
        self._pipelined = processing.guarantee is Guarantee.AT_LEAST_ONCE
        order = KeySequencer[SourceResult]() if processing.output_order == "per_key" else None
        self._in_flight = InFlight(
            pipeline, ensemble, publisher, clock, self._recorder, self._close_publisher, order
        )

    @property
    def processed(self) -> int:
        return self._in_flight.processed

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
        # While a batch waits for the registry the open one is not due: no busy polling.
        left = None if self._registry_wait.holding else self._batcher.time_left_s(now)
        timeout = IDLE_POLL_S if left is None else min(left, IDLE_POLL_S)
        if self._backpressure.holding:  # take nothing; what was fetched stays fetched
            self._wait_held(timeout)
        else:
            if len(self._in_flight):  # models are working: notice their answers promptly
                timeout = self._work_timeout_s(timeout)
            self._accept(self._poll(timeout))
        if self._registry_wait.holding:
            if self._registry_wait.due(self._clock.monotonic()):
                self._process(self._registry_wait.take())
        elif self._batcher.ready(self._clock.monotonic()):
            self._process(self._batcher.take())
        self._in_flight.advance()
        self._publisher.poll()
        self._apply_backpressure()
        now = self._clock.monotonic()
        self._publisher.maybe_commit(now)
        self._check_settled(now)
        self._periodic(now)

    @property
    def settled(self) -> bool:
        """Joined, and the group settled since (the start-up gate is open)."""
        return self._joined and self._settle is None

    def _check_settled(self, now: float) -> None:
        """Open the start-up gate once the group has settled: resume what is assigned (unless
        backpressure holds it) and report ready at once. Does not block."""
        if self._settle is None or not self._joined or not self._settle.check(now):
            return
        self._settle = None
        if self._assigned and not self._backpressure.paused:
            self._consumer.resume(self._partitions(self._assigned))
        log_event(_log, "group_settled", partitions=sorted(p for _, p in self._assigned))
        self._last_heartbeat = float("-inf")  # report ready now, not at the next heartbeat

    def _work_timeout_s(self, timeout_s: float) -> float:
        """The poll timeout while batches are in flight: none when an answer waits; while
        the partitions are paused (nothing to fetch) and a model call runs, block on the
        models instead (up to ``timeout_s`` or a call's deadline) and poll without waiting,
        so the loop wakes once per answer, not every ``WORK_POLL_S`` (at the PAT limit that
        spinning cost ~14 % of the worker's CPU); else ``WORK_POLL_S`` at most. Blocks."""
        if self._in_flight.answers_waiting():
            return 0.0
        if self._backpressure.paused and self._ensemble.working():
            self._ensemble.wait(timeout_s)
            return 0.0
        return min(timeout_s, WORK_POLL_S)

    def _wait_held(self, timeout_s: float) -> None:
        """While back-pressure holds the input: wait for a model's answer, or else for a
        delivery report, up to ``timeout_s``; no message is taken. Blocks."""
        if self._in_flight.answers_waiting():
            return
        if self._ensemble.working():
            self._ensemble.wait(timeout_s)
        else:
            self._publisher.poll(timeout_s)

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
        """Decode the batch and queue it on the models; exactly-once also waits for it (its
        transaction commits before the next batch is taken). A Schema Registry that does not
        answer holds the batch (partitions paused, polling on) until a retry succeeds."""
        try:
            started = self._pipeline.start(batch)
        except SchemaRegistryUnavailable as exc:
            self._hold_for_registry(batch, str(exc))
            return
        if self._registry_wait.since is not None:
            self._end_registry_wait()
        self._in_flight.add(started)
        if not self._pipelined:
            self._in_flight.finish(float("inf"))

    def _hold_for_registry(self, batch: list[Polled], reason: str) -> None:
        first = self._registry_wait.since is None
        pause_s = self._registry_wait.hold(batch, self._clock.monotonic(), reason)
        if first and self._assigned:
            self._consumer.pause(self._partitions(self._assigned))
        log_event(
            _log,
            "schema_registry_unavailable",
            level=logging.WARNING,
            error=reason,
            held=len(batch),
            retry_in_s=round(pause_s, 3),
        )

    def _end_registry_wait(self) -> None:
        """The registry answered again (or nothing is held any more): resume polling."""
        waited_since = self._registry_wait.recovered()
        if self._assigned and not self._backpressure.paused:
            self._consumer.resume(self._partitions(self._assigned))
        if waited_since is not None:
            waited_s = round(self._clock.monotonic() - waited_since, 3)
            log_event(_log, "schema_registry_recovered", waited_s=waited_s)

    def _close_publisher(self) -> None:
        self._publisher.close(self._settings.processing.shutdown_timeout_s)

    def _apply_backpressure(self) -> None:
        """At either bound hold the input, pause every assigned partition once that lasts,
        take and resume below half of both (``consumer.engine.backpressure``). A loop
        without partitions has nothing to hold."""
        inflight = self._publisher.inflight() + len(self._batcher)
        pat_pending = self._ensemble.pending_pat_rows()
        self._recorder.inflight(inflight)
        state = self._backpressure
        if not self._assigned and not (state.paused or state.holding):
            return
        cause = state.paused_for or state.held_for
        change, lasted_s = state.update(inflight, pat_pending, self._clock.monotonic())
        if change is Change.PAUSE and state.paused_for is not None:
            self._consumer.pause(self._partitions(self._assigned))
            self._recorder.pause(state.paused_for)
            log_event(
                _log, "paused", cause=state.paused_for, inflight=inflight, pat_pending=pat_pending
            )
        elif change in (Change.RESUME, Change.RELEASE) and cause is not None:
            # Before the start-up gate opens, and while a registry wait holds, all stays paused.
            resume = change is Change.RESUME
            if resume and self._settle is None and self._registry_wait.since is None:
                self._consumer.resume(self._partitions(self._assigned))
            self._recorder.paused(cause, lasted_s)
            if resume:
                log_event(_log, "resumed", inflight=inflight, pat_pending=pat_pending)

    def _periodic(self, now: float) -> None:
        if now - self._last_heartbeat >= HEARTBEAT_S:
            self._last_heartbeat = now
            self._pipeline.log_dead_letters()
            self._recorder.lanes(self._ensemble.lanes())
            if self._health is not None:
                stuck = self._ensemble.stuck_models()
                assigned = bool(self._assigned) if self._joined else None
                waiting = self._registry_wait.reason
                detail: dict[str, str] | str | None = None
                if waiting:
                    detail = {"waiting_for_schema_registry": waiting}
                elif not self.settled:
                    detail = "waiting for the consumer group to settle"
                self._health.update(
                    ready=self.settled and not stuck,
                    assigned=assigned,
                    stuck_models=stuck,
                    detail=detail,
                )
        if self._metrics is not None and now - self._last_lag >= LAG_REFRESH_S:
            self._last_lag = now
            from consumer.kafka.lag import update_lag_gauge

            partitions = self._partitions(self._assigned)
            pending = self._publisher.oldest_pending()
            update_lag_gauge(
                self._metrics, self._consumer, partitions, self._committed_at_assign, pending
            )

    # Rebalance callbacks (cooperative-sticky: incremental; called inside consume()).
    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._group_callback(self._assign, partitions)

    def _group_callback(
        self, handler: Callable[[list[TopicPartition]], None], partitions: list[TopicPartition]
    ) -> None:
        """Run a rebalance handler, recording the time it held the loop (``GroupWaits``)."""
        started = self._clock.monotonic()
        try:
            handler(partitions)
        finally:
            self._group_waits.record(started, self._clock.monotonic())

    def _assign(self, partitions: list[TopicPartition]) -> None:
        added = {(tp.topic, tp.partition) for tp in partitions}
        self._assigned |= added
        self._joined = True
        if partitions:
            self._remember_committed(partitions)
            self._set_paused(partitions)
        log_event(_log, "partitions_assigned", partitions=sorted(p for _, p in added))

    def _set_paused(self, partitions: list[TopicPartition]) -> None:
        """Give newly assigned partitions the loop's current state. A partition paused
        while this worker last owned it is still paused in librdkafka: resume it, or it is
        never read again. Does not block."""
        from confluent_kafka import KafkaException

        try:
            held = self._settle is not None or self._registry_wait.since is not None
            if self._backpressure.paused or held:
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
        self._group_callback(self._revoke, partitions)

    def _revoke(self, partitions: list[TopicPartition]) -> None:
        """Publish what the revoked partitions' models answer within ``REVOKE_WAIT_S``, give
        up the rest (never committed: the next owner reads it again), commit, let go."""
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        self._in_flight.advance()
        deadline = self._clock.monotonic() + REVOKE_WAIT_S
        while self._in_flight.open_in(revoked) and self._clock.monotonic() < deadline:
            self._ensemble.wait(deadline - self._clock.monotonic())
            self._in_flight.advance()
        abandoned = self._in_flight.give_up(revoked)
        abandoned += self._batcher.remove_if(lambda item: item.tp in revoked)
        abandoned += self._drop_held(revoked)
        self._publisher.on_revoke(revoked, REVOKE_TIMEOUT_S)
        self._forget(revoked)
        log_event(
            _log,
            "partitions_revoked",
            partitions=sorted(p for _, p in revoked),
            abandoned=abandoned,
            paused=self._backpressure.paused,
        )

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Another worker owns these now: publish nothing more of them."""
        lost = {(tp.topic, tp.partition) for tp in partitions}
        self._in_flight.give_up(lost)
        self._batcher.remove_if(lambda item: item.tp in lost)
        self._drop_held(lost)
        self._publisher.on_lost(lost)
        self._forget(lost)
        log_event(
            _log, "partitions_lost", level=logging.WARNING, partitions=sorted(p for _, p in lost)
        )

    def _drop_held(self, partitions: set[TopicPartitionKey]) -> int:
        """Held records of partitions given up are not ours to retry (never committed)."""
        dropped = self._registry_wait.remove_if(lambda item: item.tp in partitions)
        if dropped and not self._registry_wait.holding:
            self._assigned -= partitions  # resume only what this worker still owns
            self._end_registry_wait()
        return dropped

    def _forget(self, partitions: set[TopicPartitionKey]) -> None:
        self._assigned -= partitions
        for tp in partitions:
            self._committed_at_assign.pop(tp, None)
        self._pipeline.forget(partitions)
        if self._metrics is not None:
            from consumer.kafka.lag import reset_lag_gauge

            reset_lag_gauge(self._metrics, self._partitions(partitions))

    def _drain(self) -> None:
        """Finish what was polled, then flush and commit, within the shutdown budget; events
        whose models have not answered by then are left uncommitted (read again later)."""
        started = self._clock.monotonic()
        budget = self._settings.processing.shutdown_timeout_s
        if len(self._batcher) and not self._registry_wait.holding:  # held: read again later
            try:
                self._in_flight.add(self._pipeline.start(self._batcher.take()))
            except SchemaRegistryUnavailable as exc:
                log_event(
                    _log, "schema_registry_unavailable", level=logging.WARNING, error=str(exc)
                )
        left = self._in_flight.finish(started + max(0.5, budget / 2))
        remaining = max(0.5, budget - (self._clock.monotonic() - started) - 2.0)
        self._publisher.close(remaining)
        log_event(_log, "drained", seconds=round(self._clock.monotonic() - started, 3), left=left)

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

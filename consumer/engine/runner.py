"""The poll loop: consume → micro-batch → pipeline → publish → commit. No model code.

One thread owns everything here (the worker's main thread); rebalance and delivery
callbacks run on it too, inside ``consume``/``poll``. Batches are queued on the model
lanes and their events published as the models answer (in per-key order by default), so
a PAT backlog never holds back other keys' events (at-least-once; exactly-once finishes
each batch's transaction before the next). Back-pressure (``backpressure``): at the
in-flight or PAT-pending bound the loop holds (takes no message, pauses nothing); only a
lasting hold pauses the partitions, and the loop keeps polling while paused.

Whether the partitions are paused is one pure gate over named reasons (``fetch_gate``):
the start-up gate (until the group has settled, ``consumer.kafka.group_settle``, nothing
is fetched and health says not ready), a Schema Registry wait, and lasting back-pressure.
The partitions and the rebalance callbacks are ``membership``'s; health, dead-letter,
lane and lag reports are ``loop_reports``'.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from consumer.clock import Clock
from consumer.engine.backpressure import Backpressure
from consumer.engine.batch_records import Polled, SourceResult
from consumer.engine.batching import BatchPolicy, MicroBatcher
from consumer.engine.delivery import Publisher
from consumer.engine.fetching import fetch, raise_or_log
from consumer.engine.flow_control import FlowControl
from consumer.engine.inflight import InFlight
from consumer.engine.loop_reports import LoopReports, LoopState
from consumer.engine.membership import Membership, partitions_of
from consumer.engine.offsets import TopicPartitionKey
from consumer.engine.ordering import KeySequencer
from consumer.engine.pipeline import Pipeline
from consumer.engine.recorder import Recorder
from consumer.engine.slow_reasons import GroupWaits
from consumer.ensemble.scoring import Ensemble
from consumer.errors import SchemaRegistryUnavailable
from consumer.logs import log_event
from consumer.schema_registry.wait import RegistryWait
from consumer.settings import Guarantee, Settings

if TYPE_CHECKING:
    from confluent_kafka import Message

    from consumer.engine.ports import Health, LoopConsumer
    from consumer.kafka.group_settle import GroupSettle
    from consumer.observability.metrics import Metrics

_log = logging.getLogger("moodstream.runner")
IDLE_POLL_S = 0.1
#: Poll timeout while models are working: how late an answer may be noticed.
WORK_POLL_S = 0.005
#: How long a revocation waits for the revoked partitions' running model calls.
REVOKE_WAIT_S = 2.0


class Runner:
    membership: Membership  # the partitions owned and the rebalance callbacks

    def __init__(
        self,
        consumer: LoopConsumer,
        publisher: Publisher,
        pipeline: Pipeline,
        ensemble: Ensemble,
        settings: Settings,
        clock: Clock,
        *,
        metrics: Metrics | None = None,
        health: Health | None = None,
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
        self._settle = settle  # None: the start-up gate is open
        self._group_waits = group_waits or GroupWaits()
        processing = settings.processing
        self._batcher: MicroBatcher[Polled] = MicroBatcher(BatchPolicy.of(processing))
        backpressure = Backpressure.of(processing)
        assigned = lambda: self.membership.assigned  # noqa: E731
        self._flow = FlowControl(
            consumer, assigned, backpressure, self._recorder, clock, starting=settle is not None
        )
        registry = settings.schema_registry
        self._registry_wait: RegistryWait[Polled] = RegistryWait(
            registry.retry_initial_s, registry.retry_max_s
        )
        self._reports = LoopReports(
            consumer, publisher, pipeline, ensemble, self._recorder, metrics, health
        )
        self.membership = Membership(
            consumer,
            publisher,
            pipeline,
            self._flow.gate,
            self._reports,
            clock,
            self._group_waits,
            self._give_up,
        )
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
        self.membership.subscribe(self._settings.topics.features)
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
        if self._flow.holding:  # take nothing; what was fetched stays fetched
            self._wait_held(timeout)
        else:
            if len(self._in_flight):  # models are working: notice their answers promptly
                timeout = self._work_timeout_s(timeout)
            room = self._batcher.room()
            self._accept(fetch(self._consumer, room, bool(len(self._batcher)), timeout))
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
        return self.membership.joined and self._settle is None

    def _check_settled(self, now: float) -> None:
        """Open the start-up gate once the group has settled: resume what is assigned (unless
        another reason holds it) and report ready at once. Does not block."""
        if self._settle is None or not self.membership.joined or not self._settle.check(now):
            return
        self._settle = None
        self._flow.set("starting", False)
        partitions = sorted(p for _, p in self.membership.assigned)
        log_event(_log, "group_settled", partitions=partitions)
        self._reports.report_now()  # report ready now, not at the next heartbeat

    def _work_timeout_s(self, timeout_s: float) -> float:
        """The poll timeout while batches are in flight: none when an answer waits; while
        the partitions are paused (nothing to fetch) and a model call runs, block on the
        models instead (up to ``timeout_s`` or a call's deadline) and poll without waiting,
        so the loop wakes once per answer, not every ``WORK_POLL_S`` (at the PAT limit that
        spinning cost ~14 % of the worker's CPU); else ``WORK_POLL_S`` at most. Blocks."""
        if self._in_flight.answers_waiting():
            return 0.0
        if self._flow.backpressure.paused and self._ensemble.working():
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
            self._publisher.await_delivery(timeout_s)

    def _accept(self, messages: Sequence[Message]) -> None:
        now = self._clock.monotonic()
        polled, sizes, new = list[Polled](), list[int](), tuple.__new__  # sizes: for byte bounds
        for message in messages:
            error = message.error()
            if error is not None:  # an error event from librdkafka, not an input record
                raise_or_log(error, self._settings)
                continue
            polled.append(new(Polled, (message, now)))  # Polled(...) in C, not its Python __new__
            sizes.append(len(message.value() or b""))
        self._batcher.extend(polled, sizes, now)
        if polled and self._metrics is not None:
            self._metrics.events_consumed.inc(len(polled))

    def _process(self, batch: list[Polled]) -> None:
        """Decode the batch and queue it on the models; exactly-once also waits for it (its
        transaction commits before the next batch is taken). A Schema Registry that does not
        answer holds the batch (partitions paused, polling on) until a retry succeeds."""
        try:
            started = self._pipeline.start(batch)
        except SchemaRegistryUnavailable as exc:
            self._flow.hold_for_registry(self._registry_wait, batch, str(exc))
            return
        if self._registry_wait.since is not None:
            self._flow.end_registry_wait(self._registry_wait)
        self._in_flight.add(started)
        if not self._pipelined:
            self._in_flight.finish(float("inf"))

    def _close_publisher(self) -> None:
        self._publisher.close(self._settings.processing.shutdown_timeout_s)

    def _apply_backpressure(self) -> None:
        inflight = self._publisher.inflight() + len(self._batcher)
        self._flow.apply_backpressure(inflight, self._ensemble.pending_pat_rows())

    def _periodic(self, now: float) -> None:
        """Health, dead letters, lanes and lag, when due (``loop_reports``)."""
        if self._reports.due(now):
            members = self.membership
            state = LoopState(
                joined=members.joined,
                settled=self.settled,
                assigned=partitions_of(members.assigned),
                committed_at_assign=members.committed_at_assign,
                registry_wait=self._registry_wait.reason,
            )
            self._reports.tick(now, state)

    def _give_up(self, partitions: set[TopicPartitionKey], lost: bool) -> int:
        """The work of partitions revoked (publish what their models answer within
        ``REVOKE_WAIT_S``, give up the rest: never committed, the next owner reads it again)
        or lost (give it all up). Returns how many events were abandoned. Blocks up to
        ``REVOKE_WAIT_S`` on a revocation."""
        if not lost:
            self._in_flight.advance()
            deadline = self._clock.monotonic() + REVOKE_WAIT_S
            while self._in_flight.open_in(partitions) and self._clock.monotonic() < deadline:
                self._ensemble.wait(deadline - self._clock.monotonic())
                self._in_flight.advance()
        abandoned = self._in_flight.give_up(partitions)
        abandoned += self._batcher.remove_if(lambda item: item.tp in partitions)
        return abandoned + self._drop_held(partitions)

    def _drop_held(self, partitions: set[TopicPartitionKey]) -> int:
        """Held records of partitions given up are not ours to retry (never committed)."""
        dropped = self._registry_wait.remove_if(lambda item: item.tp in partitions)
        if dropped and not self._registry_wait.holding:
            self.membership.assigned -= partitions  # resume only what this worker still owns
            self._flow.end_registry_wait(self._registry_wait)
        return dropped

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

"""The windows stage's poll loop: consume samples and day features → windower → publish
events, changelog and offsets in the guarantee's way (``delivery``).

One thread owns everything (rebalance and delivery callbacks run inside ``consume`` on
it). On assignment each newly assigned partition number's store is wiped and restored
from its changelog partition (blocking the loop; ``/readyz`` says not ready with the
progress meanwhile); on revocation the partition's pending work is published and
committed and its store closed. Every ``TIMER_INTERVAL_S`` the windowers' wall-clock
timers run (idle closes, retention of users who stopped sending). A transaction aborted
and rewound leaves the local state ahead of what was committed: every store is rebuilt
from the changelog.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from consumer.clock import Clock
from consumer.engine.batch_records import Polled
from consumer.engine.batching import BatchPolicy, MicroBatcher
from consumer.engine.membership import partitions_of
from consumer.errors import SchemaRegistryUnavailable
from consumer.logs import log_event
from consumer.settings import Settings
from consumer.windows.rocks import RocksMemory, RocksStore
from consumer.windows_stage.changelog import restore
from consumer.windows_stage.delivery import Delivery
from consumer.windows_stage.heap import HeapTrim
from consumer.windows_stage.metrics import WindowsMetrics
from consumer.windows_stage.processor import PartitionWindows, WindowsProcessor
from consumer.windows_stage.radar_input import RadarSteps
from consumer.windows_stage.upkeep import Upkeep

if TYPE_CHECKING:
    from confluent_kafka import Consumer, Message, TopicPartition

    from consumer.observability.health import HealthReporter

_log = logging.getLogger("moodstream.windows")
IDLE_POLL_S = 0.1
TIMER_INTERVAL_S = 5.0
HEARTBEAT_S = 1.0
REVOKE_TIMEOUT_S = 60.0
RESTORE_SILENCE_S = 30.0


class WindowsRunner:
    def __init__(
        self,
        consumer: Consumer,
        restorer: Consumer,
        delivery: Delivery,
        settings: Settings,
        clock: Clock,
        store_dir: Path,
        *,
        metrics: WindowsMetrics | None = None,
        health: HealthReporter | None = None,
        radar: RadarSteps | None = None,
        heap: HeapTrim | None = None,
    ) -> None:
        self._consumer = consumer
        self._restorer = restorer
        self._delivery = delivery
        self._publisher = delivery.publisher
        self._settings = settings
        self._clock = clock
        self._store_dir = store_dir
        windows = settings.windows
        # one budget for every partition's store: memory bounded whatever the partitions
        self._memory = RocksMemory.of(windows.store_cache_mb, windows.store_write_buffer_mb)
        self._metrics = metrics
        self._health = health
        self._heap = heap
        self.processor = WindowsProcessor(settings, clock, radar=radar)
        self._upkeep = Upkeep(consumer, self._publisher, settings, clock, metrics)
        bounds = (windows.max_batch_size, windows.max_batch_bytes)
        policy = BatchPolicy.of(settings.processing, bounds=bounds)
        self._batcher: MicroBatcher[Polled] = MicroBatcher(policy)
        self._assigned: set[tuple[str, int]] = set()
        self._restoring: str | None = None
        self._joined = False
        self._last_timers = clock.monotonic()
        self._last_heartbeat = float("-inf")

    def run(self, should_stop: Callable[[], bool]) -> None:
        """Block until ``should_stop()``; then publish, commit and close. Raises
        ``DeliveryFailed``, ``KafkaSetupError`` or ``PoisonFloodError`` on fatal
        conditions."""
        topics = self._settings.topics
        self._consumer.subscribe(
            [topics.activity, topics.day_features],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        log_event(_log, "windows_started", topics=[topics.activity, topics.day_features])
        try:
            while not should_stop():
                self._step()
            self._flush_batch()
            self._publisher.close(self._settings.processing.shutdown_timeout_s)
        finally:
            self._close()

    def _step(self) -> None:
        now = self._clock.monotonic()
        left = self._batcher.time_left_s(now)
        timeout = IDLE_POLL_S if left is None else min(left, IDLE_POLL_S)
        room = max(1, self._batcher.room())
        for message in self._consumer.consume(num_messages=room, timeout=timeout):
            self._accept(message)
        if self._upkeep.wait.due(self._clock.monotonic()):
            self._process(self._upkeep.wait.take())
        elif self._batcher.ready(self._clock.monotonic()):
            self._flush_batch()
        now = self._clock.monotonic()
        if now - self._last_timers >= TIMER_INTERVAL_S:
            self._last_timers = now
            events, changelog = self.processor.on_timers()
            if self._delivery.timers(events, changelog):
                self._rebuild()
            else:
                self._count_events(events)
        self._publisher.poll()
        self._publisher.maybe_commit(now)
        self._heartbeat(now)

    def _accept(self, message: Message) -> None:
        error = message.error()
        if error is not None:
            if error.fatal():
                from consumer.errors import KafkaSetupError

                raise KafkaSetupError(f"fatal consumer error: {error.str()}")
            log_event(_log, "consumer_error", level=logging.WARNING, error=error.str())
            return
        now = self._clock.monotonic()
        value = message.value()  # its size: WINDOWS__MAX_BATCH_BYTES bounds a batch
        self._batcher.add(Polled(message, now), now, len(value) if value else 0)

    def _flush_batch(self) -> None:
        """Process the open batch and publish it with its changelog (``delivery``), unless
        a batch waits for the Schema Registry. Blocks on Kafka."""
        if len(self._batcher) and not self._upkeep.wait.holding:
            self._process(self._batcher.take())

    def _process(self, batch: list[Polled]) -> None:
        """Raises PoisonFloodError once the batch that made an input partition's run of
        dead letters reach ``PROCESSING__DLQ_MAX_CONSECUTIVE`` is published and committed."""
        if not self._prepared(batch):
            return
        try:
            sources, changelog = self.processor.process(batch)
        except Exception:
            for part in self.processor.partitions.values():
                part.state.discard_unwritten()
            raise
        flood = self._upkeep.streaks.observe(sources)
        if self._delivery.batch(sources, changelog):
            self._rebuild()
            return
        if self._metrics is not None:
            self._metrics.batch(batch, sources, changelog, self.processor)
        if self._heap is not None:  # the batch's garbage back to the system (``heap``)
            size = sum(len(item.message.value() or b"") for item in batch)
            self._heap.after_batch(size, self._clock.monotonic())
        if flood is not None:
            self._publisher.close(self._settings.processing.shutdown_timeout_s)
            raise flood

    def _prepared(self, batch: list[Polled]) -> bool:
        """The RADAR input's schema ids looked up; False when the registry did not answer
        (the batch is held and retried). Blocks on the registry."""
        radar = self.processor.radar
        if radar is None:
            return True
        activity = self._settings.topics.activity
        try:
            radar.prepare(
                (i.message.key(), i.message.value()) for i in batch if i.tp[0] == activity
            )
        except SchemaRegistryUnavailable as exc:
            self._upkeep.hold(batch, str(exc), partitions_of(self._assigned))
            return False
        self._upkeep.recovered(partitions_of(self._assigned))
        return True

    def _rebuild(self) -> None:
        """The batch was rewound: every store back to what the changelog committed."""
        numbers = sorted(self.processor.partitions)
        for number in numbers:
            self.processor.partitions.pop(number).recording.close()
        for number in numbers:
            self._restore(number)
        self._upkeep.rewound(partitions_of(self._assigned))
        log_event(_log, "state_rebuilt", level=logging.WARNING, partitions=numbers)

    def _count_events(self, events: Sequence[object]) -> None:
        if self._metrics is not None:
            self._metrics.timer_events(len(events), self.processor)

    def _heartbeat(self, now: float) -> None:
        if now - self._last_heartbeat < HEARTBEAT_S:
            return
        self._last_heartbeat = now
        if self._metrics is not None:
            self._metrics.store(self.processor)
        self._upkeep.lag(now, partitions_of(self._assigned))
        if self._health is not None:
            detail: str | dict[str, str] | None = None
            if not self._joined:
                detail = "waiting for the consumer group"
            elif self._upkeep.wait.holding:
                detail = {"waiting_for_schema_registry": self._upkeep.wait.reason}
            self._health.update(
                ready=self._joined,
                assigned=bool(self._assigned) if self._joined else None,
                detail=detail,
            )

    # Rebalance callbacks (inside consume()).
    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._flush_batch()
        added = {(tp.topic, tp.partition) for tp in partitions}
        self._assigned |= added
        self._upkeep.assigned(list(partitions))
        for number in sorted({p for _, p in added} - set(self.processor.partitions)):
            self._restore(number)
        self._joined = True
        self._last_heartbeat = float("-inf")
        log_event(_log, "partitions_assigned", partitions=sorted(added))

    def _restore(self, number: int) -> None:
        """Wipe partition ``number``'s local store and rebuild it from the changelog."""
        path = self._store_dir / f"p{number}"
        shutil.rmtree(path, ignore_errors=True)
        store = RocksStore(path, self._memory)
        started = self._clock.monotonic()
        records = restore(
            self._restorer,
            self._settings.topics.windows_changelog,
            number,
            store,
            lambda done, total: self._restore_progress(number, done, total),
            RESTORE_SILENCE_S,
        )
        seconds = self._clock.monotonic() - started
        self.processor.partitions[number] = PartitionWindows.over(
            number, store, self._settings, self._clock
        )
        if self._metrics is not None:
            self._metrics.restored(number, records, seconds)
        log_event(_log, "restored", partition=number, records=records, seconds=round(seconds, 3))

    def _restore_progress(self, number: int, done: int, total: int) -> None:
        if self._metrics is not None:
            self._metrics.restore_progress(number, done, total)
        if self._health is not None:
            detail = {"restoring": f"partition {number}: {done}/{total} changelog offsets"}
            self._health.update(ready=False, assigned=True, detail=detail)

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._flush_batch()
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        # not flushed while a batch waits for the registry: never committed, read again
        self._batcher.remove_if(lambda item: item.tp in revoked)
        self._publisher.on_revoke(revoked, REVOKE_TIMEOUT_S)
        self._let_go(revoked)

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        lost = {(tp.topic, tp.partition) for tp in partitions}
        self._batcher.remove_if(lambda item: item.tp in lost)
        self._publisher.on_lost(lost)
        self._let_go(lost)

    def _let_go(self, partitions: set[tuple[str, int]]) -> None:
        """Close the stores of partition numbers no input topic still holds here."""
        self._assigned -= partitions
        self._upkeep.let_go(partitions, partitions_of(self._assigned))
        still = {p for _, p in self._assigned}
        for number in sorted({p for _, p in partitions} - still):
            part = self.processor.partitions.pop(number, None)
            if part is not None:
                part.recording.close()
        log_event(_log, "partitions_revoked", partitions=sorted(partitions))

    def _close(self) -> None:
        for part in self.processor.partitions.values():
            part.recording.close()
        self.processor.partitions.clear()
        for client in (self._consumer, self._restorer):
            try:
                client.close()
            except Exception as exc:
                log_event(_log, "consumer_close_failed", level=logging.WARNING, error=str(exc))
        if self._health is not None:
            self._health.remove()

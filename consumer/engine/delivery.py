"""Publishing a batch's records and committing its offsets: the two delivery modes.

``AtLeastOnce``: idempotent producer; an offset is committed only once every record it
produced is acknowledged (``OffsetTracker``). ``ExactlyOnce`` (``consumer.engine.transactions``):
one transaction per batch holding the records and the consumer offsets. Both are driven by
the poll loop's thread; delivery callbacks run inside ``producer.poll``/``flush`` on it.
A record the broker refuses for good raises ``DeliveryFailed`` from ``poll``: the worker
stops without committing past it, and its restart re-reads from the last commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Protocol

from consumer.clock import Clock
from consumer.engine.batch_records import BatchResult, OutRecord, SourceResult
from consumer.engine.offsets import CommitPolicy, OffsetTracker, TopicPartitionKey, streak_metadata
from consumer.errors import KafkaSetupError, MoodstreamError
from consumer.kafka.clients import NOW, PARTITIONER, produce_waiting
from consumer.logs import log_event
from consumer.observability.observations import PendingObservations

if TYPE_CHECKING:
    from confluent_kafka import KafkaError, Message
    from prometheus_client import Counter

    from consumer.engine.ports import CommitConsumer, QueueingProducer
    from consumer.observability.metrics import Metrics

_log = logging.getLogger("moodstream.delivery")
COMMIT_RETRY_MAX_S = 30.0


class DeliveryFailed(MoodstreamError):
    pass


def _topic_authorization_failed() -> int:
    from confluent_kafka import KafkaError

    return int(KafkaError.TOPIC_AUTHORIZATION_FAILED)


class Publisher(Protocol):
    """Per batch: ``begin(all sources in order)``, ``publish(part)`` for each part, ``end``."""

    def begin(self, sources: list[SourceResult]) -> None: ...
    def publish(self, result: BatchResult) -> None: ...
    def end(self, sources: list[SourceResult]) -> None: ...
    def poll(self) -> None: ...
    def await_delivery(self, timeout_s: float) -> None: ...
    def maybe_commit(self, now: float, *, force: bool = False) -> None: ...
    def on_revoke(self, partitions: set[TopicPartitionKey], timeout_s: float) -> None: ...
    def on_lost(self, partitions: set[TopicPartitionKey]) -> None: ...
    def close(self, timeout_s: float) -> None: ...
    def inflight(self) -> int: ...
    def oldest_pending(self) -> dict[TopicPartitionKey, int]: ...


class PublisherBase:
    """What both delivery modes share: producing, delivery reports, failures, metrics."""

    def __init__(
        self,
        producer: QueueingProducer,
        consumer: CommitConsumer,
        clock: Clock,
        metrics: Metrics | None,
    ) -> None:
        self._producer = producer
        self._consumer = consumer
        self._clock = clock
        self._metrics = metrics
        self._failure: str | None = None
        self._failure_is_auth = False
        self._children: dict[tuple[int, str], Counter] = {}
        self._pending_counts: dict[Counter, int] = {}
        self._latencies = PendingObservations(metrics.prediction_latency) if metrics else None

    def _produce(self, record: OutRecord, on_delivery: Callable[..., None]) -> None:
        """Queue one record; waits (serving callbacks) while the local queue is full."""
        if record.partition is None:  # the common case first, without a call in between
            try:
                self._producer.produce(
                    record.topic,
                    record.value,
                    record.key,
                    PARTITIONER,
                    on_delivery,
                    None,
                    NOW,
                    record.headers,
                )
                return
            except BufferError:
                pass  # the queue is full: wait for room below
        produce_waiting(
            self._producer,
            record.topic,
            key=record.key,
            value=record.value,
            headers=record.headers,
            on_delivery=on_delivery,
            partition=record.partition,
        )

    def _delivered(self, source: SourceResult, record: OutRecord, err: KafkaError | None) -> None:
        if err is not None:
            self._failure = f"{record.kind} to {record.topic} failed: {err.str()}"
            self._failure_is_auth = err.code() == _topic_authorization_failed()
            return
        self._count(source, record)

    def _count(self, source: SourceResult, record: OutRecord) -> None:
        """Metrics of one record the broker holds (exactly-once: once it is committed)."""
        self._count_all([(source, record)])

    def _count_all(self, delivered: Sequence[tuple[SourceResult, OutRecord]]) -> None:
        """Metrics of records the broker holds, added to the metrics at the next
        ``_flush_counts`` (the end of the poll or publish that served their reports): one
        write per label, and every latency measured at one reading of the clock (the
        reports of one poll are served within microseconds of each other)."""
        metrics = self._metrics
        if metrics is None or not delivered:
            return
        labels: dict[tuple[str, str], int] = {}
        latencies: list[float] = []
        now = self._clock.monotonic()
        for source, record in delivered:
            kind_label = (record.kind, record.label)
            labels[kind_label] = labels.get(kind_label, 0) + 1
            if record.kind == "prediction":
                latencies.append(now - source.polled_at)
        if self._latencies is not None:
            self._latencies.add_all(latencies)
        for (kind, label), count in labels.items():
            if kind == "prediction":
                self._add_count(metrics.predictions_published, "partial", label, count)
            elif kind == "alert":
                self._add_count(metrics.alerts_published, "kind", label, count)
            elif kind == "dead_letter":
                metrics.dead_letters.inc(count)

    def _add_count(self, counter: Counter, name: str, label: str, count: int) -> None:
        """``count`` more for ``counter.labels(name=label)``, added to the metric at the
        next ``_flush_counts``: one shared-memory write per label and call, not one per
        record."""
        key = (id(counter), label)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = counter.labels(**{name: label})
        self._pending_counts[child] = self._pending_counts.get(child, 0) + count

    def _flush_counts(self) -> None:
        """Add the counts (and latencies) gathered since the last call to their metrics.
        Does not block."""
        if self._latencies is not None:
            self._latencies.flush()
        pending = self._pending_counts
        if pending:
            for child, count in pending.items():
                child.inc(count)
            pending.clear()

    def _raise_on_failure(self) -> None:
        if self._failure is None:
            return
        if self._failure_is_auth:  # a restart cannot fix it: stop with the cause
            raise KafkaSetupError(f"not authorized: {self._failure} (grant WRITE on it)")
        raise DeliveryFailed(self._failure)

    def poll(self) -> None:
        """Serve delivery callbacks without blocking. Raises DeliveryFailed."""
        self._producer.poll(0)
        self._flush_counts()
        self._raise_on_failure()

    def await_delivery(self, timeout_s: float) -> None:
        """Serve delivery callbacks, waiting up to ``timeout_s`` for one (the loop's wait
        while back-pressure holds its input). Blocks. Raises DeliveryFailed."""
        self._producer.poll(timeout_s)
        self._flush_counts()
        self._raise_on_failure()


class AtLeastOnce(PublisherBase):
    def __init__(
        self,
        producer: QueueingProducer,
        consumer: CommitConsumer,
        clock: Clock,
        policy: CommitPolicy,
        metrics: Metrics | None = None,
    ) -> None:
        super().__init__(producer, consumer, clock, metrics)
        self._tracker = OffsetTracker()
        self._policy = policy
        self._last_commit_at = clock.monotonic()
        self._since_commit = 0
        self._commit_failures = 0  # in a row
        self._retry_at = 0.0
        self._unsettled: list[tuple[SourceResult, OutRecord]] = []  # reports not settled yet

    def inflight(self) -> int:
        self._settle()
        return self._tracker.inflight()

    def oldest_pending(self) -> dict[TopicPartitionKey, int]:
        self._settle()
        return self._tracker.oldest_pending()

    def begin(self, sources: list[SourceResult]) -> None:
        """Register the batch's offsets, each held until its part is published."""
        track = self._tracker.track
        for source in sources:
            track(source.tp, source.offset, 1, source.invalid_streak)
        self._since_commit += len(sources)

    def publish(self, result: BatchResult) -> None:
        tracker, delivered, produce = self._tracker, self._on_delivery, self._produce
        for source in result.sources:
            records = source.records
            # The hold taken in ``begin`` becomes the first record's: the offset waits for
            # every record's acknowledgement from here on (none: released now).
            if len(records) != 1:
                if records:
                    tracker.add(source.tp, source.offset, len(records) - 1)
                else:
                    tracker.ack(source.tp, source.offset)
            for record in records:
                # one bound method for every record, its source and record bound by a
                # partial: cheaper to make and to call than a closure per record
                produce(record, partial(delivered, source, record))
        self._producer.poll(0)
        self._flush_counts()

    def end(self, sources: list[SourceResult]) -> None:
        return None

    def _on_delivery(
        self, source: SourceResult, record: OutRecord, err: KafkaError | None, _msg: Message
    ) -> None:
        """The delivery report of ``record`` (bound with ``partial`` in ``publish``): a
        failure is kept (raised at the next poll); an acknowledgement is settled with the
        others of its poll (``_flush_counts``)."""
        if err is not None:
            self._delivered(source, record, err)
            return
        self._unsettled.append((source, record))

    def _settle(self) -> None:
        """Release the offsets of the records acknowledged since the last call, and count
        them. Every read of the offsets settles first. Does not block."""
        acked = self._unsettled
        if acked:
            self._unsettled = []
            ack = self._tracker.ack
            for source, _ in acked:
                ack(source.tp, source.offset)
            self._count_all(acked)

    def _flush_counts(self) -> None:
        self._settle()
        super()._flush_counts()

    def maybe_commit(self, now: float, *, force: bool = False) -> None:
        """Commit acknowledged positions when the policy says so (sync, on this thread).

        Offsets still waiting for acknowledgement, and positions whose commit failed, stay
        counted, so they are committed at a later due time even when no new message
        arrives. A failed commit is retried ``commit_interval_s`` later, doubling up to
        ``COMMIT_RETRY_MAX_S`` while it keeps failing (during an outage a synchronous
        commit blocks this loop ~10 s before it fails).
        """
        if not force and now < self._retry_at:
            return
        self._settle()
        settled = self._tracker.inflight() == 0 and not self._commit_failures
        if force or self._policy.due(
            now, self._last_commit_at, self._since_commit, settled=settled
        ):
            positions = self._tracker.committable()
            ok = self._commit(positions)
            self._commit_failures = 0 if ok else self._commit_failures + 1
            backoff_s = self._policy.interval_s * 2.0 ** max(0, self._commit_failures - 1)
            self._retry_at = now + min(backoff_s, COMMIT_RETRY_MAX_S) if not ok else 0.0
            self._last_commit_at = now
            self._since_commit = self._tracker.inflight() + (0 if ok else len(positions))

    def _commit(self, positions: dict[TopicPartitionKey, int]) -> bool:
        """Synchronous commit of acknowledged positions. Returns False when it failed (it
        is logged; the caller retries later)."""
        if not positions:
            return True
        from confluent_kafka import KafkaException, TopicPartition

        offsets = [
            TopicPartition(t, p, o, metadata=streak_metadata(self._tracker.note((t, p))))
            for (t, p), o in positions.items()
        ]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            log_event(_log, "commit_failed", level=logging.WARNING, error=str(exc.args[0]))
            if self._metrics is not None:
                self._metrics.commit_failures.inc()
            return False
        self._tracker.mark_committed(positions)
        if self._metrics is not None:
            self._metrics.commits.inc()
        return True

    def on_revoke(self, partitions: set[TopicPartitionKey], timeout_s: float) -> None:
        """Wait (bounded) for the revoked partitions' acks, commit them, forget them."""
        self._producer.flush(timeout_s)
        self._flush_counts()
        self._commit(self._tracker.committable(partitions))
        self._tracker.forget(partitions)

    def on_lost(self, partitions: set[TopicPartitionKey]) -> None:
        """Forget lost partitions without committing (another member may own them now);
        their late acks are ignored. The acks already served are settled first: they must
        not release these offsets once read again. Does not block."""
        self._settle()
        self._tracker.forget(partitions)

    def close(self, timeout_s: float) -> None:
        remaining = self._producer.flush(timeout_s)
        self._flush_counts()
        self._raise_on_failure()
        self._commit(self._tracker.committable())
        if remaining:
            log_event(_log, "flush_incomplete", level=logging.WARNING, unacknowledged=remaining)

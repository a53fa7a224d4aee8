"""Exactly-once delivery: one transaction per batch holding its records and the consumer
offsets (KIP-447: zombies are fenced by the group generation sent with the offsets).

A transaction the broker makes abortable (a rebalance moved the group to a new generation
mid-transaction: ``ILLEGAL_GENERATION``, ``UNKNOWN_MEMBER_ID``, ``REBALANCE_IN_PROGRESS``)
is aborted and its batch rewound: the consumer seeks back to the batch's first offset per
partition and the loop goes on. A fatal error (this producer was fenced) is raised: the
worker stops and its restart re-reads from the last committed batch. Driven by the poll
loop's thread; delivery callbacks run inside ``producer.poll``/``flush`` on it too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from consumer.batch_records import BatchResult, OutRecord, SourceResult
from consumer.clock import Clock
from consumer.delivery import PublisherBase
from consumer.logs import log_event
from consumer.offsets import TopicPartitionKey, streak_metadata

if TYPE_CHECKING:
    from confluent_kafka import Consumer, KafkaError, Producer

    from consumer.observability.metrics import Metrics

_log = logging.getLogger("moodstream.delivery")


def _purged() -> frozenset[int]:
    from confluent_kafka import KafkaError

    return frozenset({KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT})


class ExactlyOnce(PublisherBase):
    """One transaction per batch: outputs + offsets commit together or not at all."""

    def __init__(
        self,
        producer: Producer,
        consumer: Consumer,
        clock: Clock,
        timeout_s: float,
        metrics: Metrics | None = None,
    ) -> None:
        super().__init__(producer, consumer, clock, metrics)
        self._timeout_s = timeout_s
        self._uncommitted: list[tuple[SourceResult, OutRecord]] = []  # counted on commit
        self._txn = 0  # delivery reports of an earlier (aborted) transaction are ignored
        self.aborted = 0
        self._producer.init_transactions(timeout_s)

    def inflight(self) -> int:
        return 0  # every batch is committed (or rewound) before the next is polled

    def oldest_pending(self) -> dict[TopicPartitionKey, int]:
        return {}

    def begin(self, sources: list[SourceResult]) -> None:
        self._txn += 1
        self._uncommitted.clear()
        self._producer.begin_transaction()

    def publish(self, result: BatchResult) -> None:
        try:
            for source in result.sources:
                for record in source.records:
                    self._produce(record, self._callback(source, record))
        except Exception:
            self._abort()
            raise

    def end(self, sources: list[SourceResult]) -> None:
        """Put the batch's offsets in its transaction and commit it (blocks). An abortable
        failure aborts it and rewinds the batch; anything else aborts and re-raises (the
        worker then restarts from the last committed batch)."""
        from confluent_kafka import KafkaException, TopicPartition

        last: dict[TopicPartitionKey, SourceResult] = {}
        for source in sources:
            if source.tp not in last or source.offset > last[source.tp].offset:
                last[source.tp] = source
        try:
            offsets = [
                TopicPartition(t, p, s.offset + 1, metadata=streak_metadata(s.invalid_streak))
                for (t, p), s in last.items()
            ]
            metadata = self._consumer.consumer_group_metadata()
            self._producer.send_offsets_to_transaction(offsets, metadata, self._timeout_s)
            self._producer.commit_transaction(self._timeout_s)
        except KafkaException as exc:
            error = exc.args[0]
            self._abort()
            if error.fatal() or not error.txn_requires_abort():
                raise
            self._raise_on_failure()  # a record refused for good: rewinding cannot help
            self._rewind(sources, error)
            return
        except Exception:
            self._abort()
            raise
        self._raise_on_failure()
        self._committed()

    def _committed(self) -> None:
        self._producer.poll(0)  # any delivery report still queued
        counted, self._uncommitted = self._uncommitted, []
        for source, record in counted:
            super()._count(source, record)
        if self._metrics is not None:
            self._metrics.commits.inc()

    def _count(self, source: SourceResult, record: OutRecord) -> None:
        self._uncommitted.append((source, record))

    def _rewind(self, sources: list[SourceResult], error: KafkaError) -> None:
        """Seek back to the batch's first offset per partition, so its events are read
        and published again in a new transaction. A partition no longer assigned is
        skipped: its new owner reads from the last committed offset."""
        from confluent_kafka import KafkaException, TopicPartition

        first: dict[TopicPartitionKey, int] = {}
        for source in sources:
            first[source.tp] = min(first.get(source.tp, source.offset), source.offset)
        rewound = []
        for (topic, partition), offset in sorted(first.items()):
            try:
                self._consumer.seek(TopicPartition(topic, partition, offset))
                rewound.append(partition)
            except KafkaException:
                continue
        self.aborted += 1
        log_event(
            _log,
            "transaction_aborted",
            level=logging.WARNING,
            error=error.str(),
            rewound=rewound,
            events=len(sources),
        )

    def _callback(self, source: SourceResult, record: OutRecord) -> Callable[..., None]:
        txn = self._txn

        def on_delivery(err: KafkaError | None, _msg: Any) -> None:
            if txn != self._txn or (err is not None and err.code() in _purged()):
                return  # of an aborted transaction: its batch is rewound, not failed
            self._delivered(source, record, err)

        return on_delivery

    def _abort(self) -> None:
        self._txn += 1
        self._uncommitted.clear()
        try:
            self._producer.abort_transaction(self._timeout_s)
        except Exception as exc:  # the worker restarts anyway; say why
            log_event(_log, "transaction_abort_failed", level=logging.ERROR, error=str(exc))

    def maybe_commit(self, now: float, *, force: bool = False) -> None:
        return None  # offsets ride in each batch's transaction

    def on_revoke(self, partitions: set[TopicPartitionKey], timeout_s: float) -> None:
        return None  # nothing is in flight between batches

    def on_lost(self, partitions: set[TopicPartitionKey]) -> None:
        return None

    def close(self, timeout_s: float) -> None:
        self._producer.flush(timeout_s)

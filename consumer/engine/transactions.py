"""Exactly-once delivery: one transaction per batch holding its records and the consumer
offsets (KIP-447: zombies are fenced by the group generation sent with the offsets).

A transaction the broker makes abortable (a rebalance moved the group to a new generation
mid-transaction: ``ILLEGAL_GENERATION``, ``UNKNOWN_MEMBER_ID``, ``REBALANCE_IN_PROGRESS``)
is aborted and its batch rewound: the consumer seeks back to the batch's first offset per
partition and the loop goes on. A retriable error (the transaction or group coordinator
moved or died: ``NOT_COORDINATOR``, a timeout, an abort still in progress) is retried,
with a back-off, until ``RETRY_FOR_TIMEOUTS`` x ``timeout_s`` (the service passes
``KAFKA__CONNECT_TIMEOUT_S``, 20 s) has passed; then the transaction is aborted (again
retried) and rewound, except after a call that timed out (it is still in progress: an
abort would conflict with it), which is raised. A fatal
error (this producer was fenced) is raised: the worker stops and its restart re-reads
from the last committed batch. Driven by the poll
loop's thread; delivery callbacks run inside ``producer.poll``/``flush`` on it too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from consumer.clock import Clock
from consumer.engine.batch_records import BatchResult, OutRecord, SourceResult
from consumer.engine.delivery import PublisherBase
from consumer.engine.offsets import TopicPartitionKey, streak_metadata
from consumer.logs import log_event

if TYPE_CHECKING:
    from confluent_kafka import Consumer, KafkaError, Producer

    from consumer.observability.metrics import Metrics

_log = logging.getLogger("moodstream.delivery")
#: How long a retriable transactional call is retried, in ``timeout_s`` (one call's bound).
#: With the 60 s transaction timeout as ``timeout_s`` (tried) a worker went 100 s without
#: a heartbeat after a pause and was killed as hung (suspected: two long calls in one
#: batch); 20 s keeps a stuck commit (30 s) plus its abort (30 s) under that bound.
RETRY_FOR_TIMEOUTS = 1.5


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
        from confluent_kafka import KafkaError, KafkaException, TopicPartition

        last: dict[TopicPartitionKey, SourceResult] = {}
        for source in sources:
            if source.tp not in last or source.offset > last[source.tp].offset:
                last[source.tp] = source
        offsets = [
            TopicPartition(t, p, s.offset + 1, metadata=streak_metadata(s.invalid_streak))
            for (t, p), s in last.items()
        ]
        deadline = self._clock.monotonic() + RETRY_FOR_TIMEOUTS * self._timeout_s
        try:
            metadata = self._consumer.consumer_group_metadata()
            self._retrying(
                lambda t: self._producer.send_offsets_to_transaction(offsets, metadata, t),
                deadline,
            )
            self._retrying(self._producer.commit_transaction, deadline)
        except KafkaException as exc:
            error = exc.args[0]
            if error.code() == KafkaError._TIMED_OUT:
                # Still in progress at the deadline (a timed-out call resumes only when
                # called again): an abort now would conflict with it, and rewinding could
                # publish a batch twice if it still commits. The worker restarts; its
                # successor (same transactional id) aborts this transaction.
                raise
            self._abort()
            if error.fatal() or not (error.txn_requires_abort() or error.retriable()):
                raise
            self._raise_on_failure()  # a record refused for good: rewinding cannot help
            self._rewind(sources, error)
            return
        except Exception:
            self._abort()
            raise
        self._raise_on_failure()
        self._committed()

    def _retrying(self, call: Callable[[float], None], deadline: float) -> None:
        """``call(timeout_s)``, again while it fails with a retriable error and ``deadline``
        (monotonic) has not passed, serving delivery reports for a growing back-off
        (0.1-1 s) in between. Blocks up to the deadline; raises the last error. A
        ``_CONFLICT`` (another transactional call timed out and is still in progress) is
        raised at once: retrying it cannot succeed, and did spin at 25,000 calls a
        second."""
        from confluent_kafka import KafkaError, KafkaException

        backoff_s = 0.1
        while True:
            timeout_s = max(1.0, min(self._timeout_s, deadline - self._clock.monotonic()))
            try:
                call(timeout_s)
                return
            except KafkaException as exc:
                error = exc.args[0]
                late = self._clock.monotonic() >= deadline
                hopeless = error.code() == KafkaError._CONFLICT or error.txn_requires_abort()
                if late or hopeless or not error.retriable():
                    raise
                log_event(_log, "transaction_retry", level=logging.WARNING, error=error.str())
                self._producer.poll(backoff_s)
                backoff_s = min(1.0, 2 * backoff_s)

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
        """Abort the open transaction, retrying while the coordinator is unavailable (an
        abort left in progress would refuse the next transaction: INVALID_TXN_STATE)."""
        self._txn += 1
        self._uncommitted.clear()
        deadline = self._clock.monotonic() + RETRY_FOR_TIMEOUTS * self._timeout_s
        try:
            self._retrying(self._producer.abort_transaction, deadline)
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

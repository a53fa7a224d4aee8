"""Exactly-once delivery: one transaction per batch holding its records and the consumer
offsets (KIP-447: zombies are fenced by the group generation sent with the offsets).

Every failure of a transactional call is handled as one pure table says
(``consumer.engine.txn_policy``: error kind x phase -> retry, abort and rewind, replace
the producer, restart the worker), all within the worker where it can be (no model
reload, no group rejoin):

- abort and rewind: the transaction is aborted and its events are read and published
  again. With a producer factory (the service always has one) the abort is followed by a
  replacement (below): a new producer epoch, so that a write of the aborted transaction
  still in flight (a produce request that timed out but may yet be appended) is fenced
  instead of joining the next transaction under the same epoch and committing with it
  (a duplicate, seen once under a rolling restart; the broker's KIP-890 partition
  verification refuses such a write only once the epoch has moved on). Without one the
  consumer seeks back to the batch's first offset per partition;
- replace the producer (``producer_recreated``): a new one with the same transactional
  id, whose ``init_transactions`` fences the old one and ends its open transaction, then
  every assigned partition is rewound to the group's committed offsets. The committed
  offsets, not the batch's first ones: a transaction whose outcome the client never
  learned may have committed, and then its batch must not be published again;
- a rewind that fails for a partition still owned never goes on past the batch
  (``consumer.engine.txn_seek``: sought at the committed offset, else RewindFailed);
- ``close`` aborts a transaction still open, so read_committed subscribers are not held
  at the last stable offset until the broker times it out.

Offsets are never committed outside a transaction. Driven by the poll loop's thread;
delivery callbacks run inside ``producer.poll``/``flush`` on it too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from consumer.clock import Clock
from consumer.engine.batch_records import BatchResult, OutRecord, SourceResult
from consumer.engine.delivery import PublisherBase
from consumer.engine.offsets import TopicPartitionKey
from consumer.engine.txn_calls import BoundedCalls
from consumer.engine.txn_clients import TxnConsumer, TxnProducer
from consumer.engine.txn_policy import Action, Phase
from consumer.engine.txn_producer import ProducerLife, Report
from consumer.engine.txn_retry import Retrying, TxnCallFailed
from consumer.engine.txn_rewind import (
    batch_offsets,
    first_offsets,
)
from consumer.engine.txn_seek import Rewinder
from consumer.logs import log_event
from consumer.settings_txn import TxnBudget

if TYPE_CHECKING:
    from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

    from consumer.observability.metrics import Metrics

_log = logging.getLogger("moodstream.delivery")


def _purged() -> frozenset[int]:
    from confluent_kafka import KafkaError

    return frozenset({KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT})


class ExactlyOnce(PublisherBase):
    """One transaction per batch: outputs + offsets commit together or not at all.

    ``new_producer`` makes a producer with this worker's transactional id (None: a fatal
    error is raised instead of replacing the producer). ``waiting(what)`` is told, between
    attempts, that the worker is alive and waiting on Kafka (the hang detector).
    ``bounded`` runs ``send_offsets_to_transaction`` (``OnThread`` in the service) and
    ``report(reason)`` hears why the worker is not ready while a call is left stuck: the
    producer's life, replacements and stuck calls, is ``ProducerLife``'s."""

    _producer: Producer  # the base's queueing producer, transactional here

    def __init__(
        self,
        producer: TxnProducer,
        consumer: TxnConsumer,
        clock: Clock,
        timeout_s: float,
        metrics: Metrics | None = None,
        *,
        new_producer: Callable[[], TxnProducer] | None = None,
        waiting: Callable[[str], None] | None = None,
        bounded: BoundedCalls | None = None,
        report: Report | None = None,
    ) -> None:
        # PublisherBase is typed with the concrete clients; this class uses only what the
        # protocols name (the casts change no value).
        super().__init__(cast("Producer", producer), cast("Consumer", consumer), clock, metrics)
        self._txn_consumer = consumer
        self._budget = TxnBudget(timeout_s)  # every recovery wait (consumer/settings_txn.py)
        self._life = ProducerLife(producer, clock, make=new_producer, bounded=bounded,
                                  metrics=metrics, report=report)  # fmt: skip
        self._retry = Retrying(clock, timeout_s, lambda s: self._producer.poll(s), waiting)
        self._rewinder = Rewinder(consumer, self._retry, clock, self._budget.committed_s)
        self._uncommitted: list[tuple[SourceResult, OutRecord]] = []  # counted on commit
        self._txn = 0  # delivery reports of an earlier (aborted) transaction are ignored
        self._open = False  # a transaction begun and not yet committed or aborted
        self.aborted = 0
        self._producer.init_transactions(timeout_s)

    @property
    def recreated(self) -> int:
        """Producers replaced in place so far."""
        return self._life.recreated

    @property
    def stuck_calls(self) -> int:
        return self._life.stuck

    def poll(self) -> None:
        """Serve delivery callbacks and count the stuck calls left (their gauge and health
        reason). Does not block. Raises DeliveryFailed."""
        self._life.refresh()
        super().poll()

    def inflight(self) -> int:
        return 0  # every batch is committed (or rewound) before the next is polled

    def oldest_pending(self) -> dict[TopicPartitionKey, int]:
        return {}

    def begin(self, sources: list[SourceResult]) -> None:
        """Open the batch's transaction. A producer that refuses (left in an error state)
        is replaced first (the table's ``begin`` row); nothing of this batch is published
        yet, so nothing is rewound."""
        from confluent_kafka import KafkaException

        self._txn += 1
        self._uncommitted.clear()
        try:
            self._producer.begin_transaction()
        except KafkaException as exc:
            failed = TxnCallFailed.of(Phase.BEGIN, exc)
            if failed.action is not Action.REPLACE_PRODUCER or not self._life.replaceable:
                raise
            self._replace_producer(failed.why)
            self._producer.begin_transaction()
        self._open = True

    def publish(self, result: BatchResult) -> None:
        """Queue the part's records in the open transaction. Anything raised (the table's
        ``produce`` row: restart the worker) aborts the transaction first."""
        try:
            for source in result.sources:
                for record in source.records:
                    self._produce(record, self._callback(source, record))
        except Exception:
            self._abort()
            raise

    def end(self, sources: list[SourceResult]) -> None:
        """Put the batch's offsets in its transaction and commit it (blocks, up to the
        retry bound, the commit resumed up to the budget's ``commit_resume_s`` past it, and,
        on a replacement, its own bounds). A failure is handled as the decision table says
        (``consumer.engine.txn_policy``); raises KafkaException (or CallStuck, RewindFailed)
        when no in-place recovery is possible (the worker then restarts), DeliveryFailed for
        a record refused for good."""
        deadline = self._clock.monotonic() + self._budget.retry_s
        commit_by = deadline + self._budget.commit_resume_s  # its outcome unknown till then
        try:
            self._send_offsets(batch_offsets(sources), deadline)
            self._retry.run(Phase.COMMIT, self._producer.commit_transaction, commit_by)
        except TxnCallFailed as failed:
            self._act(sources, failed)
            return
        except Exception:
            self._abort()
            raise
        self._raise_on_failure()
        self._committed()

    def _send_offsets(self, offsets: list[TopicPartition], deadline: float) -> None:
        """``send_offsets_to_transaction``, retried, each attempt bounded (its timeout, at
        most the budget's ``send_offsets_s``, plus its ``stuck_grace_s``): a stuck one raises
        TxnCallFailed (kind ``stuck``)."""
        metadata = self._txn_consumer.consumer_group_metadata()
        producer = self._producer  # the stuck thread keeps this one, not a replacement

        def attempt(timeout_s: float) -> None:
            timeout_s = min(timeout_s, self._budget.send_offsets_s)
            self._life.bounded(
                lambda: producer.send_offsets_to_transaction(offsets, metadata, timeout_s),
                timeout_s + self._budget.stuck_grace_s,
                lambda: self._retry.alive(Phase.SEND_OFFSETS),
            )

        self._retry.run(Phase.SEND_OFFSETS, attempt, deadline)

    def _act(self, sources: list[SourceResult], failed: TxnCallFailed) -> None:
        """Do what the table says for the batch's failed transaction: abort and rewind it
        (with a producer factory, to a new epoch: replaced after the abort; an abort that
        fails goes by the ``abort`` row: replace the producer), or replace the producer
        and rewind to the committed offsets. Without a producer factory a
        replacement is a restart: the call's error is raised. A record refused for good
        raises DeliveryFailed."""
        action, why = failed.action, failed.why
        if action is Action.ABORT_AND_REWIND:
            aborted = self._abort()
            if aborted is None:
                self._raise_on_failure()  # a record refused for good: rewinding cannot help
                if self._life.replaceable:  # the aborted epoch ends with its transaction
                    self._recover(sources, why)
                else:
                    self._rewind(sources, why)
                return
            action = aborted.action
            if not self._life.replaceable:
                self._raise_on_failure()  # a refused record is the cause to stop with
        if action is Action.REPLACE_PRODUCER and self._life.replaceable:
            self._recover(sources, why)
            return
        raise failed.cause

    def _recover(self, sources: list[SourceResult], why: str) -> None:
        """Replace the producer, then rewind every assigned partition to the group's
        committed offsets (the batch's first offset where none is committed). Blocks up to
        a retry bound plus the budget's ``committed_s``; raises KafkaException or
        RewindFailed when that fails."""
        if self._failure_is_auth:
            self._raise_on_failure()
        self._failure = None  # the old transaction's records: it is ended, not published
        deadline = self._replace_producer(why)
        rewound = self._rewinder.to_committed(first_offsets(sources), deadline)
        self._rewound(rewound, "producer_recreated", len(sources))

    def _replace_producer(self, why: str) -> float:
        """Replace the producer (``ProducerLife.replace``) and ``init_transactions`` the new
        one, fencing the old one and ending its transaction. Blocks up to the budget's
        ``replacement_s``; returns its deadline (monotonic), which the committed-offset
        reads after it share; raises KafkaException when the new one cannot initialise
        by then (the worker restarts)."""
        self._txn += 1
        self._open = False  # the new producer's init_transactions ends the old one's
        self._uncommitted.clear()
        deadline = self._clock.monotonic() + self._budget.replacement_s
        try:
            self._life.replace(why, lambda producer: self._init(producer, deadline))
        finally:
            self._producer = cast("Producer", self._life.producer)
        return deadline

    def _init(self, producer: TxnProducer, deadline: float) -> None:
        self._retry.alive(Phase.INIT)
        self._retry.run_or_raise(Phase.INIT, producer.init_transactions, deadline)

    def _rewound(self, partitions: list[int], why: str, events: int) -> None:
        self.aborted += 1
        log_event(_log, "transaction_aborted", level=logging.WARNING, error=why,
                  rewound=partitions, events=events)  # fmt: skip

    def _committed(self) -> None:
        self._open = False
        self._producer.poll(0)  # any delivery report still queued
        counted, self._uncommitted = self._uncommitted, []
        self._count_all(counted)
        self._flush_counts()
        if self._metrics is not None:
            self._metrics.commits.inc()

    def _count(self, source: SourceResult, record: OutRecord) -> None:
        self._uncommitted.append((source, record))

    def _rewind(self, sources: list[SourceResult], why: str) -> None:
        """Seek back to the batch's first offset per partition (its transaction is aborted),
        so its events are read and published again in a new transaction."""
        rewound = self._rewinder.to_batch_start(first_offsets(sources))
        self._rewound(rewound, why, len(sources))

    def _callback(self, source: SourceResult, record: OutRecord) -> Callable[..., None]:
        txn = self._txn

        def on_delivery(err: KafkaError | None, _msg: Any) -> None:
            if txn != self._txn or (err is not None and err.code() in _purged()):
                return  # of an aborted transaction: its batch is rewound, not failed
            self._delivered(source, record, err)

        return on_delivery

    def _abort(self, deadline: float | None = None) -> TxnCallFailed | None:
        """Abort the open transaction, retrying as the table's ``abort`` row says (a
        timed-out abort is resumed by calling it again) until ``deadline`` (monotonic;
        None: the retry bound). Returns None once aborted, else the failure (logged; the
        caller then replaces the producer, or the worker restarts)."""
        self._txn += 1
        self._open = False  # aborted, or left to the replacement that fences it
        self._uncommitted.clear()
        if deadline is None:
            deadline = self._clock.monotonic() + self._budget.retry_s
        try:
            self._retry.run(Phase.ABORT, self._producer.abort_transaction, deadline)
        except Exception as exc:
            failed = exc if isinstance(exc, TxnCallFailed) else TxnCallFailed.of(Phase.ABORT, exc)
            log_event(_log, "transaction_abort_failed", level=logging.ERROR, error=failed.why)
            return failed
        return None

    def maybe_commit(self, now: float, *, force: bool = False) -> None:
        return None  # offsets ride in each batch's transaction

    def on_revoke(self, partitions: set[TopicPartitionKey], timeout_s: float) -> None:
        return None  # nothing is in flight between batches

    def on_lost(self, partitions: set[TopicPartitionKey]) -> None:
        return None

    def close(self, timeout_s: float) -> None:
        """Abort a transaction still open (the drain's deadline ended before its batch
        did: its events were never committed and are read again), so read_committed
        subscribers are not held at the last stable offset until the broker times it out;
        then flush. Blocks up to about ``timeout_s``; never raises for the abort (logged)."""
        deadline = self._clock.monotonic() + timeout_s
        if self._open:
            failed = self._abort(deadline)
            log_event(_log, "transaction_aborted_on_close", level=logging.WARNING,
                      aborted=failed is None)  # fmt: skip
        self._producer.flush(max(0.0, deadline - self._clock.monotonic()))

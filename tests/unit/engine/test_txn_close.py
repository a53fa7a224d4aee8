"""Closing the exactly-once publisher (fake clients typed by the protocols, fake clock): a
transaction still open when the drain's deadline ends is aborted, so read_committed
subscribers are not held at the last stable offset until the broker times it out."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException
from prometheus_client import CollectorRegistry

from consumer.engine.batch_records import BatchResult
from consumer.engine.transactions import ExactlyOnce
from consumer.observability.metrics import Metrics
from tests.fakes import FakeClock
from tests.fakes.txn import SeekingConsumer, TxnProducer
from tests.unit.engine.test_transactions import (
    batch,
    published,
    run_batch,
)


class UnreachableAbort(TxnProducer):
    """abort_transaction times out (the coordinator unreachable), taking its timeout."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock

    def abort_transaction(self, timeout: float) -> None:
        self.calls.append("abort")
        self.clock.advance(timeout)
        raise KafkaException(KafkaError(KafkaError._TIMED_OUT, retriable=True))


def test_close_aborts_a_transaction_still_open_then_flushes() -> None:
    producer, registry = TxnProducer(), CollectorRegistry()
    publisher = ExactlyOnce(producer, SeekingConsumer(), FakeClock(), 5.0, Metrics(registry))
    sources = batch()
    publisher.begin(sources)
    publisher.publish(BatchResult(sources, []))  # the models of the rest never answered
    publisher.close(10.0)
    assert producer.calls == ["init", "begin", "abort", "flush"]
    assert published(registry) == 0  # delivered inside the aborted transaction


def test_close_after_a_committed_batch_only_flushes() -> None:
    producer = TxnProducer()
    publisher = ExactlyOnce(producer, SeekingConsumer(), FakeClock(), 5.0)
    run_batch(publisher, batch())
    publisher.close(10.0)
    assert producer.calls == ["init", "begin", "commit", "flush"]


def test_close_after_an_aborted_batch_aborts_nothing_more() -> None:
    illegal = KafkaError(KafkaError.ILLEGAL_GENERATION, txn_requires_abort=True)
    producer = TxnProducer(offsets_error=illegal)
    publisher = ExactlyOnce(producer, SeekingConsumer(), FakeClock(), 5.0)
    run_batch(publisher, batch())  # aborted and rewound
    publisher.close(10.0)
    assert producer.calls.count("abort") == 1 and producer.calls[-1] == "flush"


def test_an_abort_that_cannot_reach_the_coordinator_ends_within_the_close_budget() -> None:
    clock = FakeClock()
    producer = UnreachableAbort(clock)
    publisher = ExactlyOnce(producer, SeekingConsumer(), clock, 5.0)
    publisher.begin(batch())
    publisher.close(3.0)  # must not raise: the worker is stopping anyway
    assert producer.calls.count("abort") == 1 and producer.calls[-1] == "flush"
    assert clock.t - 1_000.0 <= 3.0 + 0.1  # one call within the budget, no retry past it

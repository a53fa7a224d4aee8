"""Exactly-once publisher with fake clients (no broker): an abortable transaction is aborted
and its batch rewound, only committed records are counted, transactional ids per instance."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException
from prometheus_client import CollectorRegistry

from consumer.engine.batch_records import BatchResult, OutRecord, SourceResult
from consumer.engine.transactions import ExactlyOnce
from consumer.kafka.clients import transactional_id
from consumer.observability.metrics import Metrics
from consumer.settings import Settings
from tests.fakes import FakeClock
from tests.fakes.txn import SeekingConsumer, TxnProducer


def batch() -> list[SourceResult]:
    prediction = OutRecord("out", b"k", b"{}", label="false")
    return [
        SourceResult(("in", partition), offset, 0.0, [prediction])
        for partition, offset in ((0, 7), (0, 8), (2, 3))
    ]


def run_batch(publisher: ExactlyOnce, sources: list[SourceResult]) -> None:
    publisher.begin(sources)
    publisher.publish(BatchResult(sources, []))
    publisher.end(sources)


def published(registry: CollectorRegistry) -> float:
    name = "moodstream_predictions_published_total"
    return registry.get_sample_value(name, {"partial": "false"}) or 0.0


def test_an_abortable_failure_aborts_rewinds_and_goes_on() -> None:
    illegal = KafkaError(KafkaError.ILLEGAL_GENERATION, txn_requires_abort=True)
    producer, consumer, registry = TxnProducer(illegal), SeekingConsumer(), CollectorRegistry()
    publisher = ExactlyOnce(producer, consumer, FakeClock(), 5.0, Metrics(registry))
    run_batch(publisher, batch())  # must not raise
    assert producer.calls[-1] == "abort" and consumer.seeks == [(0, 7), (2, 3)]
    assert published(registry) == 0  # delivered inside an aborted transaction: not counted
    run_batch(publisher, batch())  # the rewound batch, read again
    assert producer.calls[-1] == "commit" and published(registry) == 3
    assert publisher.aborted == 1


def test_a_fatal_failure_is_raised() -> None:
    fenced = KafkaError(KafkaError._FENCED, fatal=True)
    producer, consumer = TxnProducer(fenced), SeekingConsumer()
    publisher = ExactlyOnce(producer, consumer, FakeClock(), 5.0)
    try:
        run_batch(publisher, batch())
    except KafkaException as exc:
        assert exc.args[0].code() == KafkaError._FENCED
    else:
        raise AssertionError("a fenced producer must stop the worker")
    assert consumer.seeks == []


class MovingCoordinator(TxnProducer):
    """The coordinator is unavailable for ``failures`` calls: each takes its timeout on the
    fake clock and raises a retriable error (NOT_COORDINATOR, as after a broker kill)."""

    def __init__(self, clock: FakeClock, failures: int, abort_failures: int = 0) -> None:
        super().__init__()
        self.clock, self.failures, self.abort_failures = clock, failures, abort_failures

    def _unavailable(self, timeout: float, attempts: str) -> None:
        if getattr(self, attempts) > 0:
            setattr(self, attempts, getattr(self, attempts) - 1)
            self.clock.advance(timeout)
            raise KafkaException(KafkaError(KafkaError.NOT_COORDINATOR, retriable=True))

    def send_offsets_to_transaction(self, offsets: Any, meta: Any, timeout: float) -> None:
        self.calls.append("offsets")
        self._unavailable(timeout, "failures")
        super().send_offsets_to_transaction(offsets, meta, timeout)

    def abort_transaction(self, timeout: float) -> None:
        self.calls.append("abort")
        self._unavailable(timeout, "abort_failures")


def test_a_moving_coordinator_is_retried_not_a_crash() -> None:
    clock = FakeClock()
    producer, consumer = MovingCoordinator(clock, failures=1), SeekingConsumer()
    publisher = ExactlyOnce(producer, consumer, clock, 5.0)
    run_batch(publisher, batch())
    assert producer.calls[-3:] == ["offsets", "offsets", "commit"]
    assert consumer.seeks == [] and publisher.aborted == 0


def test_a_coordinator_gone_too_long_aborts_and_rewinds_within_the_bound() -> None:
    clock = FakeClock()
    producer = MovingCoordinator(clock, failures=100, abort_failures=1)
    consumer = SeekingConsumer()
    publisher = ExactlyOnce(producer, consumer, clock, 5.0)
    run_batch(publisher, batch())  # must not raise
    # each takes its timeout, 2.5 s (1/18 of the 9 x 5 s budget), within 7.5 s (1/6 of it)
    assert producer.calls.count("offsets") == 3
    assert producer.calls[-2:] == ["abort", "abort"]  # the abort is retried too
    assert consumer.seeks == [(0, 7), (2, 3)] and publisher.aborted == 1
    assert clock.t - 1_000.0 <= 2 * 1.5 * 5.0 + 5.0  # bounded: it never hangs the loop


def test_transactional_ids_differ_per_instance_and_repeat_per_slot() -> None:
    settings = Settings()
    assert transactional_id(settings, 0, "a1") != transactional_id(settings, 0, "b2")
    assert transactional_id(settings, 0, "a1") == transactional_id(settings, 0, "a1")
    assert transactional_id(settings, 0, "a1") != transactional_id(settings, 1, "a1")


class TimingOutCommit(TxnProducer):
    """commit_transaction times out (the coordinator unreachable); abort_transaction then
    conflicts with the commit still in progress, as librdkafka answers."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock

    def commit_transaction(self, timeout: float) -> None:
        self.calls.append("commit")
        self.clock.advance(timeout)
        raise KafkaException(KafkaError(KafkaError._TIMED_OUT, retriable=True))

    def abort_transaction(self, _timeout: float) -> None:
        self.calls.append("abort")
        raise KafkaException(KafkaError(KafkaError._CONFLICT, retriable=True))


def test_a_commit_still_timing_out_at_the_deadline_is_raised_not_aborted_or_rewound() -> None:
    clock = FakeClock()
    producer, consumer = TimingOutCommit(clock), SeekingConsumer()
    publisher = ExactlyOnce(producer, consumer, clock, 5.0)
    with pytest.raises(KafkaException) as raised:  # its outcome is unknown: stop the worker
        run_batch(publisher, batch())
    assert raised.value.args[0].code() == KafkaError._TIMED_OUT
    # resumed through the phase's 7.5 s and the commit's 7.5 s more: 5 + 5 + 4.8 s
    assert producer.calls.count("commit") == 3 and "abort" not in producer.calls
    assert consumer.seeks == []  # rewinding could publish the batch twice


def test_a_conflicting_abort_is_not_retried_in_a_spin() -> None:
    clock = FakeClock()
    producer = TimingOutCommit(clock)
    publisher = ExactlyOnce(producer, SeekingConsumer(), clock, 5.0)
    publisher.begin(batch())
    try:
        publisher.publish(BatchResult(batch(), []))
        raise RuntimeError("a record that cannot be published")
    except RuntimeError:
        publisher._abort()  # logs the failure; the worker restarts on the next call
    assert producer.calls.count("abort") == 1

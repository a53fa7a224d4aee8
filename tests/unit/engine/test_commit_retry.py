"""A failed commit is retried on a later tick without new messages (fake clients, fake clock)."""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaError, KafkaException

from consumer.engine.delivery import AtLeastOnce
from consumer.engine.offsets import CommitPolicy
from tests.fakes import FakeClock
from tests.fakes.kafka import FakeConsumer, FakeProducer
from tests.unit.engine.test_delivery import batch, publish


class FailingOnce(FakeConsumer):
    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.attempts = 0

    def commit(self, *, offsets: list[Any], asynchronous: bool) -> None:
        self.attempts += 1
        if self.failures:
            self.failures -= 1
            raise KafkaException(KafkaError(KafkaError.ILLEGAL_GENERATION))
        super().commit(offsets=offsets, asynchronous=asynchronous)


def test_a_failed_commit_is_retried_while_the_stream_is_idle() -> None:
    clock, producer, consumer = FakeClock(), FakeProducer(), FailingOnce(failures=2)
    publisher = AtLeastOnce(producer, consumer, clock, CommitPolicy(1.0, 1000))
    publish(publisher, batch(0, 1, 2))
    producer.deliver()
    clock.advance(0.2)
    publisher.maybe_commit(clock.monotonic())  # settled: due, fails
    assert (consumer.attempts, consumer.commits) == (1, [])
    clock.advance(0.5)
    publisher.maybe_commit(clock.monotonic())  # no retry before the commit interval
    assert consumer.attempts == 1
    clock.advance(0.5)
    publisher.maybe_commit(clock.monotonic())  # 1 s after the failure: retried, fails again
    assert consumer.attempts == 2
    clock.advance(1.0)
    publisher.maybe_commit(clock.monotonic())  # the next retry waits 2 s
    assert consumer.attempts == 2
    clock.advance(1.0)
    publisher.maybe_commit(clock.monotonic())  # succeeds; no new message meanwhile
    assert consumer.attempts == 3
    assert consumer.commits == [[("in", 0, 3)]]
    clock.advance(5.0)
    publisher.maybe_commit(clock.monotonic())
    assert consumer.attempts == 3  # nothing left to commit: no more attempts


def test_lost_partitions_are_forgotten_not_committed() -> None:
    clock, producer, consumer = FakeClock(), FakeProducer(), FakeConsumer()
    publisher = AtLeastOnce(producer, consumer, clock, CommitPolicy(1.0, 1000))
    publish(publisher, batch(0, 1))
    publisher.on_lost({("in", 0)})
    producer.deliver()  # late acks of a partition this worker no longer owns
    publisher.maybe_commit(clock.monotonic(), force=True)
    publish(publisher, batch(0, 1))  # owned again: its offsets may be tracked anew
    producer.deliver()
    publisher.maybe_commit(clock.monotonic(), force=True)
    assert consumer.commits == [[("in", 0, 2)]]


def test_acks_served_before_a_loss_never_release_the_offsets_read_again() -> None:
    clock, producer, consumer = FakeClock(), FakeProducer(), FakeConsumer()
    publisher = AtLeastOnce(producer, consumer, clock, CommitPolicy(1.0, 1000))
    publish(publisher, batch(0, 1))
    producer.deliver()  # served by a poll, not settled yet
    publisher.on_lost({("in", 0)})
    publish(publisher, batch(0, 1))  # owned again, read again: its new records not acked
    publisher.maybe_commit(clock.monotonic(), force=True)
    assert consumer.commits == []
    producer.deliver()
    publisher.maybe_commit(clock.monotonic(), force=True)
    assert consumer.commits == [[("in", 0, 2)]]

"""AtLeastOnce commit timing with fake Kafka clients and a fake clock (no broker, no threads)."""

from __future__ import annotations

from consumer.engine.batch_records import BatchResult, OutRecord, SourceResult
from consumer.engine.delivery import AtLeastOnce
from consumer.engine.offsets import CommitPolicy
from tests.fakes import FakeClock
from tests.fakes.kafka import FakeConsumer, FakeProducer

TP = ("in", 0)


def batch(*offsets: int) -> BatchResult:
    sources = [SourceResult(TP, o, 0.0, [OutRecord("out", b"k", b"v")]) for o in offsets]
    return BatchResult(sources, [])


def publish(publisher: AtLeastOnce, result: BatchResult) -> None:
    publisher.begin(result.sources)
    publisher.publish(result)
    publisher.end(result.sources)


def test_parts_published_out_of_order_commit_only_the_contiguous_prefix() -> None:
    clock, producer, consumer = FakeClock(), FakeProducer(), FakeConsumer()
    publisher = AtLeastOnce(producer, consumer, clock, CommitPolicy(1.0, 1000))
    whole = batch(0, 1, 2)
    publisher.begin(whole.sources)
    publisher.publish(BatchResult([whole.sources[0], whole.sources[2]], []))  # no PAT needed
    producer.deliver()
    publisher.maybe_commit(clock.monotonic(), force=True)
    assert consumer.commits == [[("in", 0, 1)]]  # offset 1 still waits for PAT
    publisher.publish(BatchResult([whole.sources[1]], []))
    producer.deliver()
    publisher.maybe_commit(clock.monotonic(), force=True)
    assert consumer.commits[-1] == [("in", 0, 3)]


def test_acks_that_arrive_after_a_due_commit_are_committed_later_without_new_messages() -> None:
    clock, producer, consumer = FakeClock(), FakeProducer(), FakeConsumer()
    publisher = AtLeastOnce(producer, consumer, clock, CommitPolicy(1.0, 1000))
    publish(publisher, batch(0, 1, 2))
    clock.advance(1.5)
    publisher.maybe_commit(clock.monotonic())  # due, but nothing is acknowledged yet
    assert consumer.commits == []
    producer.deliver()
    clock.advance(1.0)
    publisher.maybe_commit(clock.monotonic())  # no new message arrived meanwhile
    assert consumer.commits == [[("in", 0, 3)]]
    clock.advance(5.0)
    publisher.maybe_commit(clock.monotonic())
    assert len(consumer.commits) == 1  # nothing new: no empty commits


def test_revocation_flushes_and_commits_the_revoked_partition() -> None:
    clock, producer, consumer = FakeClock(), FakeProducer(), FakeConsumer()
    publisher = AtLeastOnce(producer, consumer, clock, CommitPolicy(60.0, 1000))
    publish(publisher, batch(5, 6))
    publisher.on_revoke({TP}, timeout_s=1.0)
    assert consumer.commits == [[("in", 0, 7)]]
    assert publisher.inflight() == 0

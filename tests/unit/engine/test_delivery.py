"""AtLeastOnce commit timing with fake Kafka clients and a fake clock (no broker, no threads)."""

from __future__ import annotations

from typing import Any

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


class ServingProducer(FakeProducer):
    """A producer whose queue is full at the second record of each publish: the publisher
    serves the first record's delivery report before the rest are queued."""

    def __init__(self) -> None:
        super().__init__()
        self.full_once = True

    def produce(self, topic: str, *args: Any) -> None:
        if len(self.pending) == 1 and self.full_once:
            self.full_once = False
            raise BufferError("queue full")
        super().produce(topic, *args)

    def poll(self, timeout: float = 0, /) -> int:
        if timeout > 0:  # the wait for room in a full queue serves the reports so far
            self.deliver()
        return 0


def test_an_offset_waits_for_all_its_records_and_one_with_none_is_released_at_once() -> None:
    clock, producer, consumer = FakeClock(), ServingProducer(), FakeConsumer()
    publisher = AtLeastOnce(producer, consumer, clock, CommitPolicy(1.0, 1000))
    three = [OutRecord("out", b"k", b"p"), OutRecord("alerts", b"k", b"a", kind="alert")] * 2
    sources = [
        SourceResult(TP, 0, 0.0, three[:3]),  # a prediction and two alerts
        SourceResult(TP, 1, 0.0, []),  # nothing to publish (e.g. given up)
        SourceResult(TP, 2, 0.0, [OutRecord("out", b"k", b"p")]),
    ]
    publisher.begin(sources)
    publisher.publish(BatchResult(sources[:2], []))  # offset 0's first record is acked early
    publisher.maybe_commit(clock.monotonic(), force=True)
    assert consumer.commits == []  # two of offset 0's three records are still unacknowledged
    producer.deliver()
    publisher.maybe_commit(clock.monotonic(), force=True)
    assert consumer.commits == [[("in", 0, 2)]]  # offsets 0 and 1; 2 is not published yet
    publisher.publish(BatchResult(sources[2:], []))
    producer.deliver()
    publisher.maybe_commit(clock.monotonic(), force=True)
    assert consumer.commits[-1] == [("in", 0, 3)]

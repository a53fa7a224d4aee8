"""Commits against the real broker (issue 14, fault 4): after a commit the broker refused,
acknowledged offsets are committed on a later tick although no new message arrives."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from consumer.clock import SystemClock
from consumer.engine.batch_records import BatchResult, OutRecord, SourceResult
from consumer.engine.delivery import AtLeastOnce
from consumer.engine.offsets import CommitPolicy
from consumer.settings import TopicSettings

pytestmark = pytest.mark.integration


def hold_group(bootstrap: str, group: str, topic: str) -> Consumer:
    """A member that keeps ``group`` non-empty, so a commit from outside it is refused."""
    member = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "partition.assignment.strategy": "cooperative-sticky",
        }
    )
    taken: list[TopicPartition] = []
    member.subscribe([topic], on_assign=lambda _c, parts: taken.extend(parts))
    deadline = time.monotonic() + 30
    while not taken and time.monotonic() < deadline:
        member.poll(0.2)
    assert taken, "the member never joined"
    return member


def test_a_refused_commit_is_retried_while_the_stream_is_idle(
    kafka_bootstrap: str, unique_topics: TopicSettings, unique_group: str
) -> None:
    features = unique_topics.features
    holder = hold_group(kafka_bootstrap, unique_group, unique_topics.alerts)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": unique_group,
            "enable.auto.commit": False,
        }
    )
    clock = SystemClock()
    publisher = AtLeastOnce(producer, consumer, clock, CommitPolicy(1.0, 1000))
    record = OutRecord(unique_topics.predictions, b"k", b"{}")
    sources = [SourceResult((features, 0), offset, 0.0, [record]) for offset in range(3)]
    publisher.begin(sources)
    publisher.publish(BatchResult(sources, []))
    assert producer.flush(10) == 0
    publisher.maybe_commit(clock.monotonic() + 1.0)  # due: refused (unknown member)
    committed = consumer.committed([TopicPartition(features, 0)], timeout=10)[0].offset
    assert committed < 0, "precondition: the first commit must be refused"
    holder.close()  # the group is empty now: a commit from outside it is accepted
    refused_at = time.monotonic()
    while time.monotonic() - refused_at < 5.0 and committed != 3:
        publisher.maybe_commit(clock.monotonic())  # the loop's idle ticks, no new message
        time.sleep(0.1)
        committed = consumer.committed([TopicPartition(features, 0)], timeout=10)[0].offset
    assert committed == 3, f"committed {committed} of 3 acknowledged offsets while idle"
    consumer.close()

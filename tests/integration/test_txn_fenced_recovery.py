"""A fenced transactional producer is replaced in place, on the real broker: another
producer with the worker's transactional id fences it (as a transaction coordinator that
took over after a kill does, bumping the epoch: ``_FENCED``, fatal). The exactly-once
publisher makes a new producer with the same id, rewinds the consumer to the group's
committed offsets and goes on: no worker restart, every input published exactly once for
a read_committed reader."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from confluent_kafka import Consumer, Message

from consumer.clock import SystemClock
from consumer.engine.batch_records import BatchResult, OutRecord, SourceResult
from consumer.engine.transactions import ExactlyOnce
from consumer.kafka.clients import create_consumer, create_producer
from consumer.settings import (
    Guarantee,
    KafkaSettings,
    ProcessingSettings,
    Settings,
    TopicSettings,
)
from tests.integration.harness import TopicReader, produce_raw

pytestmark = pytest.mark.integration


def consume(consumer: Consumer, count: int, timeout_s: float = 60.0) -> list[Message]:
    deadline, got = time.monotonic() + timeout_s, list[Message]()
    while len(got) < count and time.monotonic() < deadline:
        got += [
            m for m in consumer.consume(num_messages=count - len(got), timeout=0.5) if not m.error()
        ]
    assert len(got) == count, f"{len(got)} of {count} input records"
    return got


def run_batch(publisher: ExactlyOnce, messages: list[Message], predictions: str) -> None:
    sources = []
    for m in messages:
        topic, partition, offset = m.topic(), m.partition(), m.offset()
        assert topic is not None and partition is not None and offset is not None
        value = json.dumps({"event_id": (m.value() or b"").decode()}).encode()
        record = OutRecord(predictions, m.key(), value, label="false")
        sources.append(SourceResult((topic, partition), offset, 0.0, [record]))
    publisher.begin(sources)
    publisher.publish(BatchResult(sources, []))
    publisher.end(sources)


def test_a_fenced_producer_is_replaced_in_place_and_nothing_is_published_twice(
    kafka_bootstrap: str,
    unique_topics: TopicSettings,
    unique_group: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = Settings(
        kafka=KafkaSettings(bootstrap_servers=kafka_bootstrap, group_id=unique_group),
        topics=unique_topics,
        processing=ProcessingSettings(guarantee=Guarantee.EXACTLY_ONCE),
    )

    def new_producer() -> Any:
        return create_producer(settings, kafka_bootstrap, 0, "fence-test")

    first = [(str(i).encode(), f"a{i}".encode()) for i in range(20)]
    second = [(str(i).encode(), f"b{i}".encode()) for i in range(10)]
    produce_raw(kafka_bootstrap, unique_topics.features, first)
    consumer = create_consumer(settings, kafka_bootstrap)
    consumer.subscribe([unique_topics.features])
    publisher = ExactlyOnce(
        new_producer(), consumer, SystemClock(), 10.0, new_producer=new_producer
    )
    run_batch(publisher, consume(consumer, 20), unique_topics.predictions)  # committed
    new_producer().init_transactions(30.0)  # same transactional id: the publisher's is fenced
    produce_raw(kafka_bootstrap, unique_topics.features, second)
    run_batch(publisher, consume(consumer, 10), unique_topics.predictions)  # must not raise
    assert publisher.recreated == 1
    again = consume(consumer, 10)  # rewound to the committed offsets: read again
    assert sorted(m.value() or b"" for m in again) == sorted(v for _, v in second)
    run_batch(publisher, again, unique_topics.predictions)
    reader = TopicReader(kafka_bootstrap, unique_topics.predictions)
    expected = {v.decode() for _, v in first + second}
    reader.wait_for_ids(expected, timeout_s=30)
    seen = reader.event_ids()
    reader.close()
    consumer.close()
    with capsys.disabled():
        print(f"\nfenced producer: replaced {publisher.recreated}x, {len(seen)} of 30 read once")
    assert set(seen) == expected and max(seen.values()) == 1

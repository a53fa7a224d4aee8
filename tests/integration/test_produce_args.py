"""confluent-kafka's ``produce`` called by position (``consumer.kafka.clients``: the order of
its C arguments and type stubs, not the one its docstring lists) against the real client
and broker: every argument lands where the keyword call puts it. Guards an upgrade of
confluent-kafka that reorders its C arguments."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import TIMESTAMP_CREATE_TIME, Consumer, KafkaError, Message, Producer

from consumer.kafka.admin import create_topics, delete_topics
from consumer.kafka.clients import NOW, PARTITIONER, produce_waiting

PARTITIONS = 3
KEYS = [f"user-{i}".encode() for i in range(12)]
SENT_HEADERS: list[tuple[str, bytes]] = [
    ("content-type", b"application/json"),
    ("moodstream.event_id", b"e-1"),
]
DEADLINE_S = 30.0
#: the same list as confluent-kafka's stubs type it
HEADERS: list[tuple[str, str | bytes | None]] = list(SENT_HEADERS)


def _read(bootstrap: str, topic: str, count: int) -> list[Message]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"produce-args-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    got: list[Message] = []
    deadline = time.monotonic() + DEADLINE_S
    try:
        while len(got) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                got.append(message)
    finally:
        consumer.close()
    return got


def test_produce_by_position_matches_the_keyword_call(kafka_bootstrap: str) -> None:
    topic = f"moodstream.test.produce-args.{uuid.uuid4().hex[:12]}"
    admin = {"bootstrap.servers": kafka_bootstrap}
    create_topics(admin, [topic], PARTITIONS, 1)
    try:
        producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
        reports: list[KafkaError | None] = []
        before_ms = int(time.time() * 1000)
        for key in KEYS:
            producer.produce(
                topic,
                value=b"keyword:" + key,
                key=key,
                headers=HEADERS,
                on_delivery=lambda err, _msg: reports.append(err),
            )
            producer.produce(
                topic,
                b"position:" + key,
                key,
                PARTITIONER,
                lambda err, _msg: reports.append(err),
                None,
                NOW,
                HEADERS,
            )
        produce_waiting(
            producer,
            topic,
            key=b"pinned",
            value=b"position:pinned",
            on_delivery=lambda err, _msg: reports.append(err),
            headers=SENT_HEADERS,
            partition=PARTITIONS - 1,
        )
        assert producer.flush(DEADLINE_S) == 0
        after_ms = int(time.time() * 1000)
        assert reports == [None] * (2 * len(KEYS) + 1)  # every callback called, no error

        messages = _read(kafka_bootstrap, topic, 2 * len(KEYS) + 1)
        by_value = {m.value(): m for m in messages}
        assert len(by_value) == 2 * len(KEYS) + 1
        for key in KEYS:
            keyword, position = by_value[b"keyword:" + key], by_value[b"position:" + key]
            assert position.key() == keyword.key() == key
            assert position.partition() == keyword.partition()  # the partitioner, by key
            assert position.headers() == keyword.headers() == HEADERS
            kind, stamp = position.timestamp()
            assert kind == TIMESTAMP_CREATE_TIME and before_ms <= stamp <= after_ms
        pinned = by_value[b"position:pinned"]
        assert pinned.partition() == PARTITIONS - 1 and pinned.key() == b"pinned"
        assert len({m.partition() for m in messages}) > 1  # the keys did spread
    finally:
        delete_topics(admin, [topic])

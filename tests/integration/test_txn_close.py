"""Closing the exactly-once publisher with a transaction still open, on the real broker:
the transaction is aborted, so a read_committed subscriber's last stable offset moves on
at once instead of waiting for the broker to time the transaction out (60 s)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import IsolationLevel, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._listoffsets import OffsetSpec  # not re-exported for mypy

from consumer.clock import SystemClock
from consumer.engine.batch_records import BatchResult, OutRecord, SourceResult
from consumer.engine.transactions import ExactlyOnce
from consumer.kafka.clients import create_consumer, create_producer
from consumer.settings import Guarantee, KafkaSettings, ProcessingSettings, Settings, TopicSettings
from tests.integration.harness import wait_for

pytestmark = pytest.mark.integration
PARTITIONS = 6
LATEST: Callable[[], Any] = OffsetSpec.latest  # untyped in confluent-kafka


def unstable(admin: AdminClient, topic: str) -> int:
    """How many records the read_committed view lags behind the log, over all partitions
    (0 once no transaction is open on the topic)."""
    gap = 0
    for partition in range(PARTITIONS):
        tp = TopicPartition(topic, partition)
        ends = []
        for level in (IsolationLevel.READ_UNCOMMITTED, IsolationLevel.READ_COMMITTED):
            futures = admin.list_offsets({tp: LATEST()}, isolation_level=level)
            ends.append(futures[tp].result().offset)
        gap += ends[0] - ends[1]
    return gap


def test_close_aborts_an_open_transaction_so_the_last_stable_offset_moves_on(
    kafka_bootstrap: str, unique_topics: TopicSettings, unique_group: str
) -> None:
    settings = Settings(
        kafka=KafkaSettings(bootstrap_servers=kafka_bootstrap, group_id=unique_group),
        topics=unique_topics,
        processing=ProcessingSettings(guarantee=Guarantee.EXACTLY_ONCE),
    )
    consumer = create_consumer(settings, kafka_bootstrap)
    producer = create_producer(settings, kafka_bootstrap, 0, "close-test")
    publisher = ExactlyOnce(producer, consumer, SystemClock(), 10.0)
    sources = [
        SourceResult(
            (unique_topics.features, 0),
            offset,
            0.0,
            [OutRecord(unique_topics.predictions, str(offset).encode(), b"{}", label="false")],
        )
        for offset in range(12)
    ]
    publisher.begin(sources)
    publisher.publish(BatchResult(sources, []))
    assert producer.flush(30) == 0  # the records are in the log, their transaction open
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    assert unstable(admin, unique_topics.predictions) >= 12  # held by the open transaction
    publisher.close(10.0)
    try:  # 30 s, half the transaction timeout: only an abort frees the records so soon
        wait_for(
            lambda: unstable(admin, unique_topics.predictions) == 0,
            30.0,
            "the last stable offset reaches the log's end after close",
        )
    finally:
        consumer.close()

"""``moodstream lag`` and the lag gauge against a real broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from prometheus_client import CollectorRegistry

from consumer.observability import Metrics
from consumer.observability.lag_gauge import update_lag_gauge
from consumer.settings import TopicSettings

REPO = Path(__file__).resolve().parents[2]
PRODUCED = {0: 10, 1: 7, 2: 5, 3: 0, 4: 3, 5: 1}
COMMITTED = {0: 4, 1: 7, 2: 0}  # partitions 3-5: the group never committed


def _produce(bootstrap: str, topic: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for partition, count in PRODUCED.items():
        for i in range(count):
            producer.produce(topic, key=f"user-{i}".encode(), value=b"{}", partition=partition)
    assert producer.flush(30) == 0


def _commit(bootstrap: str, topic: str, group: str) -> None:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False}
    )
    try:
        offsets = [TopicPartition(topic, p, o) for p, o in COMMITTED.items()]
        consumer.assign(offsets)
        consumer.commit(offsets=offsets, asynchronous=False)
    finally:
        consumer.close()


def _lag_cli(
    bootstrap: str, topic: str, group: str, *args: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOODSTREAM_")}
    env |= {
        "MOODSTREAM_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "MOODSTREAM_TOPICS__FEATURES": topic,
        "MOODSTREAM_KAFKA__GROUP_ID": group,
    }
    return subprocess.run(
        [sys.executable, "-m", "consumer", "lag", "--timeout-s", "20", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def test_lag_cli_agrees_with_the_group_offsets(
    kafka_bootstrap: str, unique_topics: TopicSettings, unique_group: str
) -> None:
    topic = unique_topics.features
    _produce(kafka_bootstrap, topic)
    _commit(kafka_bootstrap, topic, unique_group)

    done = _lag_cli(kafka_bootstrap, topic, unique_group, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    expected: list[dict[str, Any]] = []
    for partition, end in PRODUCED.items():
        committed = COMMITTED.get(partition)
        lag = end - (committed if committed is not None else 0)
        expected.append(
            {
                "topic": topic,
                "partition": partition,
                "committed": committed,
                "end": end,
                "lag": lag,
                "consumer": None,  # no member of the group runs
            }
        )
    never = sum(PRODUCED[p] for p in PRODUCED if p not in COMMITTED)
    assert report == {
        "group": unique_group,
        "partitions": expected,
        "total_lag": sum(row["lag"] for row in expected),
        "never_committed_lag": never,
    }

    table = _lag_cli(kafka_bootstrap, topic, unique_group)
    assert table.returncode == 0, table.stderr
    rows = [line.split() for line in table.stdout.splitlines()[1:-1]]
    assert rows[3] == [unique_group, topic, "3", "-", "0", "0", "-", "-", "-"]
    assert table.stdout.splitlines()[-1].startswith(
        f"TOTAL LAG: {report['total_lag']} (of which {never} on partitions the group never"
    )


def test_lag_cli_reports_a_missing_topic(kafka_bootstrap: str, unique_group: str) -> None:
    done = _lag_cli(kafka_bootstrap, "mood.no-such-topic", unique_group, "--json")
    assert done.returncode == 4  # KafkaSetupError
    assert "mood.no-such-topic does not exist" in done.stderr
    assert "Traceback" not in done.stderr


def test_lag_gauge_from_a_consuming_worker(
    kafka_bootstrap: str, unique_topics: TopicSettings, unique_group: str
) -> None:
    """The worker-side path: cached watermark and the consumer's own position only."""
    topic = unique_topics.features
    _produce(kafka_bootstrap, topic)
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": unique_group,
            "enable.auto.commit": False,
        }
    )
    tp = TopicPartition(topic, 0, 0)
    try:
        consumer.assign([tp])
        consumed = 0
        deadline = time.monotonic() + 30
        while consumed < 4 and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                consumed += 1
        assert consumed == 4
        consumer.pause([TopicPartition(topic, 0)])  # position stays at 4 from here on
        value = None
        while value is None and time.monotonic() < deadline:
            update_lag_gauge(metrics, consumer, [TopicPartition(topic, 0)])
            value = registry.get_sample_value(
                "moodstream_consumer_lag", {"topic": topic, "partition": "0"}
            )
            if value is None:
                assert consumer.poll(0.1) is None  # serve callbacks; paused: no message
        assert value == PRODUCED[0] - 4
    finally:
        consumer.close()

"""The real broker: reachable, topics created idempotently, a produce/consume round trip."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from consumer.errors import KafkaSetupError
from consumer.kafka.admin import CREATED, EXISTS, create_topics, delete_topics, wait_for_cluster
from consumer.kafka.config import client_config
from consumer.settings import TopicSettings
from tests.conftest import settings_for

DEADLINE_S = 30.0


def _cli() -> list[str]:
    script = Path(sys.executable).parent / "moodstream"
    return [str(script)] if script.exists() else [sys.executable, "-m", "consumer"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_broker_answers_metadata(kafka_bootstrap: str) -> None:
    metadata = wait_for_cluster({"bootstrap.servers": kafka_bootstrap}, DEADLINE_S)
    assert len(metadata.brokers) >= 1


def test_unreachable_cluster_fails_fast_with_one_line() -> None:
    started = time.monotonic()
    with pytest.raises(KafkaSetupError) as caught:
        wait_for_cluster({"bootstrap.servers": f"127.0.0.1:{_free_port()}"}, 2.0)
    assert time.monotonic() - started < 10
    assert "unreachable" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_create_topics_twice_is_harmless(kafka_bootstrap: str) -> None:
    names = [f"moodstream.test.{uuid.uuid4().hex[:12]}.{i}" for i in range(2)]
    admin = {"bootstrap.servers": kafka_bootstrap}
    try:
        assert create_topics(admin, names, 3, 1) == dict.fromkeys(names, CREATED)
        assert create_topics(admin, names, 3, 1) == dict.fromkeys(names, EXISTS)
    finally:
        delete_topics(admin, names)


def test_cli_topics_create_twice(kafka_bootstrap: str) -> None:
    suffix = uuid.uuid4().hex[:12]
    roles = (*TopicSettings().by_role(), *TopicSettings().windows_by_role())
    topics = TopicSettings.model_validate({role: f"cli.{role}.{suffix}" for role in roles})
    env = {
        **os.environ,
        "MOODSTREAM_KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap,
        **topics.as_env(),
    }
    command = [*_cli(), "topics", "create", "--json"]
    try:
        runs = [
            subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
            for _ in range(2)
        ]
        for run in runs:
            assert run.returncode == 0, run.stderr
        assert json.loads(runs[0].stdout) == dict.fromkeys(topics.every(), CREATED)
        assert json.loads(runs[1].stdout) == dict.fromkeys(topics.every(), EXISTS)
    finally:
        delete_topics({"bootstrap.servers": kafka_bootstrap}, topics.every())


def test_produce_consume_round_trip(
    kafka_bootstrap: str, unique_topics: TopicSettings, unique_group: str
) -> None:
    settings = settings_for(kafka_bootstrap, unique_topics, unique_group)
    base = client_config(settings.kafka, kafka_bootstrap)
    sent = {f"user-{i}".encode(): json.dumps({"n": i}).encode() for i in range(20)}
    producer = Producer({**base, "enable.idempotence": True})
    for key, value in sent.items():
        producer.produce(unique_topics.features, key=key, value=value)
    assert producer.flush(DEADLINE_S) == 0

    consumer = Consumer(
        {
            **base,
            "group.id": unique_group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    received: dict[bytes, bytes] = {}
    try:
        consumer.subscribe([unique_topics.features])
        deadline = time.monotonic() + DEADLINE_S
        while len(received) < len(sent) and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error() is not None:
                continue
            received[message.key() or b""] = message.value() or b""
    finally:
        consumer.close()
    assert received == sent

"""``topics plan`` is what ``topics create`` creates: the CLI creates the topics on the real
broker, and each topic's partitions, replication and every config set on it (the broker's
own DYNAMIC_TOPIC_CONFIG entries) equal the plan printed for the same settings and a
cluster of as many brokers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from typing import Any

from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._config import ConfigResource, ConfigSource

from consumer.kafka.admin import delete_topics, wait_for_cluster
from consumer.settings import TopicSettings

TIMEOUT_S = 120


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "consumer", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)


def _created(bootstrap: str, names: list[str]) -> dict[str, dict[str, Any]]:
    """name -> partitions, replication factor and the configs set on the topic itself."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    metadata = admin.list_topics(timeout=30)
    resources = [ConfigResource(ConfigResource.Type.TOPIC, name) for name in names]
    found: dict[str, dict[str, Any]] = {}
    for resource, future in admin.describe_configs(resources).items():
        entries = future.result(timeout=30).values()
        partitions = metadata.topics[resource.name].partitions
        found[resource.name] = {
            "partitions": len(partitions),
            "replication_factor": len(partitions[0].replicas),
            "config": {
                e.name: e.value
                for e in entries
                if e.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
            },
        }
    return found


def test_topics_create_creates_exactly_the_plan(kafka_bootstrap: str) -> None:
    suffix = uuid.uuid4().hex[:12]
    topics = TopicSettings(
        features=f"plan.features.{suffix}",
        predictions=f"plan.predictions.{suffix}",
        alerts=f"plan.alerts.{suffix}",
        dlq=f"plan.dlq.{suffix}",
        overflow=f"plan.overflow.{suffix}",
        activity=f"plan.activity.{suffix}",
        day_features=f"plan.day-features.{suffix}",
        windows_changelog=f"plan.windows-changelog.{suffix}",
    )
    every = set(topics.all()) | set(topics.windows_by_role().values())
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOODSTREAM_")}
    env |= topics.as_env() | {
        "MOODSTREAM_KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap,
        "MOODSTREAM_TOPICS__PARTITIONS": "3",
        "MOODSTREAM_TOPICS__DLQ_RETENTION_HOURS": "48",
    }
    brokers = len(wait_for_cluster({"bootstrap.servers": kafka_bootstrap}, 30).brokers)
    plan = _cli("topics", "plan", "--brokers", str(brokers), "--json", env=env)
    assert plan.returncode == 0, plan.stderr
    planned = {t["name"]: t for t in json.loads(plan.stdout)["topics"]}
    try:
        created = _cli("topics", "create", "--json", env=env)
        assert created.returncode == 0, created.stderr
        assert set(json.loads(created.stdout)) == set(planned) == every
        found = _created(kafka_bootstrap, list(planned))
        for name, spec in planned.items():
            expected = {k: spec[k] for k in ("partitions", "replication_factor", "config")}
            assert found[name] == expected, name
        assert found[topics.dlq]["config"]["retention.ms"] == str(48 * 3_600_000)
        assert "retention.ms" in found[topics.overflow]["config"]
        assert found[topics.windows_changelog]["config"]["cleanup.policy"] == "compact"
    finally:
        delete_topics({"bootstrap.servers": kafka_bootstrap}, sorted(every))

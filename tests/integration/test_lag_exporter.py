"""``moodstream lag --serve`` against the real broker: the group's lag as Prometheus metrics
while no worker of the service runs at all (issue 16 item 3)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from consumer.settings import TopicSettings
from tests.integration.harness import REPO, Service, service_env, wait_for
from tests.integration.test_lag import COMMITTED, PRODUCED, _commit, _produce

pytestmark = pytest.mark.integration


def lag_samples(text: str) -> dict[str, float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = s.labels.get("partition", "") if s.name == "moodstream_group_lag" else ""
            found[f"{s.name}{key}"] = s.value
    return found


def test_lag_exporter_serves_the_groups_lag_with_no_worker_alive(
    kafka_bootstrap: str, unique_topics: TopicSettings, unique_group: str, tmp_path: Path
) -> None:
    topic = unique_topics.features
    _produce(kafka_bootstrap, topic)
    _commit(kafka_bootstrap, topic, unique_group)
    env = service_env(kafka_bootstrap, unique_topics, unique_group)
    command = [sys.executable, "-m", "consumer", "lag", "--serve", "--interval-s", "0.5"]
    log_path = tmp_path / "exporter.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(command, env=env, cwd=REPO, stdout=log, stderr=log)
    exporter = Service(process, int(env["MOODSTREAM_OBSERVABILITY__PORT"]), log_path)
    try:
        wait_for(lambda: exporter.get("/readyz")[0] == 200, 60, "no lag read", exporter.process)
        status, body = exporter.get("/metrics")
        assert status == 200
        samples = lag_samples(body)
        for partition, produced in PRODUCED.items():
            expected = produced - COMMITTED.get(partition, 0)  # never committed: from 0
            assert samples[f"moodstream_group_lag{partition}"] == expected, partition
        assert samples["moodstream_group_lag_read_success"] == 1
        assert samples["moodstream_group_lag_last_read_timestamp_seconds"] > 0
        exporter.process.send_signal(signal.SIGTERM)
        assert exporter.process.wait(timeout=30) == 0, exporter.logs()[-2000:]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

"""A broker that goes away for 20 s and comes back: the worker recovers by itself and
nothing is lost. Uses a dedicated local broker so the shared one is never disturbed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from consumer.kafka.admin import create_topics, wait_for_topics
from consumer.localkafka.broker import LocalBroker
from consumer.localkafka.ports import free_port_below_range
from consumer.settings import LocalBrokerSettings, Settings, TopicSettings
from tests.integration.harness import (
    TopicReader,
    committed_total,
    running_service,
    service_env,
    start_moodstream,
    wait_for,
)
from tests.integration.test_pipeline_flow import synthetic_ids

pytestmark = pytest.mark.integration
OUTAGE_S = 20.0


@pytest.fixture
def own_broker(kafka_bootstrap: str, tmp_path: Path) -> Iterator[LocalBroker]:
    """A second local broker on free ports below the ephemeral range, reusing the cached
    jars (no download)."""
    del kafka_bootstrap  # ensures the shared broker (and its jars) exist first
    shared = Settings().broker
    cache = tmp_path / "broker-cache"
    cache.mkdir()
    jars = shared.cache_dir / f"kafka-{shared.kafka_version}"
    (cache / jars.name).symlink_to(jars, target_is_directory=True)
    ports = [free_port_below_range() for _ in range(3)]  # the port check refuses others
    settings = LocalBrokerSettings(
        cache_dir=cache, port=ports[0], controller_port=ports[1], sasl_port=ports[2]
    )
    broker = LocalBroker(settings)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def test_worker_recovers_from_a_broker_outage(
    own_broker: LocalBroker, unique_group: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bootstrap = own_broker.bootstrap_servers
    topics = TopicSettings(features="f", predictions="p", alerts="a", dlq="d", overflow="o")
    create_topics({"bootstrap.servers": bootstrap}, topics.all(), 6, 1)
    wait_for_topics({"bootstrap.servers": bootstrap}, topics.all(), 30)
    env = service_env(bootstrap, topics, unique_group, PROCESSING__MAX_BATCH_SIZE=32)
    count, seed = 1500, 21
    with running_service(env, tmp_path) as service:
        service.wait_ready()
        first = start_moodstream(
            "produce", "--synthetic", "--count", "500", "--seed", str(seed), "--json", env=env
        )
        assert first.wait(60) == 0
        reader = TopicReader(bootstrap, topics.predictions)
        reader.wait_count(500, timeout_s=60)
        reader.close()
        wait_for(
            lambda: committed_total(bootstrap, topics.features, unique_group, 6) == 500,
            30,
            "the first 500 were never committed",
        )
        own_broker.stop()
        outage_started = time.monotonic()
        while time.monotonic() - outage_started < OUTAGE_S:
            assert service.process.poll() is None, "the service died during the outage"
            time.sleep(1.0)
        own_broker.start()
        recovered_at = time.monotonic()
        # The same seed regenerates the first 500 (duplicates by design) and 1,000 more.
        rest = start_moodstream(
            "produce", "--synthetic", "--count", str(count), "--seed", str(seed), "--json", env=env
        )
        assert rest.wait(120) == 0, rest.stderr.read() if rest.stderr else ""
        reader = TopicReader(bootstrap, topics.predictions)
        expected = set(synthetic_ids(seed, count))
        reader.wait_for_ids(expected, timeout_s=120)
        assert set(reader.event_ids()) == expected, "predictions missing after the outage"
        caught_up_s = time.monotonic() - recovered_at
        assert service.stop() == 0, service.logs()[-2000:]
    seen = reader.event_ids()
    with capsys.disabled():
        print(
            f"\nbroker outage {OUTAGE_S:.0f} s: {len(seen)} distinct events predicted of "
            f"{count}, {sum(seen.values())} predictions, "
            f"caught up {caught_up_s:.1f} s after restart"
        )
    reader.close()

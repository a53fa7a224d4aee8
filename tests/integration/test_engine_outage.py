"""A worker restarted during a broker outage (issue 14, fault 7): it waits for the cluster,
unready, and the service stays up and predicts everything sent before and after. Uses a
dedicated local broker (``own_broker``) so the shared one is never disturbed."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import psutil
import pytest

from consumer.kafka.admin import create_topics, wait_for_topics
from consumer.localkafka.broker import LocalBroker
from consumer.settings import TopicSettings
from tests.fakes import event_bytes
from tests.integration.harness import (
    TopicReader,
    produce_raw,
    running_service,
    service_env,
    wait_for,
)
from tests.integration.test_broker_outage import own_broker  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration
OUTAGE_S = 40.0


def keyed(values: list[bytes]) -> list[tuple[bytes | None, bytes | None]]:
    return [(str(i).encode(), v) for i, v in enumerate(values)]


def test_worker_killed_during_an_outage_waits_for_the_cluster(
    own_broker: LocalBroker,  # noqa: F811
    unique_group: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bootstrap = own_broker.bootstrap_servers
    topics = TopicSettings(features="f", predictions="p", alerts="a", dlq="d", overflow="o")
    create_topics({"bootstrap.servers": bootstrap}, topics.all(), 6, 1)
    wait_for_topics({"bootstrap.servers": bootstrap}, topics.all(), 30)
    env = service_env(
        bootstrap,
        topics,
        unique_group,
        KAFKA__CONNECT_TIMEOUT_S=5,  # before the fix: exit 4 five seconds after the restart
        KAFKA__SESSION_TIMEOUT_MS=6_000,
        PROCESSING__WORKERS=2,
    )
    before = [event_bytes(seed=5_000 + i) for i in range(200)]
    after = [event_bytes(seed=6_000 + i) for i in range(200)]
    with running_service(env, tmp_path) as service:
        service.wait_ready()
        produce_raw(bootstrap, topics.features, keyed(before))
        reader = TopicReader(bootstrap, topics.predictions)
        reader.wait_count(len(before), timeout_s=60)
        reader.close()
        own_broker.stop()
        outage_started = time.monotonic()
        victim = psutil.Process(service.process.pid).children()[0]
        victim.send_signal(signal.SIGKILL)
        wait_for(
            lambda: (
                len(psutil.Process(service.process.pid).children()) == 2
                and victim.pid
                not in [w.pid for w in psutil.Process(service.process.pid).children()]
            ),
            30,
            "worker not restarted",
            alive=service.process,
        )
        unready = 0
        while time.monotonic() - outage_started < OUTAGE_S:
            assert service.process.poll() is None, service.logs()[-2000:]
            unready += service.get("/readyz")[0] == 503
            time.sleep(1.0)
        waiting_logs = service.logs().count('"waiting_for_cluster"')
        own_broker.start()
        recovered_at = time.monotonic()
        produce_raw(bootstrap, topics.features, keyed(after))
        reader = TopicReader(bootstrap, topics.predictions)
        expected = {json.loads(v)["event_id"] for v in before + after}
        reader.wait_for_ids(expected, timeout_s=90)
        missing = expected - set(reader.event_ids())
        caught_up_s = time.monotonic() - recovered_at
        exits = service.logs().count('"worker_exited"')
        assert service.stop() == 0, service.logs()[-2000:]
    reader.close()
    assert not missing, f"{len(missing)} of {len(expected)} events never predicted"
    assert exits == 1, "only the SIGKILL ends a worker: the restarted one must not crash"
    assert waiting_logs >= 1 and unready >= 1, (waiting_logs, unready)
    with capsys.disabled():
        print(
            f"\nworker SIGKILLed in a {OUTAGE_S:.0f} s outage: restarted, {waiting_logs} "
            f"waiting_for_cluster lines, /readyz 503 in {unready} of {OUTAGE_S:.0f} probes, "
            f"{len(expected)} of {len(expected)} predicted, caught up {caught_up_s:.1f} s "
            "after the broker returned"
        )

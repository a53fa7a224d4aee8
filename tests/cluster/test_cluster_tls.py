"""The three-node cluster as a user drives it: its CLI, and predictions end to end over
SSL and over SASL_SSL (SCRAM) with host-name verification, and a wrong CA refused.

Every step is the real CLI (`topics create`, `produce`, `run`, `tail`, `lag`) with only
``MOODSTREAM_KAFKA__*`` settings pointing it at a TLS listener.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Final

import pytest
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    ConfigResource,
    ResourceType,
)

from consumer.localkafka.broker import LocalBroker
from consumer.localkafka.cluster import ClusterInfo
from consumer.localkafka.tls import make_ca
from consumer.settings import LocalBrokerSettings, TopicSettings
from tests.integration.harness import moodstream, running_service, service_env

EVENTS: Final = 40
FLOW_TIMEOUT_S: Final = 120.0
SINGLE_NODE_PORTS: Final = set(LocalBroker(LocalBrokerSettings()).ports(sasl=True))


def _tls_env(
    info: ClusterInfo, topics: TopicSettings, group: str, protocol: str, ca: str
) -> dict[str, str]:
    bootstrap = info.tls_bootstrap_servers if protocol == "SSL" else info.sasl_ssl_bootstrap_servers
    env = service_env(bootstrap, topics, group)
    env |= {
        "MOODSTREAM_KAFKA__SECURITY_PROTOCOL": protocol,
        "MOODSTREAM_KAFKA__SSL_CA_LOCATION": ca,
        "MOODSTREAM_KAFKA__CONNECT_TIMEOUT_S": "10",
    }
    if protocol == "SASL_SSL":
        env |= {
            "MOODSTREAM_KAFKA__SASL_MECHANISM": info.sasl_mechanism,
            "MOODSTREAM_KAFKA__SASL_USERNAME": info.sasl_username,
            "MOODSTREAM_KAFKA__SASL_PASSWORD": info.sasl_password.get_secret_value(),
        }
    return env


def test_start_json_and_status_list_three_nodes(local_cluster: ClusterInfo) -> None:
    started = moodstream(
        "broker",
        "start",
        "--nodes",
        "3",
        "--json",
        env=service_env("", TopicSettings(), "unused"),
        timeout_s=200,
    )
    assert started.returncode == 0, started.stderr
    payload = json.loads(started.stdout)
    for key in (
        "tls_bootstrap_servers",
        "ca_location",
        "sasl_ssl_bootstrap_servers",
        "sasl_mechanism",
        "sasl_username",
        "sasl_password",
    ):
        assert payload[key], key
    assert payload["bootstrap_servers"] == local_cluster.bootstrap_servers
    assert [n["node_id"] for n in payload["nodes"]] == [1, 2, 3]
    ports = {n["port"] for n in payload["nodes"]}
    assert len(ports) == 3 and not ports & SINGLE_NODE_PORTS
    assert Path(payload["ca_location"]).is_file()
    status = moodstream(
        "broker", "status", "--nodes", "3", "--json", env=service_env("", TopicSettings(), "unused")
    )
    assert status.returncode == 0, status.stderr
    nodes = json.loads(status.stdout)["nodes"]
    assert [(n["node_id"], n["up"]) for n in nodes] == [(1, True), (2, True), (3, True)]
    assert {n["pid"] for n in nodes} == {n["pid"] for n in payload["nodes"]}


def _min_isr(bootstrap: str, topic: str) -> str:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    resource = ConfigResource(ResourceType.TOPIC, topic)
    configs = admin.describe_configs([resource])[resource].result(timeout=30)
    return str(configs["min.insync.replicas"].value)


@pytest.mark.parametrize("protocol", ["SSL", "SASL_SSL"])
def test_predictions_end_to_end_over_tls(
    local_cluster: ClusterInfo, cluster_topics: TopicSettings, protocol: str, tmp_path: Path
) -> None:
    group = f"tls-{protocol.lower()}-{cluster_topics.features[-12:]}"
    env = _tls_env(local_cluster, cluster_topics, group, protocol, local_cluster.ca_location)
    created = moodstream("topics", "create", "--json", env=env)
    assert created.returncode == 0, created.stderr
    assert set(json.loads(created.stdout).values()) == {"created"}
    assert _min_isr(local_cluster.bootstrap_servers, cluster_topics.features) == "2"
    produced = moodstream(
        "produce",
        "--synthetic",
        "--count",
        str(EVENTS),
        "--activity-share",
        "0.1",
        "--json",
        env=env,
    )
    assert produced.returncode == 0, produced.stderr
    assert json.loads(produced.stdout)["acknowledged"] == EVENTS
    with running_service(env, tmp_path, "--workers", "1") as service:
        tailed = moodstream(
            "tail",
            "predictions",
            "--from-beginning",
            "--count",
            str(EVENTS),
            "--timeout-s",
            "90",
            env=env,
            timeout_s=FLOW_TIMEOUT_S,
        )
        assert tailed.returncode == 0, tailed.stderr + service.logs()[-2000:]
        event_ids = {
            json.loads(line)["value"]["event_id"]
            for line in tailed.stdout.splitlines()
            if line.startswith("{")
        }
        assert len(event_ids) == EVENTS, tailed.stdout[-500:]
        assert service.process.poll() is None
    lag = moodstream("lag", "--json", env=env)
    assert lag.returncode == 0, lag.stderr
    assert local_cluster.sasl_password.get_secret_value() not in (
        created.stdout + created.stderr + produced.stdout + lag.stdout + service.logs()
    )


def test_wrong_ca_stops_startup_with_exit_4_naming_tls(
    local_cluster: ClusterInfo, cluster_topics: TopicSettings, tmp_path: Path
) -> None:
    openssl = shutil.which("openssl")
    assert openssl is not None
    wrong_ca = make_ca(openssl, tmp_path, "not the cluster's CA")
    env = _tls_env(local_cluster, cluster_topics, "tls-wrong-ca", "SSL", str(wrong_ca))
    # A refused certificate does not end the connect wait early (only auth and DNS
    # failures do): each command waits out its whole connect timeout, its TLS error
    # logged by the first handshake, a few ms in. 5 s instead of the 10 s of the flows
    # above keeps a margin for a busy machine and saves ~10 s of waiting; the exit code
    # and the message checked below do not depend on it.
    env["MOODSTREAM_KAFKA__CONNECT_TIMEOUT_S"] = "5"
    for args in (("topics", "create"), ("run", "--workers", "1")):
        done = moodstream(*args, env=env, timeout_s=90)
        assert done.returncode == 4, (args, done.returncode, done.stderr[-2000:])
        lines = [line for line in done.stderr.splitlines() if line.startswith("moodstream:")]
        assert len(lines) == 1, done.stderr[-2000:]
        assert "TLS" in lines[0], lines[0]

"""The three-node cluster's files, the topics' replication plan, the group-protocol config."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumer.errors import ConfigError
from consumer.kafka.clients import consumer_config, producer_config
from consumer.kafka.topics_plan import plan_replication
from consumer.localkafka import cluster_files
from consumer.localkafka.broker import LocalBroker
from consumer.settings import KafkaSettings, LocalBrokerSettings, LocalClusterSettings, Settings


def _props(node_id: int) -> dict[str, str]:
    text = cluster_files.node_properties(
        LocalClusterSettings(), node_id, Path("/data"), Path("/ks.p12"), "pw"
    )
    return dict(line.split("=", 1) for line in text.splitlines())


def test_nodes_are_production_shaped_and_use_distinct_ports() -> None:
    props = [_props(n) for n in cluster_files.NODE_IDS]
    ports = [
        port
        for n in cluster_files.NODE_IDS
        for port in vars(cluster_files.node_ports(LocalClusterSettings(), n)).values()
    ]
    proxy_ports = [
        cluster_files.proxy_listen_port(LocalClusterSettings(), n) for n in cluster_files.NODE_IDS
    ]
    proxy_ports.append(cluster_files.proxy_api_port(LocalClusterSettings()))
    assert len(set(ports) | set(proxy_ports)) == 19 and not set(ports) & set(
        LocalBroker(LocalBrokerSettings()).ports(sasl=True)
    )
    for node_id, p in zip(cluster_files.NODE_IDS, props, strict=True):
        assert p["node.id"] == str(node_id)
        assert p["process.roles"] == "broker,controller"
        assert len(p["controller.quorum.voters"].split(",")) == 3
        assert p["offsets.topic.replication.factor"] == "3"
        assert p["transaction.state.log.replication.factor"] == "3"
        assert p["transaction.state.log.min.isr"] == "2"
        assert p["min.insync.replicas"] == "2"
        assert p["unclean.leader.election.enable"] == "false"
        assert "SSL://127.0.0.1:" in p["advertised.listeners"]
        assert "SASL_SSL://127.0.0.1:" in p["advertised.listeners"]
        # clients of the PROXIED listener are sent to the fault proxy's port, brokers
        # and controllers never are
        proxy = cluster_files.proxy_listen_port(LocalClusterSettings(), node_id)
        assert f"PROXIED://127.0.0.1:{proxy}" in p["advertised.listeners"]
        assert f":{proxy}" not in p["listeners"] + p["controller.quorum.voters"]
        assert p["inter.broker.listener.name"] == "PLAINTEXT"


@pytest.mark.parametrize(
    ("brokers", "rf", "isr", "expected", "noted"),
    [
        (3, None, None, (3, 2), False),
        (5, None, None, (3, 2), False),
        (2, None, None, (2, 1), True),
        (1, None, None, (1, 1), True),
        (3, 1, None, (1, 1), False),
        (3, 3, 3, (3, 3), False),
    ],
)
def test_replication_plan_defaults_suit_three_brokers(
    brokers: int, rf: int | None, isr: int | None, expected: tuple[int, int], noted: bool
) -> None:
    plan = plan_replication(brokers, rf, isr)
    assert (plan.replication_factor, plan.min_insync_replicas) == expected
    assert (plan.note is not None) is noted


@pytest.mark.parametrize(
    ("brokers", "rf", "isr", "words"),
    [
        (1, 3, None, "needs at least 3 brokers; the cluster has 1"),
        (3, 2, 3, "exceeds the replication factor 2"),
    ],
)
def test_replication_plan_refuses_what_the_cluster_cannot_do(
    brokers: int, rf: int | None, isr: int | None, words: str
) -> None:
    with pytest.raises(ConfigError, match=words):
        plan_replication(brokers, rf, isr)


def test_group_protocol_consumer_leaves_timeouts_to_the_broker() -> None:
    kip848 = consumer_config(Settings(kafka=KafkaSettings(group_protocol="consumer")), "b:1")
    assert kip848["group.protocol"] == "consumer"
    client_side = {"session.timeout.ms", "heartbeat.interval.ms", "partition.assignment.strategy"}
    assert not client_side & set(kip848)
    classic = consumer_config(Settings(kafka=KafkaSettings(group_protocol="classic")), "b:1")
    assert classic["partition.assignment.strategy"] == "cooperative-sticky"
    assert "group.protocol" not in classic


def test_producers_wait_for_all_in_sync_replicas() -> None:
    conf = producer_config(Settings(), "b:1", 0)
    assert conf["acks"] == "all" and conf["enable.idempotence"] is True

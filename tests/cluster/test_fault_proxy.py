"""Every client connection to the cluster's PROXIED listener passes the fault proxy: the
metadata names the proxy's ports as the brokers' addresses, and a toxic on the proxies
cuts a proxied client off while a direct client still reaches the same cluster."""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from consumer.chaos.traffic import quiet_logger
from consumer.localkafka.cluster import ClusterInfo, LocalCluster
from consumer.localkafka.cluster_files import NODE_IDS, proxy_name


def _admin(bootstrap: str) -> AdminClient:
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "logger": quiet_logger(),
        "socket.timeout.ms": 3000,
    }
    return AdminClient(config)


def test_clients_of_the_proxied_listener_reach_every_broker_through_the_proxy(
    local_cluster: ClusterInfo, cluster_handle: LocalCluster
) -> None:
    proxied = _admin(local_cluster.proxied_bootstrap_servers)
    brokers = proxied.list_topics(timeout=20).brokers
    advertised = sorted(f"{b.host}:{b.port}" for b in brokers.values())
    assert advertised == sorted(local_cluster.proxied_bootstrap_servers.split(","))
    proxy = cluster_handle.proxy().client()
    try:
        for n in NODE_IDS:
            proxy.add_toxic(proxy_name(n), "cut", "timeout", "upstream", {"timeout": 0})
        try:
            _admin(local_cluster.proxied_bootstrap_servers).list_topics(timeout=4)
        except KafkaException:
            pass
        else:
            raise AssertionError("a proxied client answered while every proxy dropped all")
        direct = _admin(local_cluster.bootstrap_servers).list_topics(timeout=20)
        assert len(direct.brokers) == len(NODE_IDS)  # brokers still up and reachable
    finally:
        proxy.reset()
    assert len(
        _admin(local_cluster.proxied_bootstrap_servers).list_topics(timeout=20).brokers
    ) == len(NODE_IDS)

"""The faults of the chaos suite and how to find their target node.

Each fault blocks until it is over and the hurt nodes are back (restarted, resumed) and
returns the heal time (``time.time()``): the moment the cluster was whole again. Targets
are found from the cluster metadata: the leader of most input partitions, the leader of
the ``__consumer_offsets`` partition of the group (its coordinator), the leader of the
``__transaction_state`` partitions of the workers' transactional ids.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka.admin import AdminClient

from consumer.errors import BrokerError
from consumer.localkafka.cluster import LocalCluster
from consumer.localkafka.cluster_files import NODE_IDS
from consumer.localkafka.toxiproxy import ToxiproxyClient

IN_SYNC_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class Durations:
    """How long each fault lasts (the full suite; CI uses shorter ones)."""

    down_s: float = 10.0
    pause_s: float = 30.0
    two_down_s: float = 20.0
    partition_s: float = 30.0
    latency_s: float = 60.0
    blackhole_s: float = 30.0
    reset_s: float = 30.0
    bandwidth_s: float = 60.0
    half_open_s: float = 45.0


@dataclass(frozen=True)
class Target:
    cluster: LocalCluster
    admin_config: Mapping[str, Any]
    topic: str
    group_id: str
    transactional_ids: Sequence[str]  # empty under at-least-once
    durations: Durations
    proxy: ToxiproxyClient | None = None  # the fault proxy (network faults)


def java_hash_partition(key: str, partitions: int) -> int:
    """Kafka's ``Utils.abs(key.hashCode()) % partitions`` (coordinator placement). Pure."""
    h = 0
    for char in key:
        h = (31 * h + ord(char)) & 0xFFFFFFFF
    return (h & 0x7FFFFFFF) % partitions


def _admin(admin_config: Mapping[str, Any]) -> AdminClient:
    from consumer.chaos.traffic import quiet_logger

    conf: dict[str, Any] = {**admin_config, "logger": quiet_logger()}
    return AdminClient(conf)


def _leaders(target: Target, topic: str) -> dict[int, int]:
    metadata = _admin(target.admin_config).list_topics(topic=topic, timeout=30)
    found = metadata.topics.get(topic)
    if found is None or found.error is not None:
        raise BrokerError(f"no metadata for {topic}: {None if found is None else found.error}")
    return {p.id: p.leader for p in found.partitions.values()}


def input_leader(target: Target) -> int:
    """The node leading most partitions of the input topic."""
    counts = Counter(leader for leader in _leaders(target, target.topic).values() if leader > 0)
    return counts.most_common(1)[0][0]


def _coordinator(target: Target, internal_topic: str, keys: Sequence[str]) -> int:
    leaders = _leaders(target, internal_topic)
    counts = Counter(leaders[java_hash_partition(key, len(leaders))] for key in keys)
    return counts.most_common(1)[0][0]


def group_coordinator(target: Target) -> int:
    return _coordinator(target, "__consumer_offsets", [target.group_id])


def txn_coordinator(target: Target) -> int:
    return _coordinator(target, "__transaction_state", target.transactional_ids)


def under_replicated(admin_config: Mapping[str, Any]) -> int:
    """Partitions (of every topic) whose in-sync replicas are fewer than their replicas."""
    metadata = _admin(admin_config).list_topics(timeout=30)
    return sum(
        1
        for topic in metadata.topics.values()
        for p in topic.partitions.values()
        if len(p.isrs) < len(p.replicas)
    )


def wait_in_sync(admin_config: Mapping[str, Any], timeout_s: float = IN_SYNC_TIMEOUT_S) -> None:
    """Block until no partition is under-replicated. Raises BrokerError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if under_replicated(admin_config) == 0:
                return
        except Exception:
            pass
        if time.monotonic() >= deadline:
            raise BrokerError(f"partitions still under-replicated after {timeout_s:g} s")
        time.sleep(0.5)


def wait_whole(admin_config: Mapping[str, Any], timeout_s: float = IN_SYNC_TIMEOUT_S) -> None:
    """Block until every node is registered (a resumed node re-registers a moment after
    its fencing) and no partition is under-replicated. Raises BrokerError after
    ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if len(_admin(admin_config).list_topics(timeout=10).brokers) == len(NODE_IDS):
                break
        except Exception:
            pass
        if time.monotonic() >= deadline:
            raise BrokerError(f"not every node is registered after {timeout_s:g} s")
        time.sleep(0.5)
    wait_in_sync(admin_config, max(1.0, deadline - time.monotonic()))


def _kill_restart(target: Target, nodes: Sequence[int], down_s: float) -> float:
    for node in nodes:
        target.cluster.kill(node)
    time.sleep(down_s)
    for node in nodes:
        target.cluster.restart(node)
    return time.time()


def leader_kill(target: Target) -> float:
    """SIGKILL the leader of most input partitions; restart it after ``down_s``."""
    return _kill_restart(target, [input_leader(target)], target.durations.down_s)


def group_coordinator_kill(target: Target) -> float:
    """SIGKILL the group coordinator's node; restart it after ``down_s``."""
    return _kill_restart(target, [group_coordinator(target)], target.durations.down_s)


def txn_coordinator_kill(target: Target) -> float:
    """SIGKILL the transaction coordinator's node mid-transaction; restart after ``down_s``."""
    return _kill_restart(target, [txn_coordinator(target)], target.durations.down_s)


def rolling_restart(target: Target) -> float:
    """SIGTERM each node in turn, start it again, wait for 0 under-replicated partitions."""
    for node in NODE_IDS:
        target.cluster.kill(node, signal.SIGTERM)
        target.cluster.restart(node)
        wait_in_sync(target.admin_config)
    return time.time()


def pause(target: Target) -> float:
    """SIGSTOP the leader of most input partitions for ``pause_s``, then SIGCONT."""
    node = input_leader(target)
    target.cluster.pause(node)
    try:
        time.sleep(target.durations.pause_s)
    finally:
        target.cluster.resume(node)
    return time.time()


def two_down(target: Target) -> float:
    """SIGKILL two nodes (below min ISR: producing stalls), restart both after two_down_s."""
    leader = input_leader(target)
    nodes = [leader, next(n for n in NODE_IDS if n != leader)]
    return _kill_restart(target, nodes, target.durations.two_down_s)


Fault = Callable[[Target], float]

FAULTS: dict[str, Fault] = {
    "leader_kill": leader_kill,
    "group_coordinator_kill": group_coordinator_kill,
    "txn_coordinator_kill": txn_coordinator_kill,
    "rolling_restart": rolling_restart,
    "pause": pause,
    "two_down": two_down,
}
FULL_SUITE = tuple(FAULTS)
CI_SUITE = ("leader_kill", "group_coordinator_kill", "rolling_restart", "pause")
EXACTLY_ONCE_ONLY = frozenset({"txn_coordinator_kill"})

"""Network faults through the fault proxy (Toxiproxy) in front of every node's client
listener. The service connects through the proxy; brokers and controllers see each other
directly, and the suite's own producer and reader (the instruments) connect directly too.

Each fault adds toxics to the proxies of its target nodes, holds them for its duration,
removes them (a removed ``timeout`` toxic closes the connections it held) and returns
the heal time (``time.time()``). Blocks for the fault's duration; raises BrokerError
when the proxy does not answer. Why each toxic stands for its fault: RELIABILITY.md.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from consumer.chaos import faults
from consumer.chaos.faults import Target
from consumer.errors import BrokerError
from consumer.localkafka.cluster_files import NODE_IDS, proxy_name
from consumer.localkafka.toxiproxy import Stream


@dataclass(frozen=True)
class Toxic:
    kind: str
    stream: Stream
    attributes: dict[str, int]

    @property
    def name(self) -> str:
        return f"chaos-{self.kind}-{self.stream}"


#: Nothing passes either way; connections stay open (new ones are accepted and starve).
DROP_BOTH = (
    Toxic("timeout", "upstream", {"timeout": 0}),
    Toxic("timeout", "downstream", {"timeout": 0}),
)


def _hold(target: Target, nodes: Sequence[int], toxics: Sequence[Toxic], seconds: float) -> float:
    proxy = target.proxy
    if proxy is None:
        raise BrokerError("network faults need the fault proxy: the cluster runs without it")
    added: list[tuple[str, str]] = []
    try:
        for node in sorted(set(nodes)):
            for toxic in toxics:
                proxy.add_toxic(
                    proxy_name(node), toxic.name, toxic.kind, toxic.stream, toxic.attributes
                )
                added.append((proxy_name(node), toxic.name))
        time.sleep(seconds)
    finally:
        for name, toxic_name in added:
            proxy.remove_toxic(name, toxic_name, missing_ok=True)
    return time.time()


def partition_leader(target: Target) -> float:
    """Clients cut from the leader of most input partitions (every byte dropped both
    ways, connections left open) while the brokers still see each other."""
    d = target.durations
    return _hold(target, [faults.input_leader(target)], DROP_BOTH, d.partition_s)


def latency(target: Target) -> float:
    """500 ms +- 100 ms on every answer of every broker."""
    toxic = Toxic("latency", "downstream", {"latency": 500, "jitter": 100})
    return _hold(target, NODE_IDS, [toxic], target.durations.latency_s)


def blackhole_coordinator(target: Target) -> float:
    """The group coordinator's node and the transaction coordinator's node (exactly-once:
    the workers' transactional ids) unreachable for clients, as ``partition_leader``."""
    nodes = [faults.group_coordinator(target)]
    if target.transactional_ids:
        nodes.append(faults.txn_coordinator(target))
    return _hold(target, nodes, DROP_BOTH, target.durations.blackhole_s)


def reset_peer(target: Target) -> float:
    """Every connection to the input leader reset (TCP RST) as its first answer comes
    back: requests reach the broker, the answers never do, reconnects fail the same way."""
    toxic = Toxic("reset_peer", "downstream", {"timeout": 0})
    return _hold(target, [faults.input_leader(target)], [toxic], target.durations.reset_s)


def bandwidth(target: Target) -> float:
    """64 KB/s each way on every connection to every broker."""
    toxics = [Toxic("bandwidth", s, {"rate": 64}) for s in ("upstream", "downstream")]
    return _hold(target, NODE_IDS, toxics, target.durations.bandwidth_s)


def half_open(target: Target) -> float:
    """The input leader's answers stop (dropped, nothing closed) while the client's
    requests still arrive: a connection dead one way that neither side has closed."""
    toxic = Toxic("timeout", "downstream", {"timeout": 0})
    return _hold(target, [faults.input_leader(target)], [toxic], target.durations.half_open_s)


NETWORK_FAULTS: dict[str, faults.Fault] = {
    "partition_leader": partition_leader,
    "latency": latency,
    "blackhole_coordinator": blackhole_coordinator,
    "reset_peer": reset_peer,
    "bandwidth": bandwidth,
    "half_open": half_open,
}
NETWORK_SUITE = tuple(NETWORK_FAULTS)
NETWORK_CI_SUITE = ("partition_leader", "latency")
#: ``moodstream chaos --quick`` and CI: the process faults' CI subset, then these two.
QUICK_SUITE = faults.CI_SUITE + NETWORK_CI_SUITE
ALL_FAULTS: dict[str, faults.Fault] = {**faults.FAULTS, **NETWORK_FAULTS}

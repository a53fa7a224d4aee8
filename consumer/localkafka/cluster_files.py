"""Files, ports and command lines of the local three-node cluster. Pure functions.

Each node is a combined KRaft broker+controller. Three controllers plus three brokers
would be six JVMs on a 2-core machine (six heaps, six sets of GC and request threads);
combined nodes keep it at three while still giving a three-voter controller quorum, so a
node kill moves both partition leaders and the active controller, as on a small
production cluster. The price: with two nodes down the quorum is lost too, so the
surviving node cannot shrink ISRs or elect leaders until one comes back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from consumer.localkafka import broker_files
from consumer.localkafka.broker_files import SCRAM_MECHANISM
from consumer.settings import LocalClusterSettings

HOST = "127.0.0.1"
NODE_IDS = (1, 2, 3)

# Production-shaped: replication 3 and min ISR 2 for internal topics and the default,
# no unclean leader election, no auto-created topics. Small thread pools for 2 cores.
_CLUSTER = MappingProxyType(
    {
        "num.partitions": "1",
        "default.replication.factor": "3",
        "min.insync.replicas": "2",
        "unclean.leader.election.enable": "false",
        "auto.create.topics.enable": "false",
        "offsets.topic.replication.factor": "3",
        "offsets.topic.num.partitions": "6",
        "transaction.state.log.replication.factor": "3",
        "transaction.state.log.min.isr": "2",
        "transaction.state.log.num.partitions": "6",
        "share.coordinator.state.topic.replication.factor": "3",
        "share.coordinator.state.topic.min.isr": "2",
        "share.coordinator.state.topic.num.partitions": "3",
        "group.initial.rebalance.delay.ms": "0",
        # KIP-848 groups: the session timeout and heartbeat are the broker's, not the
        # client's. 10 s / 1 s like the classic settings of the service (the defaults
        # are 45 s / 5 s: a killed worker's partitions would wait 45 s).
        "group.consumer.session.timeout.ms": "10000",
        "group.consumer.min.session.timeout.ms": "6000",
        "group.consumer.heartbeat.interval.ms": "1000",
        "group.consumer.min.heartbeat.interval.ms": "500",
        "num.network.threads": "2",
        "num.io.threads": "2",
        "num.replica.fetchers": "1",
        "background.threads": "4",
        "log.segment.bytes": "16777216",
    }
)


@dataclass(frozen=True)
class NodePorts:
    """The ports a node binds. ``proxied`` is the PROXIED client listener, which advertises
    the fault proxy's port (``proxy_listen_port``) instead of its own."""

    plaintext: int
    controller: int
    ssl: int
    sasl_ssl: int
    proxied: int


def node_ports(settings: LocalClusterSettings, node_id: int) -> NodePorts:
    base = settings.base_port + 10 * (node_id - 1)
    return NodePorts(
        plaintext=base, controller=base + 1, ssl=base + 2, sasl_ssl=base + 3, proxied=base + 4
    )


def proxy_listen_port(settings: LocalClusterSettings, node_id: int) -> int:
    """Where Toxiproxy listens for node ``node_id`` (its upstream: the node's ``proxied``)."""
    return node_ports(settings, node_id).proxied + 1


def proxy_api_port(settings: LocalClusterSettings) -> int:
    """Toxiproxy's HTTP API (in node 1's block of ten ports, unused by any node)."""
    return settings.base_port + 9


def proxy_name(node_id: int) -> str:
    return f"node-{node_id}"


def proxied_bootstrap(settings: LocalClusterSettings) -> str:
    """``h:p,...`` of the fault proxy's ports: clients that connect here (and to every
    broker the metadata then names) pass through Toxiproxy."""
    return ",".join(f"{HOST}:{proxy_listen_port(settings, n)}" for n in NODE_IDS)


def bootstrap(settings: LocalClusterSettings, listener: str = "plaintext") -> str:
    """``h:p,h:p,h:p`` of one listener kind (plaintext, ssl, sasl_ssl) of every node."""
    return ",".join(f"{HOST}:{getattr(node_ports(settings, n), listener)}" for n in NODE_IDS)


@dataclass(frozen=True)
class NodePaths:
    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def properties(self) -> Path:
        return self.root / "server.properties"

    @property
    def log4j(self) -> Path:
        return self.root / "log4j2.xml"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    @property
    def out(self) -> Path:
        return self.root / "node.out"

    @property
    def pid(self) -> Path:
        return self.root / "node.pid"


def node_properties(
    settings: LocalClusterSettings,
    node_id: int,
    data_dir: Path,
    keystore: Path,
    keystore_password: str,
) -> str:
    """``server.properties`` of node ``node_id``: PLAINTEXT (also inter-broker), SSL,
    SASL_SSL (SCRAM-SHA-256) and PROXIED (plaintext, advertised at the fault proxy's port)
    client listeners and a PLAINTEXT controller listener, all on 127.0.0.1 only. Brokers
    and controllers talk to each other directly, never through the proxy."""
    ports = node_ports(settings, node_id)
    client = [
        f"PLAINTEXT://{HOST}:{ports.plaintext}",
        f"SSL://{HOST}:{ports.ssl}",
        f"SASL_SSL://{HOST}:{ports.sasl_ssl}",
    ]
    proxied = f"PROXIED://{HOST}:{ports.proxied}"
    advertised_proxied = f"PROXIED://{HOST}:{proxy_listen_port(settings, node_id)}"
    voters = ",".join(f"{n}@{HOST}:{node_ports(settings, n).controller}" for n in NODE_IDS)
    props = {
        "process.roles": "broker,controller",
        "node.id": str(node_id),
        "controller.quorum.voters": voters,
        "listeners": ",".join([*client, proxied, f"CONTROLLER://{HOST}:{ports.controller}"]),
        "advertised.listeners": ",".join([*client, advertised_proxied]),
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": (
            "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL,PROXIED:PLAINTEXT"
        ),
        "log.dirs": str(data_dir),
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.location": str(keystore),
        "ssl.keystore.password": keystore_password,
        "ssl.key.password": keystore_password,
        "sasl.enabled.mechanisms": SCRAM_MECHANISM,
        "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        ),
        **_CLUSTER,
    }
    return "".join(f"{key}={value}\n" for key, value in props.items())


def node_command(
    java: str, libs: Path, settings: LocalClusterSettings, paths: NodePaths
) -> list[str]:
    """The java command line of one node, in the foreground (small heap, G1)."""
    return [
        java,
        *broker_files.heap_flags(settings.heap),
        *broker_files.BROKER_GC_FLAGS,
        "-XX:MaxMetaspaceSize=128m",
        "-XX:ReservedCodeCacheSize=64m",
        f"-Dlog4j2.configurationFile={paths.log4j}",
        "-cp",
        f"{libs}/*",
        "kafka.Kafka",
        str(paths.properties),
    ]

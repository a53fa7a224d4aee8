"""The files and command lines of the local single-node KRaft broker. Pure functions.

Kept apart from the process handling in ``broker.py`` so they can be unit-tested.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from consumer.errors import BrokerError
from consumer.settings import LocalBrokerSettings

SCRAM_MECHANISM = "SCRAM-SHA-256"
SCRAM_USERNAME = "moodstream"

TOOL_JVM_FLAGS = ("-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")
BROKER_GC_FLAGS = ("-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true")
_HEAP = re.compile(r"^(\d+)([kKmMgG]?)$")
_UNIT_MB = MappingProxyType({"": 1 / (1024 * 1024), "k": 1 / 1024, "m": 1.0, "g": 1024.0})

# one node: replication 1 everywhere, few internal partitions, no auto-created topics
_SINGLE_NODE: tuple[tuple[str, str], ...] = (
    ("num.partitions", "1"),
    ("auto.create.topics.enable", "false"),
    ("offsets.topic.replication.factor", "1"),
    ("offsets.topic.num.partitions", "6"),
    ("transaction.state.log.replication.factor", "1"),
    ("transaction.state.log.min.isr", "1"),
    ("transaction.state.log.num.partitions", "6"),
    ("share.coordinator.state.topic.replication.factor", "1"),
    ("share.coordinator.state.topic.min.isr", "1"),
    ("share.coordinator.state.topic.num.partitions", "6"),
    ("group.initial.rebalance.delay.ms", "0"),
    # KIP-848 groups (group.protocol=consumer) take these from the broker: 10 s / 1 s
    # like the service's classic settings, not the 45 s / 5 s defaults
    ("group.consumer.session.timeout.ms", "10000"),
    ("group.consumer.min.session.timeout.ms", "6000"),
    ("group.consumer.heartbeat.interval.ms", "1000"),
    ("group.consumer.min.heartbeat.interval.ms", "500"),
    ("num.network.threads", "2"),
    ("num.io.threads", "4"),
)

_LOG4J2_XML = """<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <RollingFile name="file" fileName="{log}" filePattern="{log}.%i">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
      <Policies><SizeBasedTriggeringPolicy size="20 MB"/></Policies>
      <DefaultRolloverStrategy max="2"/>
    </RollingFile>
  </Appenders>
  <Loggers>
    <Root level="INFO"><AppenderRef ref="file"/></Root>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="state.change.logger" level="WARN"/>
  </Loggers>
</Configuration>
"""


@dataclass(frozen=True)
class BrokerPaths:
    """Where the local broker keeps its state: ``<cache_dir>/broker-<port>/...``."""

    root: Path
    data: Path
    properties: Path
    log4j: Path
    log: Path
    out: Path
    pid: Path
    lock: Path
    password: Path
    leases: Path
    auto_stop: Path
    formatted: Path

    @classmethod
    def under(cls, root: Path) -> BrokerPaths:
        return cls(
            root=root,
            data=root / "data",
            properties=root / "server.properties",
            log4j=root / "log4j2.xml",
            log=root / "server.log",
            out=root / "broker.out",
            pid=root / "broker.pid",
            lock=root / ".lock",
            password=root / "sasl-password",
            leases=root / "leases",
            auto_stop=root / "auto-stop",
            formatted=root / "formatted-version",
        )


def new_cluster_id() -> str:
    """16 random bytes, URL-safe base64 without padding (the KRaft cluster id format)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode("ascii")


def new_password() -> str:
    """A random password for the local SCRAM user (URL-safe characters only)."""
    return secrets.token_urlsafe(24)


def read_or_create_password(path: Path) -> str:
    """The SCRAM password stored in ``path``, generated on first use with mode 0600."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(new_password() + "\n")
    return path.read_text().strip()


def heap_flags(heap: str) -> tuple[str, str]:
    """``-Xms``/``-Xmx`` for a heap like ``512m``: start at 256 MB or the max if smaller.

    Raises BrokerError for a value the JVM would not accept.
    """
    match = _HEAP.match(heap.strip())
    if match is None:
        raise BrokerError(f"MOODSTREAM_BROKER__HEAP={heap!r}: use a JVM size such as 512m or 1g")
    max_mb = int(match.group(1)) * _UNIT_MB[match.group(2).lower()]
    if max_mb < 128:
        raise BrokerError(f"MOODSTREAM_BROKER__HEAP={heap!r}: the broker needs at least 128m")
    start = "256m" if max_mb >= 256 else heap.strip()
    return f"-Xms{start}", f"-Xmx{heap.strip()}"


def broker_command(
    java: str, libs: Path, settings: LocalBrokerSettings, properties: Path, log4j: Path
) -> list[str]:
    """The java command line that runs the broker in the foreground."""
    return [
        java,
        *heap_flags(settings.heap),
        *BROKER_GC_FLAGS,
        f"-Dlog4j2.configurationFile={log4j}",
        "-cp",
        f"{libs}/*",
        "kafka.Kafka",
        str(properties),
    ]


def tool_command(java: str, libs: Path, log4j: Path, main: str, *args: str) -> list[str]:
    """The java command line of a short-lived Kafka tool (small heap, quick JIT)."""
    return [
        java,
        *TOOL_JVM_FLAGS,
        f"-Dlog4j2.configurationFile={log4j}",
        "-cp",
        f"{libs}/*",
        main,
        *args,
    ]


def server_properties(settings: LocalBrokerSettings, data_dir: Path, sasl: bool) -> str:
    """``server.properties`` of a combined broker+controller node bound to 127.0.0.1 only.

    Topic auto-creation is off, as on most production clusters: run ``topics create``.
    """
    host = "127.0.0.1"
    listeners = [
        f"PLAINTEXT://{host}:{settings.port}",
        f"CONTROLLER://{host}:{settings.controller_port}",
    ]
    protocols = ["CONTROLLER:PLAINTEXT", "PLAINTEXT:PLAINTEXT"]
    if sasl:
        listeners.append(f"SASL_PLAINTEXT://{host}:{settings.sasl_port}")
        protocols.append("SASL_PLAINTEXT:SASL_PLAINTEXT")
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.bootstrap.servers": f"{host}:{settings.controller_port}",
        "listeners": ",".join(listeners),
        "advertised.listeners": ",".join(listeners),
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": ",".join(protocols),
        "log.dirs": str(data_dir),
        **dict(_SINGLE_NODE),
    }
    if sasl:
        props["sasl.enabled.mechanisms"] = SCRAM_MECHANISM
        props["listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config"] = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        )
        # ACLs can be tested on the SASL listener: everything is allowed until an ACL
        # names a resource; the PLAINTEXT and controller listeners (ANONYMOUS) are super.
        props["authorizer.class.name"] = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
        props["super.users"] = "User:ANONYMOUS"
        props["allow.everyone.if.no.acl.found"] = "true"
    return "".join(f"{key}={value}\n" for key, value in props.items())


def log4j2_config(log_file: Path) -> str:
    """A log4j2 XML config sending every broker log line to ``log_file`` (rolled at 20 MB)."""
    return _LOG4J2_XML.format(log=log_file)

"""The local three-node cluster: three KRaft nodes (broker+controller) on 127.0.0.1.

Same Maven jars as the single-node broker (``maven.py``); state under
``<broker.cache_dir>/cluster/``::

    node-<n>/        server.properties, log4j2.xml, data/, server.log, node.out, node.pid
    tls/             the CA and the server keystore (``tls.py``)
    cluster-id       formatted once per Kafka version (formatted-version)
    sasl-password    the SCRAM password of user ``moodstream`` (mode 0600)
    .lock            serialises start/stop/kill between processes

``kill``/``restart``/``pause``/``resume`` act on one node for fault tests. Not
thread-safe within one process; safe across processes for start/stop (a file lock).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import psutil
from pydantic import SecretStr

from consumer.errors import BrokerError, ConfigError, KafkaSetupError
from consumer.kafka import admin
from consumer.localkafka import broker_files as files
from consumer.localkafka import broker_proc as proc_util
from consumer.localkafka import cluster_files as cfiles
from consumer.localkafka import maven
from consumer.localkafka import ports as local_ports
from consumer.localkafka.cluster_files import NODE_IDS, NodePaths
from consumer.localkafka.cluster_proxy import FaultProxy
from consumer.localkafka.tls import TlsFiles, ensure_tls
from consumer.settings import LocalBrokerSettings, LocalClusterSettings

READY_TIMEOUT_S = 150.0
FORMAT_TIMEOUT_S = 120.0
SASL_READY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class NodeStatus:
    node_id: int
    pid: int | None
    port: int
    up: bool


@dataclass(frozen=True)
class ClusterInfo:
    bootstrap_servers: str
    nodes: tuple[NodeStatus, ...]
    tls_bootstrap_servers: str
    ca_location: str
    sasl_ssl_bootstrap_servers: str
    sasl_username: str
    sasl_password: SecretStr
    proxied_bootstrap_servers: str = ""  # through the fault proxy (cluster_proxy.py)
    sasl_mechanism: str = files.SCRAM_MECHANISM


class LocalCluster:
    """Start, stop, inspect and hurt the local three-node cluster."""

    def __init__(
        self,
        broker: LocalBrokerSettings,
        cluster: LocalClusterSettings,
        *,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self._broker = broker
        self._settings = cluster
        self._root = broker.cache_dir / f"cluster-{cluster.base_port}"
        self._progress = progress or (lambda _message: None)

    @property
    def root(self) -> Path:
        """Where the cluster keeps its state (``<broker.cache_dir>/cluster-<base_port>``)."""
        return self._root

    @property
    def bootstrap_servers(self) -> str:
        return cfiles.bootstrap(self._settings)

    @property
    def proxied_bootstrap_servers(self) -> str:
        """Through the fault proxy: every connection of a client bootstrapped here passes
        Toxiproxy (see cluster_proxy.py)."""
        return cfiles.proxied_bootstrap(self._settings)

    def node(self, node_id: int) -> NodePaths:
        if node_id not in NODE_IDS:
            raise ConfigError(f"no node {node_id}: the local cluster has nodes 1, 2 and 3")
        return NodePaths(self._root / f"node-{node_id}")

    def ports(self) -> list[int]:
        """Every port the cluster binds: the nodes' listeners and Toxiproxy's. Pure."""
        nodes = [p for n in NODE_IDS for p in vars(cfiles.node_ports(self._settings, n)).values()]
        proxy = [cfiles.proxy_listen_port(self._settings, n) for n in NODE_IDS]
        return [*nodes, *proxy, cfiles.proxy_api_port(self._settings)]

    def status(self) -> tuple[NodeStatus, ...]:
        """Each node's pid and whether its process runs and is not stopped. Never blocks."""
        result = []
        for n in NODE_IDS:
            pid = self._pid(n)
            up = pid is not None and psutil.Process(pid).status() != psutil.STATUS_STOPPED
            port = cfiles.node_ports(self._settings, n).plaintext
            result.append(NodeStatus(n, pid, port, up))
        return tuple(result)

    def info(self) -> ClusterInfo:
        """Addresses and credentials of every listener (the cluster may be down)."""
        return ClusterInfo(
            bootstrap_servers=self.bootstrap_servers,
            nodes=self.status(),
            tls_bootstrap_servers=cfiles.bootstrap(self._settings, "ssl"),
            ca_location=str(TlsFiles(self._root / "tls").ca),
            sasl_ssl_bootstrap_servers=cfiles.bootstrap(self._settings, "sasl_ssl"),
            sasl_username=files.SCRAM_USERNAME,
            sasl_password=SecretStr(files.read_or_create_password(self._password_file())),
            proxied_bootstrap_servers=self.proxied_bootstrap_servers,
        )

    def proxy(self) -> FaultProxy:
        """The fault proxy in front of every node's PROXIED listener (started with the
        cluster)."""
        return FaultProxy(self._broker.cache_dir, self._root, self._settings)

    def start(self) -> ClusterInfo:
        """Start every node that is not running (idempotent) and the fault proxy; return
        once all three answer and the SCRAM user can log in over SASL_SSL. Blocks up to
        READY_TIMEOUT_S (plus the jar download and the Toxiproxy build on first use).
        Raises ToolMissingError, BrokerError (nodes that this call started are stopped
        again then)."""
        with proc_util.exclusive_lock(self._root / ".lock"):
            self._start_locked()
            self.proxy().start()
        return self.info()

    def stop(self) -> list[int]:
        """Stop every node (SIGCONT first if paused, SIGTERM to all, SIGKILL after 30 s) and
        the fault proxy; return the nodes' pids stopped. Blocks up to ~40 s."""
        with proc_util.exclusive_lock(self._root / ".lock"):
            pids = [pid for n in NODE_IDS if (pid := self._pid(n)) is not None]
            for pid in pids:  # all at once: the last node alone would wait for a quorum
                _signal(pid, signal.SIGCONT)
                _signal(pid, signal.SIGTERM)
            for pid in pids:
                proc_util.terminate(pid)  # waits, SIGKILL after STOP_TIMEOUT_S
            for n in NODE_IDS:
                self.node(n).pid.unlink(missing_ok=True)
            self.proxy().stop()
            return pids

    # -- faults ---------------------------------------------------------------------------

    def kill(self, node_id: int, sig: signal.Signals = signal.SIGKILL) -> int:
        """Send ``sig`` (SIGKILL: a hard crash; SIGTERM: a clean shutdown) and wait until the
        process is gone (bounded). Returns its pid. Raises BrokerError if it was not up."""
        pid = self._require_pid(node_id)
        _signal(pid, signal.SIGCONT)
        _signal(pid, sig)
        if not proc_util.wait_gone(pid, proc_util.STOP_TIMEOUT_S):
            proc_util.terminate(pid)
        self.node(node_id).pid.unlink(missing_ok=True)
        return pid

    def restart(self, node_id: int, timeout_s: float = READY_TIMEOUT_S) -> int:
        """Start ``node_id`` (SIGTERM it first if it runs) and wait until its client port is
        open and it is in the cluster metadata. Blocks up to ``timeout_s``; returns the pid."""
        if self._pid(node_id) is not None:
            self.kill(node_id, signal.SIGTERM)
        java = proc_util.require_java()
        libs = maven.fetch_kafka(self._broker.cache_dir, self._broker.kafka_version)
        proc = self._spawn(java, libs, node_id)
        self._wait_ready({node_id: proc}, time.monotonic() + timeout_s)
        return proc.pid

    def pause(self, node_id: int) -> int:
        """SIGSTOP the node (a long GC pause); returns its pid."""
        pid = self._require_pid(node_id)
        _signal(pid, signal.SIGSTOP)
        return pid

    def resume(self, node_id: int) -> int:
        """SIGCONT the node; returns its pid."""
        pid = self._require_pid(node_id)
        _signal(pid, signal.SIGCONT)
        return pid

    def log_tail(self, node_id: int, lines: int = 15) -> str:
        paths = self.node(node_id)
        parts = [proc_util.tail(paths.out, 5), proc_util.tail(paths.log, lines)]
        return "\n".join(p for p in parts if p) or f"(node {node_id} wrote no log)"

    # -- internals ------------------------------------------------------------------------

    def _password_file(self) -> Path:
        self._root.mkdir(parents=True, exist_ok=True)
        return self._root / "sasl-password"

    def _pid(self, node_id: int) -> int | None:
        paths = self.node(node_id)
        return proc_util.live_pid(paths.pid, "kafka.Kafka", str(paths.properties))

    def _require_pid(self, node_id: int) -> int:
        pid = self._pid(node_id)
        if pid is None:
            raise BrokerError(f"node {node_id} of the local cluster is not running")
        return pid

    def _start_locked(self) -> None:
        down = [n for n in NODE_IDS if self._pid(n) is None]
        if not down:
            return
        local_ports.refuse_ephemeral(dict.fromkeys(self.ports(), "MOODSTREAM_CLUSTER__BASE_PORT"))
        java = proc_util.require_java()
        home = maven.kafka_home(self._broker.cache_dir, self._broker.kafka_version)
        if not maven.is_complete(home):
            self._progress(f"fetching Apache Kafka {self._broker.kafka_version} (first start only)")
        libs = maven.fetch_kafka(self._broker.cache_dir, self._broker.kafka_version)
        ports = [p for n in down for p in vars(cfiles.node_ports(self._settings, n)).values()]
        proc_util.wait_free_ports(
            ports, "free it or move the cluster with MOODSTREAM_CLUSTER__BASE_PORT"
        )
        tls = ensure_tls(self._root / "tls")
        self._write_configs(tls)
        self._ensure_formatted(java, libs)
        procs = {n: self._spawn(java, libs, n) for n in down}
        try:
            self._wait_ready(procs, time.monotonic() + READY_TIMEOUT_S)
            self._create_scram_user()
        except BaseException:
            for n, proc in procs.items():
                proc_util.terminate(proc.pid)
                self.node(n).pid.unlink(missing_ok=True)
            raise

    def _write_configs(self, tls: TlsFiles) -> None:
        for n in NODE_IDS:
            paths = self.node(n)
            paths.root.mkdir(parents=True, exist_ok=True)
            text = cfiles.node_properties(
                self._settings, n, paths.data, tls.keystore, tls.keystore_password()
            )
            paths.properties.write_text(text)
            paths.properties.chmod(0o600)
            paths.log4j.write_text(files.log4j2_config(paths.log))

    def _ensure_formatted(self, java: str, libs: Path) -> None:
        """Format every node's data dir with one cluster id, once per Kafka version."""
        marker = self._root / "formatted-version"
        version = self._broker.kafka_version
        if marker.is_file() and marker.read_text().strip() == version:
            return
        marker.unlink(missing_ok=True)
        cluster_id = files.new_cluster_id()
        for n in NODE_IDS:
            paths = self.node(n)
            shutil.rmtree(paths.data, ignore_errors=True)
            paths.data.mkdir(parents=True)
            args = ("format", "-t", cluster_id, "-c", str(paths.properties))
            cmd = files.tool_command(java, libs, paths.log4j, "kafka.tools.StorageTool", *args)
            proc_util.run_tool(cmd, f"formatting {paths.data}", FORMAT_TIMEOUT_S)
        (self._root / "cluster-id").write_text(cluster_id + "\n")
        marker.write_text(version + "\n")

    def _spawn(self, java: str, libs: Path, node_id: int) -> subprocess.Popen[bytes]:
        paths = self.node(node_id)
        if paths.log.exists():
            paths.log.replace(paths.log.with_name(paths.log.name + ".prev"))
        cmd = cfiles.node_command(java, libs, self._settings, paths)
        return proc_util.spawn_detached(cmd, paths.out, paths.root, paths.pid)

    def _wait_ready(self, procs: dict[int, subprocess.Popen[bytes]], deadline: float) -> None:
        """Block until each node's client port is open and the metadata lists it."""
        for n, proc in procs.items():
            port = cfiles.node_ports(self._settings, n).plaintext
            proc_util.wait_started(
                proc,
                partial(proc_util.port_open, port),
                deadline,
                f"node {n} did not open port {port}",
                partial(self.log_tail, n),
            )
        config = {"bootstrap.servers": self.bootstrap_servers}
        while True:
            try:
                remaining_s = max(1.0, deadline - time.monotonic())
                metadata = admin.wait_for_cluster(config, remaining_s)
            except KafkaSetupError as exc:
                raise BrokerError(f"the cluster does not answer: {exc}") from None
            if set(procs) <= set(metadata.brokers):
                return
            if time.monotonic() >= deadline:
                raise BrokerError(f"nodes {sorted(procs)} did not join the cluster in time")
            time.sleep(0.2)

    def _create_scram_user(self) -> None:
        """Create the SCRAM user and wait until a SASL_SSL login works. Blocks (bounded)."""
        info = self.info()
        password = info.sasl_password.get_secret_value()
        admin.upsert_scram_user(
            {"bootstrap.servers": self.bootstrap_servers}, files.SCRAM_USERNAME, password
        )
        login = {
            "bootstrap.servers": info.sasl_ssl_bootstrap_servers,
            "security.protocol": "SASL_SSL",
            "ssl.ca.location": info.ca_location,
            "sasl.mechanism": files.SCRAM_MECHANISM,
            "sasl.username": files.SCRAM_USERNAME,
            "sasl.password": password,
        }
        deadline = time.monotonic() + SASL_READY_TIMEOUT_S
        while True:  # the credential reaches every node's listener a moment later
            try:
                admin.wait_for_cluster(login, 3.0)
                return
            except KafkaSetupError as exc:
                if time.monotonic() >= deadline:
                    raise BrokerError(f"the SASL_SSL listener refuses the user: {exc}") from None
            time.sleep(0.3)


def _signal(pid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.kill(pid, sig)

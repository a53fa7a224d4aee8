"""The local development broker: one Apache Kafka node (KRaft, broker+controller) on 127.0.0.1.

The jars come from Maven Central (see ``maven.py``) and are cached; everything the broker
writes lives under ``<cache_dir>/broker-<port>/`` (one folder per client port, so brokers
configured on other ports, e.g. by an older checkout, never share or stop each other)::

    server.properties, log4j2.xml   written at every start
    data/                           the log dir, formatted once per Kafka version
    server.log                      the broker's log (never the terminal; the previous
                                    start's in server.log.prev); broker.out: JVM output
    broker.pid                      pid of the running broker (it outlives the CLI)
    sasl-password                   the SCRAM password of user ``moodstream`` (mode 0600)
    .lock, leases/, auto-stop       cross-process coordination, see ``LocalBroker.shared``

Changing ``kafka_version`` reformats ``data/`` (local topics are lost). ``--sasl`` adds a
SCRAM-SHA-256 listener: the user is created through the AdminClient after start-up, so
no reformat is needed; a running broker without that listener is restarted with it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from consumer.errors import BrokerError, KafkaSetupError
from consumer.kafka import admin
from consumer.localkafka import broker_files as files
from consumer.localkafka import broker_proc as proc_util
from consumer.localkafka import maven, ports
from consumer.localkafka.broker_proc import HOST
from consumer.settings import LocalBrokerSettings

READY_TIMEOUT_S = 90.0
SASL_READY_TIMEOUT_S = 20.0
FORMAT_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class SaslInfo:
    bootstrap_servers: str
    username: str
    password: SecretStr
    mechanism: str = files.SCRAM_MECHANISM


@dataclass(frozen=True)
class BrokerInfo:
    bootstrap_servers: str
    pid: int
    sasl: SaslInfo | None = None


@dataclass(frozen=True)
class BrokerStatus:
    running: bool
    bootstrap_servers: str
    pid: int | None = None
    sasl_bootstrap_servers: str | None = None


class LocalBroker:
    """Start, stop and inspect the local broker. Safe across processes (a file lock).

    Not thread-safe within one process: give each thread its own instance.
    """

    def __init__(
        self,
        settings: LocalBrokerSettings,
        *,
        progress: Callable[[str], None] | None = None,
        ready_timeout_s: float = READY_TIMEOUT_S,
    ) -> None:
        self._settings = settings
        self._paths = files.BrokerPaths.under(settings.cache_dir / f"broker-{settings.port}")
        self._progress = progress or (lambda _message: None)
        self._ready_timeout_s = ready_timeout_s

    @property
    def bootstrap_servers(self) -> str:
        return f"{HOST}:{self._settings.port}"

    @property
    def log_file(self) -> Path:
        return self._paths.log

    def ensure_jars(self) -> Path:
        """Download the broker jars unless cached; return the libs dir. Blocks (Maven).

        Raises ToolMissingError without ``mvn``, BrokerError if Maven fails.
        """
        with proc_util.exclusive_lock(self._paths.lock):
            return self._fetch_jars()

    def status(self) -> BrokerStatus:
        """Whether the broker process runs (pid file + live java process). Never blocks."""
        pid = self._running_pid()
        sasl = pid is not None and self._has_sasl()
        return BrokerStatus(
            running=pid is not None,
            bootstrap_servers=self.bootstrap_servers,
            pid=pid,
            sasl_bootstrap_servers=f"{HOST}:{self._settings.sasl_port}" if sasl else None,
        )

    def start(self, sasl: bool = False) -> BrokerInfo:
        """Start the broker (idempotent) and return once it answers metadata requests.

        Blocks: the first call downloads the jars; start-up waits up to ``ready_timeout_s``.
        A broker started here is the user's: ``shared`` blocks never stop it. Raises
        ToolMissingError (java/mvn), BrokerError (download, ports taken, start-up failure
        with the log tail; nothing is left running then).
        """
        with proc_util.exclusive_lock(self._paths.lock):
            info = self._start_locked(sasl)
            self._paths.auto_stop.unlink(missing_ok=True)
            return info

    def stop(self) -> int | None:
        """Stop the broker; return its pid, or None if it was not running.

        Blocks: SIGTERM, up to STOP_TIMEOUT_S for a clean shutdown, then SIGKILL. Raises
        BrokerError only if the process survives SIGKILL.
        """
        with proc_util.exclusive_lock(self._paths.lock):
            self._paths.auto_stop.unlink(missing_ok=True)
            return self._stop_locked()

    @contextmanager
    def shared(self, sasl: bool = False) -> Iterator[BrokerInfo]:
        """Use the broker for the ``with`` block (e.g. a test session), starting it if needed.

        On exit the broker is stopped only if a ``shared`` block started it and no other
        live process still holds it; a broker started with ``start`` is left running.
        Blocks like ``start``/``stop``; raises what they raise.
        """
        with proc_util.exclusive_lock(self._paths.lock):
            was_running = self._running_pid() is not None
            info = self._start_locked(sasl)
            if not was_running:
                self._paths.auto_stop.touch()
            self._paths.leases.mkdir(exist_ok=True)
            lease = self._paths.leases / f"{os.getpid()}-{uuid.uuid4().hex}"
            lease.touch()
        try:
            yield info
        finally:
            with proc_util.exclusive_lock(self._paths.lock):
                lease.unlink(missing_ok=True)
                if self._paths.auto_stop.exists() and not proc_util.live_leases(self._paths.leases):
                    self._paths.auto_stop.unlink(missing_ok=True)
                    self._stop_locked()

    def ports(self, sasl: bool) -> dict[int, str]:
        """Each port the broker binds, mapped to the setting that chooses it. Pure."""
        wanted = {
            self._settings.port: "MOODSTREAM_BROKER__PORT",
            self._settings.controller_port: "MOODSTREAM_BROKER__CONTROLLER_PORT",
        }
        if sasl:
            wanted[self._settings.sasl_port] = "MOODSTREAM_BROKER__SASL_PORT"
        return wanted

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the JVM output and of the broker log, for error messages."""
        parts = [proc_util.tail(self._paths.out, 5), proc_util.tail(self._paths.log, lines)]
        return "\n".join(part for part in parts if part) or "(the broker wrote no log)"

    # -- internals; callers hold the lock ---------------------------------------------

    def _fetch_jars(self) -> Path:
        home = maven.kafka_home(self._settings.cache_dir, self._settings.kafka_version)
        if not maven.is_complete(home):
            self._progress(
                f"fetching Apache Kafka {self._settings.kafka_version} from Maven Central "
                "(first start only)..."
            )
        return maven.fetch_kafka(self._settings.cache_dir, self._settings.kafka_version)

    def _start_locked(self, sasl: bool) -> BrokerInfo:
        pid = self._running_pid()
        if pid is not None and (self._has_sasl() or not sasl):
            return self._info(pid)
        if pid is not None:
            self._stop_locked()  # restart with the SASL listener
        wanted = self.ports(sasl)
        ports.refuse_ephemeral(wanted)
        java = proc_util.require_java()
        libs = self._fetch_jars()
        proc_util.wait_free_ports(
            list(wanted),
            "free it or choose other ports with MOODSTREAM_BROKER__PORT / __CONTROLLER_PORT"
            " / __SASL_PORT",
        )
        self._write_config(sasl)
        self._ensure_formatted(java, libs)
        proc = self._spawn(java, libs)
        try:
            self._wait_ready(proc)
            if sasl:
                self._create_scram_user()
        except BaseException:
            proc_util.terminate(proc.pid)
            self._paths.pid.unlink(missing_ok=True)
            raise
        return self._info(proc.pid)

    def _stop_locked(self) -> int | None:
        pid = self._running_pid()
        if pid is not None:
            proc_util.terminate(pid)
        self._paths.pid.unlink(missing_ok=True)
        return pid

    def _running_pid(self) -> int | None:
        return proc_util.live_pid(self._paths.pid, "kafka.Kafka", str(self._paths.properties))

    def _has_sasl(self) -> bool:
        try:
            return "SASL_PLAINTEXT://" in self._paths.properties.read_text()
        except OSError:
            return False

    def _info(self, pid: int) -> BrokerInfo:
        sasl = None
        if self._has_sasl():
            sasl = SaslInfo(
                bootstrap_servers=f"{HOST}:{self._settings.sasl_port}",
                username=files.SCRAM_USERNAME,
                password=SecretStr(files.read_or_create_password(self._paths.password)),
            )
        return BrokerInfo(bootstrap_servers=self.bootstrap_servers, pid=pid, sasl=sasl)

    def _write_config(self, sasl: bool) -> None:
        paths = self._paths
        if paths.log.exists():  # so that the log tail in errors shows this start only
            paths.log.replace(paths.log.with_name(paths.log.name + ".prev"))
        paths.properties.write_text(files.server_properties(self._settings, paths.data, sasl))
        paths.log4j.write_text(files.log4j2_config(paths.log))

    def _ensure_formatted(self, java: str, libs: Path) -> None:
        """Format ``data/`` unless it was formatted for this Kafka version. Blocks."""
        paths, version = self._paths, self._settings.kafka_version
        if paths.formatted.is_file() and paths.formatted.read_text().strip() == version:
            return
        paths.formatted.unlink(missing_ok=True)
        shutil.rmtree(paths.data, ignore_errors=True)
        paths.data.mkdir(parents=True)
        args = ("format", "--standalone", "-t", files.new_cluster_id(), "-c", str(paths.properties))
        cmd = files.tool_command(java, libs, paths.log4j, "kafka.tools.StorageTool", *args)
        proc_util.run_tool(cmd, f"formatting {paths.data}", FORMAT_TIMEOUT_S)
        paths.formatted.write_text(f"{version}\n")

    def _spawn(self, java: str, libs: Path) -> subprocess.Popen[bytes]:
        paths = self._paths
        cmd = files.broker_command(java, libs, self._settings, paths.properties, paths.log4j)
        return proc_util.spawn_detached(cmd, paths.out, paths.root, paths.pid)

    def _wait_ready(self, proc: subprocess.Popen[bytes]) -> None:
        """Block until the client port is open and metadata requests succeed."""
        deadline = time.monotonic() + self._ready_timeout_s
        proc_util.wait_started(
            proc,
            lambda: proc_util.port_open(self._settings.port),
            deadline,
            f"the broker did not open {self.bootstrap_servers} within {self._ready_timeout_s:g} s",
            self.log_tail,
        )
        remaining_s = max(1.0, deadline - time.monotonic())
        try:
            admin.wait_for_cluster({"bootstrap.servers": self.bootstrap_servers}, remaining_s)
        except KafkaSetupError as exc:
            raise BrokerError(f"the broker does not answer: {exc}\n{self.log_tail()}") from None

    def _create_scram_user(self) -> None:
        """Create the SCRAM user and wait until a SASL login works. Blocks (bounded)."""
        password = files.read_or_create_password(self._paths.password)
        plain = {"bootstrap.servers": self.bootstrap_servers}
        admin.upsert_scram_user(plain, files.SCRAM_USERNAME, password)
        sasl = {
            "bootstrap.servers": f"{HOST}:{self._settings.sasl_port}",
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": files.SCRAM_MECHANISM,
            "sasl.username": files.SCRAM_USERNAME,
            "sasl.password": password,
        }
        deadline = time.monotonic() + SASL_READY_TIMEOUT_S
        while True:  # the new credential reaches the SASL listener a moment later
            try:
                admin.wait_for_cluster(sasl, 2.0)
                return
            except KafkaSetupError as exc:
                if time.monotonic() >= deadline:
                    raise BrokerError(f"the SASL listener refuses the user: {exc}") from None
            time.sleep(0.2)

"""The local development Schema Registry: Apicurio Registry, in memory, on 127.0.0.1.

Built once from Maven Central (see ``registry_files.py``); layout under
``<cache_dir>/registry/``::

    <version>/build/     the generated wrapper project (pom.xml, settings.xml, target/);
                         its private Maven repository m2/ is deleted after a good build
    <version>/.complete  written last; without it the build is redone
    .build-lock          one build at a time, across processes
    run-<port>/          registry.pid, registry.out, .lock, leases/, auto-stop, and
                         data/ (the H2 file with LOCAL_REGISTRY__PERSISTENT)

It serves the Confluent-compatible API that confluent-kafka's ``SchemaRegistryClient``
speaks at ``http://127.0.0.1:<port>/apis/ccompat/v6``; every schema is lost on stop
unless ``persistent`` is set.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from consumer.errors import BrokerError
from consumer.localkafka import broker_proc as proc_util
from consumer.localkafka import ports
from consumer.localkafka import registry_files as rfiles
from consumer.localkafka.broker_proc import HOST
from consumer.localkafka.maven import require_tool
from consumer.localkafka.shared_use import SharedUse
from consumer.settings import LocalBrokerSettings, LocalRegistrySettings

READY_TIMEOUT_S = 180.0
BUILD_TIMEOUT_S = 1200.0
MVN_HINT = "install Apache Maven 3.8+ (e.g. `apt-get install maven`)"
API_PATH = "/apis/ccompat/v6"


@dataclass(frozen=True)
class RegistryStatus:
    running: bool
    url: str
    pid: int | None = None


class LocalRegistry:
    """Build, start, stop and inspect the local registry. Safe across processes (file
    locks); not thread-safe within one process."""

    def __init__(
        self,
        broker: LocalBrokerSettings,
        settings: LocalRegistrySettings,
        *,
        progress: Callable[[str], None] | None = None,
        ready_timeout_s: float = READY_TIMEOUT_S,
    ) -> None:
        self._settings = settings
        root = broker.cache_dir / "registry"
        self._build_lock = root / ".build-lock"
        self._home = root / settings.apicurio_version
        self._run = root / f"run-{settings.port}"
        self._use = SharedUse(self._run, self._running_pid, self._start_locked, self._stop_locked)
        self._progress = progress or (lambda _message: None)
        self._ready_timeout_s = ready_timeout_s

    @property
    def url(self) -> str:
        """The Confluent-compatible API's base URL (for ``SCHEMA_REGISTRY__URL``)."""
        return f"http://{HOST}:{self._settings.port}{API_PATH}"

    @property
    def state_dir(self) -> Path:
        """This instance's folder (``run-<port>``): pid, log, leases, the persistent data."""
        return self._run

    @property
    def log_file(self) -> Path:
        return self._run / "registry.out"

    def status(self) -> RegistryStatus:
        """Whether the registry process runs (pid file + live java process). Never blocks."""
        pid = self._running_pid()
        return RegistryStatus(running=pid is not None, url=self.url, pid=pid)

    def build(self) -> Path:
        """Build the registry unless built; return the runnable jar. Blocks: about a minute
        and 190 MB from Maven Central the first time, at once afterwards. Raises
        ToolMissingError without ``mvn``, BrokerError when Maven fails."""
        runner = rfiles.runner_jar(self._home / "build" / "target", self._settings.apicurio_version)
        if (self._home / ".complete").is_file() and runner.is_file():
            return runner
        with proc_util.exclusive_lock(self._build_lock):
            if not ((self._home / ".complete").is_file() and runner.is_file()):
                self._build_locked()
        return runner

    def start(self) -> int:
        """Start the registry (idempotent) and return its pid once it answers. Blocks: the
        first call builds it; start-up waits up to ``ready_timeout_s``. A registry started
        here is the user's: ``shared`` blocks never stop it. Raises ToolMissingError,
        BrokerError (port in the ephemeral range or taken, build or start-up failure with
        the log tail; nothing is left running then)."""
        return self._use.start()

    def stop(self) -> int | None:
        """Stop the registry; return its pid, None if it was not running. Blocks up to
        about 40 s (SIGTERM, then SIGKILL). Raises BrokerError if it survives SIGKILL."""
        return self._use.stop()

    @contextmanager
    def shared(self) -> Iterator[str]:
        """Use the registry for the ``with`` block (a test session), starting it if needed;
        yields its URL. Stopped on exit only if a ``shared`` block started it and no other
        live process still uses it. Blocks and raises like ``start``."""
        with self._use.shared():
            yield self.url

    def log_tail(self, lines: int = 20) -> str:
        return proc_util.tail(self.log_file, lines) or "(the registry wrote no log)"

    # -- internals ---------------------------------------------------------------------

    def _running_pid(self) -> int | None:
        return proc_util.live_pid(
            self._run / "registry.pid", f"-Dquarkus.http.port={self._settings.port}"
        )

    def _start_locked(self) -> int:
        pid = self._running_pid()
        if pid is not None:
            return pid
        port = self._settings.port
        ports.refuse_ephemeral({port: "MOODSTREAM_LOCAL_REGISTRY__PORT"})
        java = proc_util.require_java()
        runner = self.build()
        proc_util.wait_free_ports([port], "free it or choose MOODSTREAM_LOCAL_REGISTRY__PORT")
        cmd = rfiles.registry_command(java, runner, self._settings, self._run / "data")
        proc = proc_util.spawn_detached(cmd, self.log_file, self._run, self._run / "registry.pid")
        try:
            self._wait_ready(proc)
            put_config(self.url, self._settings.compatibility)
        except BaseException:
            proc_util.terminate(proc.pid)
            (self._run / "registry.pid").unlink(missing_ok=True)
            raise
        return proc.pid

    def _stop_locked(self) -> int | None:
        pid = self._running_pid()
        if pid is not None:
            proc_util.terminate(pid)
        (self._run / "registry.pid").unlink(missing_ok=True)
        return pid

    def _wait_ready(self, proc: subprocess.Popen[bytes]) -> None:
        """Block until GET .../subjects answers 200 (up to ``ready_timeout_s``)."""
        proc_util.wait_started(
            proc,
            lambda: answers(self.url),
            time.monotonic() + self._ready_timeout_s,
            f"the registry did not answer at {self.url} within {self._ready_timeout_s:g} s",
            self.log_tail,
        )

    def _build_locked(self) -> None:
        mvn = require_tool("mvn", MVN_HINT)
        version = self._settings.apicurio_version
        self._progress(f"building Apicurio Registry {version} from Maven Central (once)...")
        build = self._home / "build"
        (self._home / ".complete").unlink(missing_ok=True)
        shutil.rmtree(build, ignore_errors=True)
        build.mkdir(parents=True)
        (build / "settings.xml").write_text(rfiles.SETTINGS_XML)
        base = [mvn, "-B", "-q", "-s", str(build / "settings.xml")]
        base.append(f"-Dmaven.repo.local={build / 'm2'}")
        poms = {}
        for artifact in (rfiles.APP, rfiles.PARENT):
            coords = f"{rfiles.GROUP}:{artifact}:{version}:pom"
            get = "org.apache.maven.plugins:maven-dependency-plugin:3.1.2:get"
            _mvn([*base, get, f"-Dartifact={coords}", "-Dtransitive=false"], build)
            group_dir = build / "m2" / rfiles.GROUP.replace(".", "/")
            poms[artifact] = (
                group_dir / artifact / version / f"{artifact}-{version}.pom"
            ).read_text()
        pom = rfiles.wrapper_pom(version, poms[rfiles.APP], poms[rfiles.PARENT])
        (build / "pom.xml").write_text(pom)
        _mvn([*base, "package", "-DskipTests"], build)
        shutil.rmtree(build / "m2", ignore_errors=True)
        (self._home / ".complete").write_text(f"{rfiles.GROUP}:{rfiles.APP}:{version}\n")


def answers(url: str) -> bool:
    """Whether GET ``url``/subjects answers 200. Blocks up to 2 s."""
    try:
        with urllib.request.urlopen(f"{url}/subjects", timeout=2.0) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def put_config(url: str, compatibility: str) -> None:
    """Set the global compatibility through ``PUT /config``, so that ``GET /config``
    reports the rule the command line already enforces (without the PUT Apicurio answers
    NONE there). Blocks up to 10 s; raises BrokerError when refused."""
    body = json.dumps({"compatibility": compatibility}).encode()
    request = urllib.request.Request(
        f"{url}/config", data=body, method="PUT", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10.0) as response:
            response.read()
    except (urllib.error.URLError, OSError) as exc:
        raise BrokerError(f"the registry refused compatibility {compatibility}: {exc}") from None


def _mvn(cmd: list[str], cwd: Path) -> None:
    """Run Maven in ``cwd``. Blocks up to BUILD_TIMEOUT_S; raises BrokerError with its
    output tail."""
    what = "Maven (building the Schema Registry; is Maven Central reachable?)"
    proc_util.run_tool(cmd, what, BUILD_TIMEOUT_S, cwd)

"""``moodstream run --workers N`` as a subprocess on the bench topics, and its memory.

The service is started exactly as an operator starts it (``python -m consumer run``),
configured only through ``MOODSTREAM_*`` variables: the bench topics, a unique group, a
free metrics port. Memory is read from ``/proc/<pid>/smaps_rollup`` (PSS) of the
supervisor and of each of its children (the workers).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

import psutil

from consumer.errors import MoodstreamError
from consumer.observability.procmem import process_pss_bytes, process_rss_bytes
from consumer.settings import Settings, TopicSettings

MB = 1024 * 1024
READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 45.0


class BenchError(MoodstreamError):
    """The benchmark could not measure something (the service did not start, ...)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_env(
    settings: Settings, bootstrap: str, topics: TopicSettings, group: str, port: int
) -> dict[str, str]:
    """This process's environment with the bench topics, group, cluster and port set."""
    env = dict(os.environ)
    env.update(
        {
            "MOODSTREAM_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
            "MOODSTREAM_KAFKA__GROUP_ID": group,
            **topics.as_env(),
            "MOODSTREAM_MODELS__DIR": str(settings.models.dir.resolve()),
            "MOODSTREAM_OBSERVABILITY__PORT": str(port),
            "MOODSTREAM_OBSERVABILITY__HOST": "127.0.0.1",
        }
    )
    return env


class Service:
    """A running supervisor and its workers. Not thread-safe."""

    def __init__(
        self, env: dict[str, str], workers: int, log_path: Path, stage: str = "score"
    ) -> None:
        self.port = int(env["MOODSTREAM_OBSERVABILITY__PORT"])
        self.workers = workers
        self.log_path = log_path
        self._log: IO[str] = log_path.open("w")
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "consumer", "run", "--workers", str(workers)]
            + (["--stage", stage] if stage != "score" else []),
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def ready(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.port}/readyz"
            with urllib.request.urlopen(url, timeout=2) as resp:
                return int(resp.status) == 200
        except (urllib.error.URLError, OSError):
            return False

    def metrics_text(self) -> str:
        """The supervisor's /metrics page ("" when it does not answer)."""
        try:
            url = f"http://127.0.0.1:{self.port}/metrics"
            with urllib.request.urlopen(url, timeout=5) as resp:
                return bytes(resp.read()).decode("utf-8", "replace")
        except (urllib.error.URLError, OSError):
            return ""

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> float:
        """Block until /readyz answers 200; return seconds since start. Raises BenchError."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.alive():
                raise BenchError(
                    f"moodstream run exited with {self.process.returncode}: {self.log_tail()}"
                )
            if self.ready() and len(self.worker_pids()) == self.workers:
                return time.monotonic() - self.started
            time.sleep(0.1)
        raise BenchError(f"moodstream run not ready after {timeout_s:g} s: {self.log_tail()}")

    def worker_pids(self) -> list[int]:
        try:
            return sorted(child.pid for child in psutil.Process(self.process.pid).children())
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> float:
        """User + system CPU seconds used so far by the workers (all their threads)."""
        total = 0.0
        for pid in self.worker_pids():
            try:
                times = psutil.Process(pid).cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total

    def memory(self) -> dict[str, Any]:
        """PSS, RSS and USS of the supervisor and each worker, in MB.

        PSS splits a shared page among every process mapping it, on the whole machine
        (other Python processes mapping libtorch lower it). ``alone_total_mb`` does not
        depend on them: the supervisor's RSS plus each worker's private pages (USS), i.e.
        the service's own pages once each, as if it ran alone (what a container holds).
        """
        workers = self.worker_pids()
        pss = [_mb(process_pss_bytes(pid)) for pid in workers]
        uss = [_mb(process_uss_bytes(pid)) for pid in workers]
        supervisor = _mb(process_pss_bytes(self.process.pid))
        supervisor_rss = _mb(_rss(self.process.pid))
        known = [value for value in pss if value is not None]
        workers_total = round(sum(known), 1) if known else None
        return {
            "supervisor_pss_mb": supervisor,
            "workers_pss_mb": pss,
            "workers_rss_mb": [_mb(_rss(pid)) for pid in workers],
            "workers_peak_rss_mb": [_mb(_peak_rss(pid)) for pid in workers],
            "workers_uss_mb": uss,
            "workers_total_pss_mb": workers_total,
            "total_pss_mb": round((supervisor or 0.0) + (workers_total or 0.0), 1)
            if workers_total is not None
            else None,
            "supervisor_rss_mb": supervisor_rss,
            "alone_total_mb": round((supervisor_rss or 0.0) + sum(v or 0.0 for v in uss), 1),
        }

    def stop(self) -> int | None:
        """SIGTERM, wait (bounded), SIGKILL if needed. Returns the exit code."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._log.close()
        return code

    def log_tail(self, lines: int = 8) -> str:
        self._log.flush()
        text = self.log_path.read_text(encoding="utf-8", errors="replace").strip()
        return " | ".join(text.splitlines()[-lines:])


def process_uss_bytes(pid: int) -> int | None:
    """Private (unshared) bytes of ``pid`` from smaps_rollup, or None. Raises nothing."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    kb = [
        int(line.split()[1])
        for line in text.splitlines()
        if line.startswith(("Private_Clean:", "Private_Dirty:"))
    ]
    return sum(kb) * 1024 if kb else None


def _rss(pid: int) -> int | None:
    try:
        return process_rss_bytes(pid)
    except ProcessLookupError:
        return None


def _peak_rss(pid: int) -> int | None:
    """The process's peak resident set size (VmHWM), in bytes; None when unreadable."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


def _mb(value: int | None) -> float | None:
    return None if value is None else round(value / MB, 1)

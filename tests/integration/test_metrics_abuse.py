"""Issue 16 item 1: no HTTP client can stall the supervisor.

A slow client (one header byte every 1.5 s) and 200 idle connections are held against the
metrics port of a real `moodstream run --workers 2` while a worker is SIGKILLed and then
SIGTERM is sent: the worker is restarted, the service stops within its bound
(``SHUTDOWN_TIMEOUT_S`` + the supervisor's 5 s) and ``/healthz`` answers every other
client within 1 s throughout.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from tests.integration.harness import Service, Stream, running_service, wait_for

pytestmark = pytest.mark.integration
IDLE_CONNECTIONS = 200
SLOW_BYTE_INTERVAL_S = 1.5
PROBE_TIMEOUT_S = 1.0
SHUTDOWN_TIMEOUT_S = 5
STOP_BOUND_S = SHUTDOWN_TIMEOUT_S + 5.0  # the supervisor's drain bound (supervisor.py)
EXIT_SLACK_S = 10.0  # interpreter teardown after the last worker is reaped, on a busy box


@contextlib.contextmanager
def abusive_clients(port: int) -> Iterator[threading.Event]:
    """A slow client (one byte every 1.5 s, on a thread) plus 200 idle connections that
    never send a byte (non-blocking connects: the old server's backlog of 5 would block
    them). Yields an event set once the slow client has sent its first bytes."""
    stop, started = threading.Event(), threading.Event()

    def slow() -> None:
        request = b"GET /healthz HTTP/1.1\r\nHost: slow\r\n\r\n"
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)) as s:
            for byte in request:
                s.sendall(bytes([byte]))
                started.set()
                if stop.wait(SLOW_BYTE_INTERVAL_S):
                    return

    idle: list[socket.socket] = []
    for _ in range(IDLE_CONNECTIONS):
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
        idle.append(sock)
    thread = threading.Thread(target=slow, daemon=True)
    thread.start()
    try:
        yield started
    finally:
        stop.set()
        for sock in idle:
            sock.close()
        thread.join(timeout=5)


@dataclass
class Prober:
    """Another client: GET /healthz with a 1 s timeout, again and again."""

    service: Service
    stopping: bool = False  # after SIGTERM: the port closes once the workers are gone
    failures: list[str] = field(default_factory=list)
    answered: int = 0
    slowest_s: float = 0.0

    def probe(self) -> None:
        started = time.monotonic()
        url = f"http://127.0.0.1:{self.service.port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_S) as resp:
                ok = resp.status == 200
        except (urllib.error.URLError, OSError) as exc:
            # After SIGTERM the port closes once the workers are gone: refused, or reset
            # for a connection still queued then. Before it, every failure counts.
            closing = isinstance(getattr(exc, "reason", exc), ConnectionError)
            if not (self.stopping and closing) and self.service.process.poll() is None:
                self.failures.append(f"{type(exc).__name__}: {exc}")
            return
        self.slowest_s = max(self.slowest_s, time.monotonic() - started)
        self.answered += 1
        if not ok:
            self.failures.append("status != 200")

    def until(self, condition: Callable[[], bool], timeout_s: float, message: str) -> None:
        """Probe between checks of ``condition`` until it holds (AssertionError after
        ``timeout_s``)."""

        def check() -> bool:
            self.probe()
            return condition()

        wait_for(check, timeout_s, message)


def worker_pids(service: Service) -> set[int]:
    return {p.pid for p in psutil.Process(service.process.pid).children()}


def test_slow_client_and_idle_flood_never_stall_supervision(stream: Stream, tmp_path: Path) -> None:
    env = stream.env(
        PROCESSING__SHUTDOWN_TIMEOUT_S=SHUTDOWN_TIMEOUT_S,
    )
    with running_service(env, tmp_path, "--workers", "2") as service:
        service.wait_ready(timeout_s=120)
        before = worker_pids(service)
        assert len(before) == 2
        prober = Prober(service)
        with abusive_clients(service.port) as slow_started:
            assert slow_started.wait(10)
            victim = min(before)
            os.kill(victim, signal.SIGKILL)
            killed_at = time.monotonic()

            def restarted() -> bool:
                pids = worker_pids(service)
                return len(pids) == 2 and victim not in pids

            prober.until(restarted, 30, "the killed worker was not restarted")
            restart_s = time.monotonic() - killed_at
            prober.stopping = True
            service.process.send_signal(signal.SIGTERM)
            termed_at = time.monotonic()
            prober.until(
                lambda: service.process.poll() is not None,
                STOP_BOUND_S + EXIT_SLACK_S,
                "the service did not stop within its bound",
            )
            stop_s = time.monotonic() - termed_at
        print(
            f"\nrestart after SIGKILL {restart_s:.1f} s; stop after SIGTERM {stop_s:.1f} s; "
            f"/healthz probes answered {prober.answered}, failed {len(prober.failures)}, "
            f"slowest {prober.slowest_s * 1000:.0f} ms"
        )
        assert service.process.returncode == 0, service.logs()[-3000:]
        assert prober.failures == [], prober.failures[:5]
        assert prober.answered >= 3

"""The supervisor: forks N workers after the models are loaded, restarts crashed ones with
backoff, forwards SIGTERM/SIGINT, and serves /metrics, /healthz and /readyz for all.

Fork hazards: the parent must hold no Kafka client, run no inference and start no thread
before forking (a libgomp pool started before a fork can hang the child). So the parent
is single-threaded: its HTTP server is served from this loop, between child checks.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING

from consumer.clock import Clock
from consumer.logs import log_event
from consumer.service.worker import FATAL_EXIT_CODES, ExitCode

if TYPE_CHECKING:
    from consumer.observability.metrics import Metrics
    from consumer.observability.server import MetricsServer

_log = logging.getLogger("moodstream.supervisor")
LOOP_S = 0.2
CHECK_INTERVAL_S = 5.0
# On stop, workers get the drain bound plus this before SIGKILL: whatever supervises this
# process (a container's grace period) must allow more than shutdown_timeout_s + this.
STOP_KILL_AFTER_S = 5.0


@dataclass(frozen=True)
class RestartPolicy:
    """Backoff doubles from ``initial_s`` to ``max_s``.

    More than ``max_crashes`` crashes of one worker within ``window_s`` gives up."""

    initial_s: float = 1.0
    max_s: float = 30.0
    max_crashes: int = 5
    window_s: float = 60.0

    def backoff_s(self, recent_crashes: int) -> float:
        return min(self.max_s, self.initial_s * 2.0 ** max(0, recent_crashes - 1))


@dataclass
class _Slot:
    index: int
    pid: int | None = None
    restart_at: float | None = None
    crashes: list[float] = field(default_factory=list)


class Supervisor:
    def __init__(
        self,
        workers: int,
        start_worker: Callable[[int], int],
        clock: Clock,
        *,
        shutdown_timeout_s: float,
        policy: RestartPolicy = RestartPolicy(),
        server: MetricsServer | None = None,
        metrics: Metrics | None = None,
        on_worker_exit: Callable[[int, int], None] | None = None,
        hung_workers: Callable[[], list[int]] = list,
        check_interval_s: float = CHECK_INTERVAL_S,
    ) -> None:
        self._slots = [_Slot(i) for i in range(workers)]
        self._start_worker = start_worker
        self._clock = clock
        self._shutdown_timeout_s = shutdown_timeout_s
        self._policy = policy
        self._server = server
        self._metrics = metrics
        self._on_worker_exit = on_worker_exit
        self._hung_workers = hung_workers
        self._check_interval_s = check_interval_s
        self._stop_requested = False
        self._last_check = float("-inf")

    def run(self) -> int:
        """Block until stopped or a fatal worker exit. Returns the process exit code."""
        self._install_signals()
        for slot in self._slots:
            self._fork(slot)
        log_event(_log, "supervisor_started", workers=len(self._slots))
        exit_code = ExitCode.OK
        while not self._stop_requested:
            self._serve(LOOP_S)
            fatal = self._reap()
            if fatal is not None:
                exit_code = fatal
                break
            self._restart_due()
            self._periodic_checks()
        self._stop_all()
        log_event(_log, "supervisor_stopped", exit_code=int(exit_code))
        return int(exit_code)

    def _install_signals(self) -> None:
        def handler(signum: int, _frame: FrameType | None) -> None:
            self._stop_requested = True

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def _fork(self, slot: _Slot) -> None:
        pid = os.fork()
        if pid == 0:  # child: never returns into the supervisor's loop
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            code = 1
            try:
                if self._server is not None:
                    self._server.close()  # the child must not hold the metrics port
                code = self._start_worker(slot.index)
            finally:
                logging.shutdown()
                os._exit(code)
        slot.pid = pid
        slot.restart_at = None
        log_event(_log, "worker_forked", worker=slot.index, worker_pid=pid)

    def _serve(self, timeout_s: float) -> None:
        if self._server is not None:
            self._server.serve_pending(timeout_s)
        else:
            select.select([], [], [], timeout_s)

    def _reap(self) -> ExitCode | None:
        """Collect exited workers; schedule restarts; return a fatal code to stop on."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return None
            if pid == 0:
                return None
            slot = next((s for s in self._slots if s.pid == pid), None)
            if slot is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            slot.pid = None
            if self._on_worker_exit is not None:
                self._on_worker_exit(slot.index, pid)
            log_event(_log, "worker_exited", worker=slot.index, worker_pid=pid, exit_code=code)
            if code in FATAL_EXIT_CODES:
                return ExitCode(code)
            if self._stop_requested:
                continue
            fatal = self._schedule_restart(slot)
            if fatal is not None:
                return fatal

    def _schedule_restart(self, slot: _Slot) -> ExitCode | None:
        now = self._clock.monotonic()
        slot.crashes = [t for t in slot.crashes if now - t < self._policy.window_s] + [now]
        if len(slot.crashes) > self._policy.max_crashes:
            log_event(
                _log,
                "worker_crash_loop",
                level=logging.ERROR,
                worker=slot.index,
                crashes=len(slot.crashes),
                window_s=self._policy.window_s,
            )
            return ExitCode.CRASHED
        slot.restart_at = now + self._policy.backoff_s(len(slot.crashes))
        return None

    def _restart_due(self) -> None:
        now = self._clock.monotonic()
        for slot in self._slots:
            if slot.pid is None and slot.restart_at is not None and now >= slot.restart_at:
                if self._metrics is not None:
                    self._metrics.worker_restarts.inc()
                self._fork(slot)

    def _periodic_checks(self) -> None:
        """Every few seconds: record each worker's RSS, and SIGKILL workers whose loop has
        not reported for too long (a hung worker; it is then restarted like a crash)."""
        now = self._clock.monotonic()
        if now - self._last_check < self._check_interval_s:
            return
        self._last_check = now
        live = {slot.pid for slot in self._slots if slot.pid is not None}
        for pid in set(self._hung_workers()) & live:
            log_event(_log, "worker_hung", level=logging.ERROR, worker_pid=pid)
            _signal(pid, signal.SIGKILL)
        if self._metrics is None:
            return
        from consumer.observability.procmem import process_rss_bytes

        for slot in self._slots:
            if slot.pid is not None:
                gauge = self._metrics.worker_resident_memory_bytes.labels(worker=str(slot.index))
                gauge.set(process_rss_bytes(slot.pid))

    def _stop_all(self) -> None:
        """SIGTERM every worker, wait up to the drain bound, then SIGKILL stragglers."""
        live = [s for s in self._slots if s.pid is not None]
        for slot in live:
            _signal(slot.pid, signal.SIGTERM)
        deadline = self._clock.monotonic() + self._shutdown_timeout_s + STOP_KILL_AFTER_S
        while any(s.pid is not None for s in self._slots) and self._clock.monotonic() < deadline:
            self._serve(0.05)
            self._reap_for_stop()
        for slot in self._slots:
            if slot.pid is not None:
                log_event(_log, "worker_killed", level=logging.WARNING, worker=slot.index)
                _signal(slot.pid, signal.SIGKILL)
                os.waitpid(slot.pid, 0)
                slot.pid = None

    def _reap_for_stop(self) -> None:
        self._stop_requested = True
        self._reap()


def _signal(pid: int | None, signum: int) -> None:
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)

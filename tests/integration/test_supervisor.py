"""The supervisor with real forked children (no broker needed): restarts with backoff,
gives up on a crash loop, stops at once on a fatal exit code, stops workers on SIGTERM."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

from consumer.clock import SystemClock
from consumer.service.supervisor import RestartPolicy, Supervisor
from consumer.service.worker import ExitCode

FAST = RestartPolicy(initial_s=0.01, max_s=0.05, max_crashes=3, window_s=60.0)


@pytest.fixture(autouse=True)
def restore_signal_handlers() -> Iterator[None]:
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def test_crash_loop_gives_up_with_a_non_zero_exit() -> None:
    exits: list[int] = []
    supervisor = Supervisor(
        1,
        lambda index: ExitCode.CRASHED,
        SystemClock(),
        shutdown_timeout_s=5,
        policy=FAST,
        on_worker_exit=lambda index, pid: exits.append(index),
    )
    assert supervisor.run() == ExitCode.CRASHED
    assert len(exits) == FAST.max_crashes + 1  # first start + max_crashes restarts


def test_fatal_worker_exit_stops_everything_with_its_code() -> None:
    supervisor = Supervisor(
        2,
        lambda index: ExitCode.POISON_FLOOD if index == 0 else _wait_for_term(),
        SystemClock(),
        shutdown_timeout_s=5,
        policy=FAST,
    )
    started = time.monotonic()
    assert supervisor.run() == ExitCode.POISON_FLOOD
    assert time.monotonic() - started < 10


def test_sigterm_is_forwarded_and_workers_exit_cleanly() -> None:
    parent = os.getpid()

    def worker(index: int) -> int:
        if index == 0:
            os.kill(parent, signal.SIGTERM)  # the operator stops the service
        return _wait_for_term()

    assert Supervisor(2, worker, SystemClock(), shutdown_timeout_s=5, policy=FAST).run() == 0


def test_backoff_doubles_and_is_capped() -> None:
    policy = RestartPolicy(initial_s=1.0, max_s=5.0)
    assert [policy.backoff_s(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 5.0]


def _wait_for_term() -> int:
    """A worker's shape: run until SIGTERM, then exit 0 (1 if it never came)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])
    received = signal.sigtimedwait([signal.SIGTERM], 20.0)
    return 0 if received is not None else 1


def test_hung_worker_is_killed_and_restarted() -> None:
    """A worker whose loop stops reporting is SIGKILLed and restarted like a crash."""
    import psutil

    exits: list[int] = []

    def worker(index: int) -> int:
        signal.pause()  # hangs forever: never reports
        return 0

    def every_child_is_hung() -> list[int]:
        return [child.pid for child in psutil.Process().children()]

    supervisor = Supervisor(
        1,
        worker,
        SystemClock(),
        shutdown_timeout_s=2,
        policy=FAST,
        hung_workers=every_child_is_hung,
        check_interval_s=0.0,
        on_worker_exit=lambda index, pid: exits.append(pid),
    )
    assert supervisor.run() == ExitCode.CRASHED  # killed each time: a crash loop, then give up
    assert len(exits) == FAST.max_crashes + 1

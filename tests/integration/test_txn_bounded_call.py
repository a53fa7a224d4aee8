"""The bounded call the exactly-once publisher puts around ``send_offsets_to_transaction``
(librdkafka #5456: it can block past its own timeout), with a real thread and the real
clock: a call that returns is waited for, its error re-raised; one that does not return
raises CallStuck after its bound while the waiting thread keeps saying it is alive."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from consumer.clock import SystemClock
from consumer.engine.txn_calls import CallStuck, TooManyStuckCalls, on_thread
from consumer.engine.txn_producer import ProducerLife
from consumer.observability.metrics import Metrics


def test_a_call_that_returns_is_waited_for_and_its_error_raised() -> None:
    bounded, beats = on_thread(SystemClock()), []
    results: list[int] = []
    bounded(lambda: results.append(1), 5.0, lambda: beats.append(1))
    assert results == [1]

    def refuse() -> None:
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        bounded(refuse, 5.0, lambda: beats.append(1))


def test_a_call_that_never_returns_raises_after_its_bound_and_beats_meanwhile() -> None:
    clock, release, beats = SystemClock(), threading.Event(), []
    started = clock.monotonic()

    def hang() -> None:
        release.wait(30.0)

    with pytest.raises(CallStuck):
        on_thread(clock)(hang, 7.5, lambda: beats.append(1))
    waited_s = clock.monotonic() - started
    release.set()  # let the left-behind thread end
    assert 7.5 <= waited_s < 9.0
    assert 1 <= len(beats) <= 3  # once a second after the first 5 s


def test_stuck_calls_beyond_the_cap_restart_the_worker_and_ended_ones_free_a_place() -> None:
    clock, release, calls = SystemClock(), threading.Event(), []
    bounded = on_thread(clock, max_stuck=2)

    def hang() -> None:
        calls.append("hang")
        release.wait(30.0)

    for _ in range(2):
        with pytest.raises(CallStuck):
            bounded(hang, 0.05, lambda: None)
    with pytest.raises(TooManyStuckCalls, match="2 librdkafka transactional calls"):
        bounded(lambda: calls.append("refused"), 5.0, lambda: None)
    release.set()
    for thread in threading.enumerate():
        if thread.name == "txn-call":
            thread.join(5.0)
    bounded(lambda: calls.append("ran"), 5.0, lambda: None)  # the ended calls freed places
    assert sorted(calls) == ["hang", "hang", "ran"]  # the refused call never started


def test_the_producers_owner_counts_a_stuck_call_until_its_thread_ends() -> None:
    clock, release, reasons = SystemClock(), threading.Event(), list[str | None]()
    registry = CollectorRegistry()
    life = ProducerLife(_Idle(), clock, bounded=on_thread(clock), metrics=Metrics(registry),
                        report=reasons.append)  # fmt: skip
    with pytest.raises(CallStuck):
        life.bounded(lambda: void(release.wait(30.0)), 0.05, lambda: None)
    assert life.stuck == 1 and registry.get_sample_value("moodstream_txn_stuck_calls") == 1.0
    assert reasons and reasons[-1] is not None and "1 transactional call(s)" in reasons[-1]
    release.set()
    for thread in threading.enumerate():
        if thread.name == "txn-call":
            thread.join(5.0)
    assert life.refresh() == 0 and reasons[-1] is None
    assert registry.get_sample_value("moodstream_txn_stuck_calls") == 0.0


def void(_result: object) -> None:
    return None


class _Idle:
    """A producer nothing is asked of (the bounded call is what is tested)."""

    def init_transactions(self, timeout: float, /) -> None: ...
    def begin_transaction(self) -> None: ...
    def send_offsets_to_transaction(self, p: Any, m: Any, t: float, /) -> None: ...
    def commit_transaction(self, timeout: float, /) -> None: ...
    def abort_transaction(self, timeout: float, /) -> None: ...
    def poll(self, timeout: float, /) -> int:
        return 0

    def flush(self, timeout: float, /) -> int:
        return 0

    def purge(self, **_flags: bool) -> None: ...

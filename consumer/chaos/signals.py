"""Did the service's own signals tell the truth during a fault? ``/readyz`` and the
``moodstream_consumer_lag`` gauge, sampled once a second by ``SignalSampler`` (a thread),
judged against what the suite's instruments saw (pure functions).

- readyz told the truth when it went not-ready during the fault exactly when the
  predictions stalled (a gap longer than ``STALL_S``: the supervisor's 10 s heartbeat
  staleness), and stayed ready otherwise.
- the lag gauge told the truth when, at the fault's worst moment, it showed at least half
  of the real backlog (events acknowledged but without a prediction yet), or the real
  backlog never passed ``SMALL_BACKLOG_S`` seconds of input (nothing to show).
"""

from __future__ import annotations

import re
import threading
import time
import urllib.error
import urllib.request
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from consumer.chaos.accounting import FaultWindow

STALL_S = 10.0
SMALL_BACKLOG_S = 2.0
SAMPLE_EVERY_S = 1.0
_LAG_LINE = re.compile(r"^moodstream_consumer_lag\{[^}]*\}\s+([0-9.eE+-]+)$", re.MULTILINE)


@dataclass(frozen=True)
class Sample:
    at_s: float
    ready: bool | None  # None: /readyz did not answer
    lag: float | None  # the sum over partitions; None: /metrics did not answer


@dataclass(frozen=True)
class SignalStats:
    not_ready_share: float | None
    lag_peak: float | None
    backlog_peak: int
    readyz_truthful: bool | None
    lag_truthful: bool | None


def parse_lag(metrics_text: str) -> float:
    """The sum of every ``moodstream_consumer_lag`` series in a /metrics page. Pure."""
    return sum(float(v) for v in _LAG_LINE.findall(metrics_text))


def backlog_at(acked_sorted: Sequence[float], answered_sorted: Sequence[float], at_s: float) -> int:
    """Events acknowledged by ``at_s`` minus those answered by then. Pure."""
    return bisect_right(acked_sorted, at_s) - bisect_right(answered_sorted, at_s)


def signal_stats(
    window: FaultWindow,
    samples: Sequence[Sample],
    acked: Mapping[str, float],
    first: Mapping[str, float],
    longest_gap_s: float,
    rate_per_s: float,
) -> SignalStats:
    """The truth of /readyz and the lag gauge from the fault's start to its heal. Pure."""
    during = [s for s in samples if window.start_s <= s.at_s <= window.heal_s]
    acked_sorted = sorted(acked.values())
    answered_sorted = sorted(first[e] for e in acked if e in first)
    backlog_peak = max(
        (backlog_at(acked_sorted, answered_sorted, s.at_s) for s in during), default=0
    )
    readiness = [s.ready for s in during if s.ready is not None]
    lags = [s.lag for s in during if s.lag is not None]
    not_ready = None if not readiness else round(readiness.count(False) / len(readiness), 2)
    lag_peak = max(lags) if lags else None
    readyz_ok = None if not_ready is None else (not_ready > 0) == (longest_gap_s > STALL_S)
    lag_ok = None
    if lag_peak is not None:
        lag_ok = backlog_peak <= SMALL_BACKLOG_S * rate_per_s or lag_peak >= backlog_peak / 2
    return SignalStats(not_ready, lag_peak, backlog_peak, readyz_ok, lag_ok)


class SignalSampler:
    """Samples ``/readyz`` and ``/metrics`` of the service on ``port`` every second on its
    own thread until ``stop`` (which blocks until the thread ended, bounded)."""

    def __init__(self, port: int) -> None:
        self._base = f"http://127.0.0.1:{port}"
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-signals", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10.0)

    def _get(self, path: str) -> tuple[int, str] | None:
        try:
            with urllib.request.urlopen(self._base + path, timeout=2) as resp:
                return int(resp.status), resp.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            return int(exc.code), ""
        except OSError:
            return None

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            ready = self._get("/readyz")
            metrics = self._get("/metrics")
            self.samples.append(
                Sample(
                    time.time(),
                    None if ready is None else ready[0] == 200,
                    None if metrics is None or metrics[0] != 200 else parse_lag(metrics[1]),
                )
            )


CRASH_EVENTS = ('"worker_crashed"', '"worker_hung"')


def crash_times(log_text: str) -> list[float]:
    """When the service logged a worker crash or a worker killed as hung (epoch seconds,
    from each JSON line's ``ts``). Pure; lines that do not parse are skipped."""
    from datetime import datetime

    times = []
    for line in log_text.splitlines():
        if not any(event in line for event in CRASH_EVENTS):
            continue
        match = re.search(r'"ts": "([^"]+)"', line)
        if match:
            stamp = match.group(1).replace("Z", "+00:00")
            times.append(datetime.fromisoformat(stamp).timestamp())
    return times

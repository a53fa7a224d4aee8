"""What the live demo shows: counters from the output topics and the service's /metrics.

Pure accounting (``DemoTally``) plus a tiny Prometheus text reader; no Kafka here.
"""

from __future__ import annotations

import math
import urllib.request
from dataclasses import dataclass, field

import orjson


@dataclass
class DemoTally:
    """Counts this run's events by event_id (records of earlier runs are ignored)."""

    expected: set[str]
    started_at: float
    predicted: set[str] = field(default_factory=set)
    dead: int = 0
    partial: int = 0
    alerts: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    consumed: int = 0
    _produced_ms: dict[str, int] = field(default_factory=dict)
    _published_ms: dict[str, int] = field(default_factory=dict)

    def produced(self, event_id: str, timestamp_ms: int) -> None:
        """An input record of this run seen on the features topic (its CreateTime)."""
        if event_id in self.expected and event_id not in self._produced_ms:
            self.consumed += 1
            self._produced_ms[event_id] = timestamp_ms
            self._latency(event_id)

    def prediction(self, value: bytes, timestamp_ms: int) -> None:
        record = orjson.loads(value)
        event_id = record["event_id"]
        if event_id not in self.expected or event_id in self.predicted:
            return
        self.predicted.add(event_id)
        self.partial += bool(record["partial"])
        self._published_ms[event_id] = timestamp_ms
        self._latency(event_id)

    def _latency(self, event_id: str) -> None:
        if event_id in self._produced_ms and event_id in self._published_ms:
            delta = self._published_ms[event_id] - self._produced_ms[event_id]
            self.latencies_ms.append(max(0.0, float(delta)))

    def alert(self, value: bytes) -> None:
        kind = orjson.loads(value)["kind"]
        self.alerts[kind] = self.alerts.get(kind, 0) + 1

    def percentile_ms(self, q: float) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]

    def done(self) -> bool:
        return len(self.predicted) + self.dead >= len(self.expected)


def scrape(port: int, timeout_s: float = 1.0) -> dict[str, float]:
    """Sum each sample name over its labels from /metrics; {} when unreachable."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout_s) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    totals: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, _, value = line.rpartition(" ")
        name = name_labels.split("{", 1)[0]
        try:
            totals[name] = totals.get(name, 0.0) + float(value)
        except ValueError:
            continue
    return totals


def memory_by_worker(port: int, timeout_s: float = 1.0) -> dict[str, float]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout_s) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("moodstream_worker_resident_memory_bytes{"):
            labels, _, value = line.rpartition(" ")
            worker = labels.split('worker="', 1)[1].split('"', 1)[0]
            out[worker] = float(value)
    return out

"""What the live demo shows: counters from the output topics and the service's /metrics.

Pure accounting (``DemoTally``) plus a tiny Prometheus text reader; no Kafka here.
"""

from __future__ import annotations

import math
import urllib.request
from dataclasses import dataclass, field

import orjson
from prometheus_client.parser import text_string_to_metric_families


@dataclass
class DemoTally:
    """Counts this run's events: by event_id when ``expected`` is given, else (``--forever``,
    whose ids are not computed ahead) by record time, from ``since_ms`` on. Records that
    are not the JSON they should be are counted in ``unreadable``, never raised."""

    expected: set[str] | None
    started_at: float
    since_ms: int = 0
    predicted: set[str] = field(default_factory=set)
    dead: int = 0
    partial: int = 0
    unreadable: int = 0
    alerts: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    consumed: int = 0
    _produced_ms: dict[str, int] = field(default_factory=dict)
    _published_ms: dict[str, int] = field(default_factory=dict)

    def _mine(self, event_id: str, timestamp_ms: int) -> bool:
        if self.expected is None:
            return timestamp_ms >= self.since_ms
        return event_id in self.expected

    def input_record(self, value: bytes | None, timestamp_ms: int) -> None:
        """A record of the features topic; an unreadable one is counted, not raised."""
        try:
            event_id = orjson.loads(value or b"")["event_id"]
        except (ValueError, KeyError, TypeError):
            self.unreadable += 1
            return
        if isinstance(event_id, str):
            self.produced(event_id, timestamp_ms)

    def produced(self, event_id: str, timestamp_ms: int) -> None:
        """An input record of this run seen on the features topic (its CreateTime)."""
        if self._mine(event_id, timestamp_ms) and event_id not in self._produced_ms:
            self.consumed += 1
            self._produced_ms[event_id] = timestamp_ms
            self._latency(event_id)

    def prediction(self, value: bytes | None, timestamp_ms: int) -> None:
        try:
            record = orjson.loads(value or b"")
            event_id, partial = str(record["event_id"]), bool(record["partial"])
        except (ValueError, KeyError, TypeError):
            self.unreadable += 1
            return
        if not self._mine(event_id, timestamp_ms) or event_id in self.predicted:
            return
        self.predicted.add(event_id)
        self.partial += partial
        self._published_ms[event_id] = timestamp_ms
        self._latency(event_id)

    def _latency(self, event_id: str) -> None:
        if event_id in self._produced_ms and event_id in self._published_ms:
            delta = self._published_ms[event_id] - self._produced_ms[event_id]
            self.latencies_ms.append(max(0.0, float(delta)))

    def alert(self, value: bytes | None) -> None:
        try:
            kind = str(orjson.loads(value or b"")["kind"])
        except (ValueError, KeyError, TypeError):
            self.unreadable += 1
            return
        self.alerts[kind] = self.alerts.get(kind, 0) + 1

    def percentile_ms(self, q: float) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]

    def done(self) -> bool:
        if self.expected is None:
            return False
        return len(self.predicted) + self.dead >= len(self.expected)


@dataclass(frozen=True)
class MetricsSnapshot:
    """One scrape of the service's /metrics: totals per sample name, RSS per worker."""

    totals: dict[str, float]
    memory_by_worker: dict[str, float]


def scrape(port: int, timeout_s: float = 1.0) -> MetricsSnapshot:
    """Fetch /metrics once (blocks up to ``timeout_s``); empty when unreachable."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout_s) as resp:
            text = resp.read().decode()
    except OSError:
        return MetricsSnapshot({}, {})
    totals: dict[str, float] = {}
    memory: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
            if sample.name == "moodstream_worker_resident_memory_bytes":
                memory[sample.labels["worker"]] = sample.value
    return MetricsSnapshot(totals, memory)

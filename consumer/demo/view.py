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
    """Counts this run's events: the input records on the features topic from ``since_ms``
    on (their CreateTime; the producer starts after it), and the predictions of those
    events (one read before its input waits for it). ``planned``: the events the producer
    sends (None with ``--forever``). Records that are not the JSON they should be are
    counted in ``unreadable``, never raised. Pure; not thread-safe."""

    planned: int | None
    started_at: float
    since_ms: int = 0
    predicted: set[str] = field(default_factory=set)
    dead: int = 0
    partial: int = 0
    unreadable: int = 0
    alerts: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    consumed: int = 0
    first_produced_ms: int | None = None  # CreateTime of this run's first input record
    first_predicted_ms: int | None = None  # timestamp of its first prediction
    _produced_ms: dict[str, int] = field(default_factory=dict)
    _published_ms: dict[str, int] = field(default_factory=dict)
    _waiting: dict[str, tuple[bool, int]] = field(default_factory=dict)

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
        """An input record seen on the features topic (its CreateTime); earlier runs'
        records (before ``since_ms``) and duplicates are ignored."""
        if timestamp_ms < self.since_ms or event_id in self._produced_ms:
            return
        self.consumed += 1
        self._produced_ms[event_id] = timestamp_ms
        self.first_produced_ms = min(self.first_produced_ms or timestamp_ms, timestamp_ms)
        waiting = self._waiting.pop(event_id, None)
        if waiting is not None:
            self._predicted(event_id, *waiting)

    def prediction(self, value: bytes | None, timestamp_ms: int) -> None:
        try:
            record = orjson.loads(value or b"")
            event_id, partial = str(record["event_id"]), bool(record["partial"])
        except (ValueError, KeyError, TypeError):
            self.unreadable += 1
            return
        if event_id in self.predicted:
            return
        if event_id in self._produced_ms:
            self._predicted(event_id, partial, timestamp_ms)
        elif timestamp_ms >= self.since_ms:
            self._waiting[event_id] = (partial, timestamp_ms)

    def _predicted(self, event_id: str, partial: bool, timestamp_ms: int) -> None:
        self.predicted.add(event_id)
        self.partial += partial
        self._published_ms[event_id] = timestamp_ms
        self.first_predicted_ms = min(self.first_predicted_ms or timestamp_ms, timestamp_ms)
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

    def first_prediction_after_ms(self) -> int | None:
        """Milliseconds from the first input record to the first prediction (None before)."""
        if self.first_produced_ms is None or self.first_predicted_ms is None:
            return None
        return max(0, self.first_predicted_ms - self.first_produced_ms)

    def alerts_by_kind(self) -> str:
        """``0``, or the total and each kind: ``3 (slow_prediction 2, model_timeout 1)``."""
        total = sum(self.alerts.values())
        if not total:
            return "0"
        kinds = sorted(self.alerts.items(), key=lambda item: (-item[1], item[0]))
        return f"{total} (" + ", ".join(f"{kind} {n}" for kind, n in kinds) + ")"

    def percentile_ms(self, q: float) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]

    def done(self) -> bool:
        """Every planned event was seen and each has a prediction or a dead letter."""
        if self.planned is None:
            return False
        return self.consumed >= self.planned and len(self.predicted) + self.dead >= self.consumed


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

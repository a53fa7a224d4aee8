"""The windows stage's metrics, on the injected registry like the service's others
(``moodstream_windows_*``): samples in, minutes stored, weeks out by trigger, revisions,
late samples, weeks not scored, dead letters by reason, the coverage of the weeks sent,
store size, restore progress and duration, and the consumer lag of both inputs
(``moodstream_consumer_lag``, as the scoring stage's). Updated from the poll loop's thread."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from consumer.engine.batch_records import OutRecord, Polled, SourceResult

if TYPE_CHECKING:
    from consumer.windows_stage.processor import WindowsProcessor

_PREFIX = "moodstream_windows_"
RESTORE_BUCKETS_S = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
#: Windower counters -> (metric, label) ; label "" for unlabelled.
_COUNTS = {
    "samples": "samples",
    "minutes_stored": "minutes_stored",
    "duplicate_samples": "duplicate_samples",
    "late_samples": "late_samples",
    "minutes_too_old": "minutes_too_old",
    "days_dropped": "days_dropped",
    "zone_changed": "zone_changed",
    "revisions_too_old": "revisions_too_old",
}


class WindowsMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        def counter(name: str, doc: str, labels: Sequence[str] = ()) -> Counter:
            return Counter(_PREFIX + name, doc, list(labels), registry=registry)

        self.records_in = counter("records", "Input records consumed", ["topic"])
        self.counts = {
            key: counter(f"{name}", f"Windower count {key}") for key, name in _COUNTS.items()
        }
        self.weeks_closed = counter("weeks_closed", "Weeks closed by trigger", ["trigger"])
        self.events_out = counter("events", "Events sent by trigger", ["trigger"])
        self.revisions = counter("revisions", "Revisions sent for a changed closed week")
        self.not_scored = counter("weeks_not_scored", "Weeks not scored", ["reason"])
        self.dead_letters = counter("dead_letters", "Inputs dead-lettered")
        self.changelog = counter("changelog_records", "Changelog records written")
        self.coverage = Histogram(
            _PREFIX + "week_coverage",
            "Coverage of the weeks sent",
            buckets=(0.8, 0.85, 0.9, 0.95, 0.98, 0.99, 1.0),
            registry=registry,
        )
        self.store_bytes = Gauge(
            _PREFIX + "store_bytes",
            "The stores' live SST files on disk (RocksDB; memtables not counted)",
            registry=registry,
        )
        self.partitions = Gauge(
            _PREFIX + "partitions", "Partitions with a store", registry=registry
        )
        self.restore_done = Gauge(
            _PREFIX + "restore_offsets_done",
            "Changelog offsets restored",
            ["partition"],
            registry=registry,
        )
        self.restore_total = Gauge(
            _PREFIX + "restore_offsets_total",
            "Changelog offsets to restore",
            ["partition"],
            registry=registry,
        )
        # The scoring stage's gauge, for the windows stage's two inputs (livemax: a worker
        # sets 0 for partitions it lets go, ``consumer.observability.lag_gauge``).
        self.consumer_lag = Gauge(
            "moodstream_consumer_lag",
            "Messages behind the high watermark, per assigned partition",
            ["topic", "partition"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        # Up to half an hour: the alert MoodstreamWindowsRestoreSlow counts those over 60 s.
        self.restore_seconds = Histogram(
            _PREFIX + "restore_seconds",
            "Time to restore a partition's store",
            buckets=RESTORE_BUCKETS_S,
            registry=registry,
        )

    def batch(
        self,
        batch: Sequence[Polled],
        sources: Sequence[SourceResult],
        changelog: Sequence[OutRecord],
        processor: WindowsProcessor,
    ) -> None:
        # one increment per topic and batch: each is a lock and a write to the metrics'
        # shared file (per record, it cost a tenth of the one-minute records' CPU)
        topics: dict[str, int] = {}
        for item in batch:
            topic = item.message.topic() or ""
            topics[topic] = topics.get(topic, 0) + 1
        for topic, count in topics.items():
            self.records_in.labels(topic=topic).inc(count)
        dead = sum(r.kind == "dead_letter" for source in sources for r in source.records)
        if dead:
            self.dead_letters.inc(dead)
        if changelog:
            self.changelog.inc(len(changelog))
        self._drain(processor)

    def timer_events(self, _count: int, processor: WindowsProcessor) -> None:
        self._drain(processor)

    def _drain(self, processor: WindowsProcessor) -> None:
        """Move the windowers' counters and the coverages into the metrics."""
        for part in processor.partitions.values():
            for key, value in part.windower.counts.items():
                if key in self.counts:
                    self.counts[key].inc(value)
                elif key.startswith("weeks_closed:"):
                    self.weeks_closed.labels(trigger=key.split(":", 1)[1]).inc(value)
                elif key.startswith("events_out:"):
                    trigger = key.split(":", 1)[1]
                    self.events_out.labels(trigger=trigger).inc(value)
                    if trigger == "revision":
                        self.revisions.inc(value)
                elif key.startswith("weeks_not_scored:"):
                    self.not_scored.labels(reason=key.split(":", 1)[1]).inc(value)
            part.windower.counts.clear()
        for coverage in processor.coverages:
            self.coverage.observe(coverage)
        processor.coverages.clear()

    def store(self, processor: WindowsProcessor) -> None:
        """The partitions held and their stores' size on disk. Blocks briefly (RocksDB)."""
        from consumer.windows.rocks import RocksStore

        self.partitions.set(len(processor.partitions))
        stores = [p.recording.inner for p in processor.partitions.values()]
        self.store_bytes.set(sum(s.disk_bytes() for s in stores if isinstance(s, RocksStore)))

    def restore_progress(self, partition: int, done: int, total: int) -> None:
        self.restore_done.labels(partition=str(partition)).set(done)
        self.restore_total.labels(partition=str(partition)).set(total)

    def restored(self, partition: int, _records: int, seconds: float) -> None:
        self.restore_seconds.observe(seconds)

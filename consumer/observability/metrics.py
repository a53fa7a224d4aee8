"""Prometheus metrics of DESIGN.md §7, on an injected registry (never module globals).

``prometheus_client`` is imported lazily (inside functions and constructors), never
when this module is imported: its multiprocess mode is chosen from the
``PROMETHEUS_MULTIPROC_DIR`` environment variable when ``prometheus_client.values``
is first imported, so :func:`enable_multiprocess` must run before anything touches
``prometheus_client``. The CLI imports this module at start-up; keep it that way.

Multiprocess layout (``moodstream run --workers N``)::

    supervisor: enable_multiprocess(dir)            # before any Metrics / prometheus import
                Metrics(CollectorRegistry())        # worker_restarts, worker memory, build_info
                MetricsServer(..., multiprocess_registry_factory(dir), ...)
      fork ──▶ worker i: Metrics(CollectorRegistry())  # its own values, one mmap file per pid
      worker exits ──▶ supervisor: mark_worker_dead(pid, dir)

Counters and histograms are summed over every process that ever wrote them (dead
ones included, so totals never go backwards when a worker restarts). Gauges pick a
``multiprocess_mode`` each; the reason is documented next to each gauge below.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from consumer import __version__
from consumer.observability.lane_metrics import LaneMetrics

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

PREFIX = "moodstream_"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Seconds; 1 ms .. 10 s, with 1.0 exact so the "p99 > 1 s" alert is not interpolated.
LATENCY_BUCKETS_S: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    1.5,
    2.5,
    5.0,
    10.0,
)
BATCH_SIZE_BUCKETS: tuple[float, ...] = (
    1,
    2,
    4,
    8,
    16,
    32,
    64,
    128,
    256,
    512,
    1024,
    2048,
    5000,
    10000,
)
ALERT_KINDS: tuple[str, ...] = (
    "model_timeout",
    "model_failure",
    "slow_prediction",
    "model_skipped",
)
OVERFLOW_REASONS: tuple[str, ...] = ("rate_limited",)
PARTIAL_VALUES: tuple[str, ...] = ("true", "false")
#: Distinct ``field`` labels of ``unknown_fields`` per process; later new names count as other.
MAX_FIELD_LABELS = 20


class Metrics:
    """Every moodstream metric, registered on ``registry``.

    Build one per process (the supervisor and each worker after the fork). In
    multiprocess mode the registry only matters for single-process exposition: the
    values go to per-pid files in ``PROMETHEUS_MULTIPROC_DIR`` and are served by the
    supervisor's :class:`MetricsServer` through a ``MultiProcessCollector``.

    Every labelled counter and histogram whose label values are known is created at 0
    (invalid reasons, overflow reasons, partial true/false, alert kinds, and per model
    of ``models`` latency, timeouts and failures), so a healthy service exports those
    series at 0 and ``rate()`` over them is 0, not empty.

    Does not block. Raises ``ValueError`` if the names are already registered on
    ``registry``. The metric objects are thread-safe (prometheus_client locks).
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        version: str = __version__,
        models: Iterable[str] = (),
    ) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
            return Counter(PREFIX + name, doc, labels, registry=registry)

        def histogram(
            name: str, doc: str, buckets: tuple[float, ...], labels: tuple[str, ...] = ()
        ) -> Histogram:
            return Histogram(PREFIX + name, doc, labels, registry=registry, buckets=buckets)

        def gauge(name: str, doc: str, labels: tuple[str, ...], mode: str) -> Gauge:
            return Gauge(
                PREFIX + name,
                doc,
                labels,
                registry=registry,
                multiprocess_mode=mode,  # type: ignore[arg-type]
            )

        self.events_consumed = counter("events_consumed", "Input messages polled")
        self.events_invalid = counter(
            "events_invalid", "Input messages that failed validation (dead-lettered)", ("reason",)
        )
        self.events_overflow = counter(
            "events_overflow", "Events routed to the overflow topic, not scored", ("reason",)
        )
        self.dead_letters = counter("dead_letters", "Records published to the dead-letter topic")
        self.unknown_fields = counter(
            "unknown_fields",
            "Unknown top-level event fields ignored (tolerant reader), by name or other",
            ("field",),
        )
        self._field_labels: set[str] = set()
        self.insufficient_input = counter(
            "insufficient_input",
            "Events with fewer features than ENSEMBLE__MIN_PRESENT_FEATURES (boosters not run)",
        )
        self.predictions_published = counter(
            "predictions_published", "Predictions acknowledged by the broker", ("partial",)
        )
        self.alerts_published = counter("alerts_published", "Alerts published", ("kind",))
        self.model_latency = histogram(
            "model_latency_seconds",
            "One model call on one (sub-)batch",
            LATENCY_BUCKETS_S,
            ("model",),
        )
        self.prediction_latency = histogram(
            "prediction_latency_seconds",
            "Poll to broker acknowledgement, per event",
            LATENCY_BUCKETS_S,
        )
        self.model_timeouts = counter("model_timeouts", "Model deadlines missed", ("model",))
        self.model_failures = counter("model_failures", "Model calls that raised", ("model",))
        self.batch_size = histogram("batch_size", "Events per micro-batch", BATCH_SIZE_BUCKETS)
        self.model_call_rows = histogram(
            "model_call_rows",
            "Rows per model call that ran (a GPU lane gathers rows across micro-batches)",
            BATCH_SIZE_BUCKETS,
            ("model",),
        )
        self.worker_restarts = counter("worker_restarts", "Workers restarted by the supervisor")
        self.commits = counter("commits", "Offset commits that succeeded")
        self.commit_failures = counter("commit_failures", "Offset commits that failed")
        self.producer_recreated = counter(
            "producer_recreated",
            "Transactional producers replaced in place (fatal, stuck or timed-out transaction)",
        )
        # Each worker counts its own stuck calls (and restarts at 4): the pod's is the sum.
        self.txn_stuck_calls = gauge(
            "txn_stuck_calls",
            "Transactional calls left running past their bound, each holding a replaced "
            "producer (librdkafka #5456); the worker restarts at 4",
            (),
            "livesum",
        )
        # A partition is owned by one worker at a time; a worker sets 0 for partitions it
        # loses (reset_lag_gauge) and a dead worker's file is dropped (mark_worker_dead),
        # so the max over live processes is the owner's value.
        self.consumer_lag = gauge(
            "consumer_lag",
            "Messages behind the high watermark, per assigned partition",
            ("topic", "partition"),
            "livemax",
        )
        # Each live worker holds its own in-flight count: the pod's total is the sum.
        self.inflight_events = gauge(
            "inflight_events", "Events polled but not yet committed-ready", (), "livesum"
        )
        # Every live process reports 1 for the models it serves; max collapses duplicates.
        self.model_info = gauge(
            "model_info", "Loaded model versions (value 1)", ("model", "version"), "livemax"
        )
        # Written by the supervisor (which measures each child) or by the worker itself;
        # one writer per label value, and a dead writer's file is dropped.
        self.worker_resident_memory_bytes = gauge(
            "worker_resident_memory_bytes",
            "Resident set size per worker process",
            ("worker",),
            "livemax",
        )
        self.lanes = LaneMetrics(counter, gauge)
        self.build_info = gauge(
            "build_info", "Build of the running service (value 1)", ("version",), "livemax"
        )
        self.build_info.labels(version=version).set(1)
        self._prime_labels(tuple(models))

    def _prime_labels(self, models: tuple[str, ...]) -> None:
        """Create the known label values at 0 so ``rate()`` sees the first increment and
        a ratio is 0, not absent, while nothing has gone wrong."""
        from consumer.intake.decode import REASONS

        for reason in REASONS:
            self.events_invalid.labels(reason=reason)
        for reason in OVERFLOW_REASONS:
            self.events_overflow.labels(reason=reason)
        for partial in PARTIAL_VALUES:
            self.predictions_published.labels(partial=partial)
        for kind in ALERT_KINDS:
            self.alerts_published.labels(kind=kind)
        for model in models:
            self.model_latency.labels(model=model)
            self.model_call_rows.labels(model=model)
            self.model_timeouts.labels(model=model)
            self.model_failures.labels(model=model)
        self.lanes.prime()

    def count_unknown_field(self, label: str) -> bool:
        """Count one ignored field under ``label`` (at most ``MAX_FIELD_LABELS`` distinct
        labels per process, then ``other``). True the first time a label is used, so the
        caller can log it once. Does not block; not thread-safe (one owner: the poll loop)."""
        if label not in self._field_labels and len(self._field_labels) >= MAX_FIELD_LABELS:
            label = "other"
        first = label not in self._field_labels
        self._field_labels.add(label)
        self.unknown_fields.labels(field=label).inc()
        return first

    def set_model_info(self, model: str, version: str) -> None:
        """Report ``model`` at ``version`` as loaded. Does not block; thread-safe."""
        self.model_info.labels(model=model, version=version).set(1)


def enable_multiprocess(directory: Path) -> None:
    """Prepare ``directory`` for prometheus_client multiprocess mode and switch it on.

    Call once in the supervisor, BEFORE any :class:`Metrics` is built and ideally before
    ``prometheus_client`` is imported anywhere: it sets ``PROMETHEUS_MULTIPROC_DIR``
    (inherited by forked workers). Removes stale ``*.db`` files of an earlier run, which
    would otherwise add old counter values. If ``prometheus_client`` was already
    imported, its value class is re-selected; metrics created before stay single-process.

    Blocks on filesystem calls only. Raises ``OSError`` if the directory cannot be
    created or cleaned. Not thread-safe (mutates ``os.environ``).
    """
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(directory)
    values = sys.modules.get("prometheus_client.values")
    if values is not None:
        values.ValueClass = values.get_value_class()  # type: ignore[attr-defined]


def disable_multiprocess(directory: Path | None = None) -> None:
    """Undo :func:`enable_multiprocess` (tests, clean shutdown); optionally delete the dir.

    Blocks on filesystem calls only. Not thread-safe (mutates ``os.environ``).
    """
    os.environ.pop(MULTIPROC_ENV, None)
    values = sys.modules.get("prometheus_client.values")
    if values is not None:
        values.ValueClass = values.get_value_class()  # type: ignore[attr-defined]
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)


def mark_worker_dead(pid: int, directory: Path | None = None) -> None:
    """Drop the ``live*`` gauge files of a worker that exited (call after ``waitpid``).

    Its counters and histograms stay, so totals do not go backwards. Blocks on
    filesystem calls only; raises nothing for a pid that never wrote metrics.
    """
    from prometheus_client import multiprocess

    path = str(directory) if directory is not None else os.environ.get(MULTIPROC_ENV)
    if path:
        multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]


def multiprocess_registry_factory(directory: Path) -> Callable[[], CollectorRegistry]:
    """A factory giving, per scrape, a fresh registry that merges every process's files.

    The returned callable reads all ``*.db`` files (blocks on the filesystem, a few ms);
    it raises ``ValueError`` if ``directory`` does not exist. Safe to call repeatedly.
    """

    def build() -> CollectorRegistry:
        from prometheus_client import CollectorRegistry
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
        return registry

    return build


def metric_sample_names(registry: CollectorRegistry) -> set[str]:
    """Every sample name ``registry`` would expose (``_total``, ``_bucket``... included).

    Used by tests to check that alert rules and dashboards reference real metrics.
    """
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_count", "_sum", "_created"),
        "gauge": ("",),
    }
    names: set[str] = set()
    for family in registry.collect():
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names

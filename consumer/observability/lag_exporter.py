"""``moodstream lag --serve``: the group's lag from the broker's side, as Prometheus metrics.

Why a process of its own, deployed beside the service: an alert for a dead service
needs the lag while no worker is alive. Workers export ``moodstream_consumer_lag`` only
for the partitions they hold; the supervisor must hold no Kafka client (it forks, and
forks again on every restart) and is itself gone while a pod crash-loops. This exporter
reads the group's committed offsets and the end offsets the way ``moodstream lag`` does
(:func:`consumer.kafka.lag.describe_lag`, never joining the group) every interval.

Metrics (its own registry, no multiprocess files):

- ``moodstream_group_lag{group,topic,partition}``: messages the group still has to read
  (a never-committed partition counts from its earliest retained offset);
- ``moodstream_group_lag_read_success``: 1 after a successful read, 0 after a failed
  one (the per-partition series are then dropped rather than left stale), NaN before
  the first read ends (so ``== 0`` alerts stay quiet while it starts);
- ``moodstream_group_lag_last_read_timestamp_seconds``: when the last read succeeded.

Threads: one reader thread blocks on the cluster (up to its timeout per read); the
calling thread serves HTTP with :class:`MetricsServer`. Nothing here forks.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from consumer.errors import MoodstreamError
from consumer.logs import log_event

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from consumer.kafka.lag import LagReport
    from consumer.settings import Settings

_log = logging.getLogger("moodstream.lag_exporter")
SERVE_STEP_S = 0.5


class LagGauges:
    """The exporter's metrics in ``registry``. Thread-safe (prometheus_client locks)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        from prometheus_client import Gauge

        self.lag = Gauge(
            "moodstream_group_lag",
            "Messages the consumer group still has to read, from its committed offsets "
            "and the end offsets (read from the cluster, works while no worker runs)",
            ["group", "topic", "partition"],
            registry=registry,
        )
        self.success = Gauge(
            "moodstream_group_lag_read_success",
            "1 when the last read of the group's offsets succeeded, else 0",
            registry=registry,
        )
        self.last_read = Gauge(
            "moodstream_group_lag_last_read_timestamp_seconds",
            "Unix time of the last successful read of the group's offsets",
            registry=registry,
        )
        self.success.set(float("nan"))  # no read yet: neither success nor failure

    def record(self, report: LagReport, now_s: float) -> None:
        """Publish ``report``; partitions no longer in it are dropped. Never blocks."""
        current = {(report.group, p.topic, str(p.partition)): p.lag for p in report.partitions}
        for labels in _label_sets(self.lag) - set(current):
            self.lag.remove(*labels)
        for labels, lag in current.items():
            self.lag.labels(*labels).set(lag)
        self.success.set(1)
        self.last_read.set(now_s)

    def record_failure(self) -> None:
        """The read failed: no lag series (stale numbers would look healthy), success 0."""
        self.lag.clear()
        self.success.set(0)


def _label_sets(gauge: Any) -> set[tuple[str, ...]]:
    return {
        (s.labels["group"], s.labels["topic"], s.labels["partition"])
        for metric in gauge.collect()
        for s in metric.samples
    }


class _Health:
    """``/healthz``: the process answers. ``/readyz``: the last read succeeded."""

    def __init__(self) -> None:
        self.last_ok: bool | None = None

    def healthz(self) -> tuple[bool, dict[str, Any]]:
        return True, {"status": "ok"}

    def readyz(self) -> tuple[bool, dict[str, Any]]:
        ready = self.last_ok is True
        return ready, {"status": "ready" if ready else "not ready", "last_read_ok": self.last_ok}


def read_loop(
    settings: Settings,
    bootstrap: str,
    gauges: LagGauges,
    health: _Health,
    *,
    interval_s: float,
    timeout_s: float,
    stop: threading.Event,
) -> None:
    """Read the lag every ``interval_s`` until ``stop`` is set. Blocks; raises nothing
    (a failed read is logged once per change of state and recorded as a failure)."""
    from consumer.kafka.lag import describe_lag

    while not stop.is_set():
        try:
            report = describe_lag(settings, bootstrap, timeout_s=timeout_s)
        except MoodstreamError as exc:
            gauges.record_failure()
            if health.last_ok is not False:
                log_event(_log, "lag_read_failed", level=logging.WARNING, error=str(exc))
            health.last_ok = False
        else:
            gauges.record(report, time.time())
            if health.last_ok is not True:
                log_event(_log, "lag_read_ok", partitions=len(report.partitions))
            health.last_ok = True
        stop.wait(interval_s)


def serve(
    settings: Settings,
    bootstrap: str,
    *,
    port: int,
    interval_s: float,
    timeout_s: float,
    stop: threading.Event,
) -> int:
    """Serve the group's lag on ``OBSERVABILITY__HOST``:``port`` until ``stop`` is set.
    Blocks. Raises OSError when the port cannot be bound."""
    from prometheus_client import CollectorRegistry

    from consumer.observability.server import MetricsServer

    registry = CollectorRegistry()
    gauges, health = LagGauges(registry), _Health()
    server = MetricsServer(settings.observability.host, port, lambda: registry, health)
    reader = threading.Thread(
        target=read_loop,
        args=(settings, bootstrap, gauges, health),
        kwargs={"interval_s": interval_s, "timeout_s": timeout_s, "stop": stop},
        name="lag-reader",
        daemon=True,
    )
    log_event(_log, "lag_exporter_started", port=server.port, interval_s=interval_s)
    reader.start()
    try:
        while not stop.is_set():
            server.serve_pending(SERVE_STEP_S)
    finally:
        server.close()
    reader.join(timeout=timeout_s + 1.0)
    log_event(_log, "lag_exporter_stopped")
    return 0

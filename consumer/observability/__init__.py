"""Prometheus metrics and health state, injected, never module globals.

Importing this package does not import ``prometheus_client`` (see
:func:`enable_multiprocess`: the multiprocess switch must happen first).

- :mod:`.metrics`: :class:`Metrics`, multiprocess mode helpers.
- :mod:`.health`: :class:`HealthReporter` (worker) and :class:`HealthView` (supervisor).
- :mod:`.server`: :class:`MetricsServer`, ``/metrics`` ``/healthz`` ``/readyz`` without threads,
  no client can hold it (:mod:`.http`: the request parsing it needs).
- :mod:`.procmem`: RSS / PSS of a process.
"""

from consumer.observability.health import HealthReporter, HealthView, WorkerHealth, health_file
from consumer.observability.metrics import (
    Metrics,
    disable_multiprocess,
    enable_multiprocess,
    mark_worker_dead,
    metric_sample_names,
    multiprocess_registry_factory,
)
from consumer.observability.procmem import process_pss_bytes, process_rss_bytes
from consumer.observability.server import (
    HEALTHZ_PATH,
    METRICS_PATH,
    READYZ_PATH,
    HealthProbe,
    MetricsServer,
)

__all__ = [
    "HEALTHZ_PATH",
    "METRICS_PATH",
    "READYZ_PATH",
    "HealthProbe",
    "HealthReporter",
    "HealthView",
    "Metrics",
    "MetricsServer",
    "WorkerHealth",
    "disable_multiprocess",
    "enable_multiprocess",
    "health_file",
    "mark_worker_dead",
    "metric_sample_names",
    "multiprocess_registry_factory",
    "process_pss_bytes",
    "process_rss_bytes",
]

"""The body of a windows-stage worker process (``run --stage windows``): the cluster, the
topics and their co-partitioning checked, then the loop until stopped. The supervisor,
restarts, exit codes and health files are the scoring stage's (``service.worker``)."""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from consumer.clock import SystemClock
from consumer.settings import Settings

if TYPE_CHECKING:
    from consumer.observability.health import HealthReporter

#: The cyclic collector's thresholds in a windows worker's loop (``gc.set_threshold``).
WINDOWS_GC_THRESHOLDS: Final = (50_000, 20, 10)


@dataclass(frozen=True)
class WindowsWorker:
    """What ``service.worker`` hands over: its settings and its slot."""

    settings: Settings
    bootstrap: str
    index: int
    instance: str
    with_metrics: bool


def run_windows(
    ctx: WindowsWorker,
    stop: Callable[[], bool],
    health: HealthReporter | None,
    connect: Callable[[Any], Any],
) -> int:
    """Blocks until ``stop``; returns 0. Raises KafkaSetupError (missing topics, unequal
    partitions), ConfigError (exactly-once), DeliveryFailed."""
    from consumer.kafka.admin import require_topics
    from consumer.kafka.config import client_config
    from consumer.windows_stage.wiring import (
        build_windows_runner,
        check_co_partitioned,
        windows_settings,
    )

    settings = windows_settings(ctx.settings)
    clock = SystemClock()
    if health is not None:
        health.update(ready=False, assigned=None, detail="connecting")
    config = client_config(settings.kafka, ctx.bootstrap)
    metadata = connect(config)  # None: stopped while waiting for the cluster
    if metadata is None:
        return 0
    roles = settings.topics.windows_by_role() | {
        "features": settings.topics.features,
        "dlq": settings.topics.dlq,
    }
    require_topics(config, roles, metadata, settings.kafka.connect_timeout_s)
    check_co_partitioned(settings, metadata)
    runner = build_windows_runner(
        settings,
        bootstrap=ctx.bootstrap,
        worker_index=ctx.index,
        clock=clock,
        instance=ctx.instance,
        metrics=_metrics(ctx),
        health=health,
    )
    # As the scoring worker (``service.worker.WORKER_GC_THRESHOLDS``): collect rarely; the
    # loop's garbage is freed by reference counting, cycles are rare. At Python's default
    # (700 young objects) a day-sized record (its arrays, a week's JSON, the store's
    # objects) set off a young collection every few records.
    gc.set_threshold(*WINDOWS_GC_THRESHOLDS)
    runner.run(stop)
    return 0


def _metrics(ctx: WindowsWorker) -> Any:
    if not ctx.with_metrics:
        return None
    from prometheus_client import CollectorRegistry

    from consumer.windows_stage.metrics import WindowsMetrics

    return WindowsMetrics(CollectorRegistry())

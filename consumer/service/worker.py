"""One worker process: runs in a child forked by the supervisor, after the models loaded.

Warms its models up on their pools, creates its own Kafka clients, joins the group and
waits for it to settle (ready only then), and runs the poll loop until SIGTERM or
SIGINT. Its exit code tells the supervisor what to do (see ``ExitCode``).
"""

from __future__ import annotations

import gc
import logging
import signal
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Final

from consumer.clock import SystemClock
from consumer.engine.delivery import DeliveryFailed
from consumer.errors import (
    ClusterUnreachableError,
    ConfigError,
    KafkaSetupError,
    PoisonFloodError,
)
from consumer.errors import ExitCode as Exit
from consumer.logs import log_event
from consumer.models.threads import apply_thread_caps
from consumer.settings import Settings

if TYPE_CHECKING:
    from confluent_kafka.admin import ClusterMetadata  # type: ignore[attr-defined]

    from consumer.kafka.config import ClientConfig
    from consumer.models.registry import ModelSet
    from consumer.observability.health import HealthReporter
    from consumer.observability.metrics import Metrics

_log = logging.getLogger("moodstream.worker")
#: The cyclic collector's thresholds in a worker's loop (``gc.set_threshold``): young
#: objects allocated before a collection, then collections of each generation before the
#: next older one is collected.
WORKER_GC_THRESHOLDS: Final = (50_000, 20, 10)
RESTART_CONNECT_ATTEMPT_S = 5.0


class ExitCode(IntEnum):
    """A worker process's exit code to its supervisor: the command's codes (``Exit``)."""

    OK = Exit.OK
    CRASHED = Exit.FAILED  # restart with backoff
    CONFIG = Exit.CONFIG  # do not restart: the Kafka client refused the settings
    POISON_FLOOD = Exit.POISON_FLOOD  # do not restart: the upstream producer is broken
    KAFKA_SETUP = Exit.KAFKA  # do not restart: auth, unreachable cluster, missing topic


FATAL_EXIT_CODES = frozenset({ExitCode.CONFIG, ExitCode.POISON_FLOOD, ExitCode.KAFKA_SETUP})


@dataclass
class StopFlag:
    requested: bool = False

    def __call__(self) -> bool:
        return self.requested

    def install(self) -> None:
        """Route SIGTERM and SIGINT to this flag (main thread only)."""

        def handler(_signum: int, _frame: FrameType | None) -> None:
            self.requested = True

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)


@dataclass(frozen=True)
class WorkerContext:
    settings: Settings
    models: ModelSet
    bootstrap: str
    index: int
    state_dir: Path | None  # health files; None disables health reporting
    with_metrics: bool
    restarted: bool = False  # this slot ran before: the service is past its start-up
    instance: str = ""  # this service instance (part of the transactional id)
    stage: str = "score"  # score | windows (``run --stage``)


def run_worker(ctx: WorkerContext) -> int:
    """Blocks until stopped. Returns an ``ExitCode``; never raises."""
    stop = StopFlag()
    stop.install()
    try:
        return _run(ctx, stop)
    except KafkaSetupError as exc:
        log_event(_log, "worker_failed", level=logging.ERROR, worker=ctx.index, error=str(exc))
        _leave_fatal_cause(ctx, exc)
        return ExitCode.KAFKA_SETUP
    except ConfigError as exc:
        log_event(_log, "worker_failed", level=logging.ERROR, worker=ctx.index, error=str(exc))
        _leave_fatal_cause(ctx, exc)
        return ExitCode.CONFIG
    except PoisonFloodError as exc:
        log_event(_log, "poison_flood", level=logging.ERROR, worker=ctx.index, error=str(exc))
        _leave_fatal_cause(ctx, exc)
        return ExitCode.POISON_FLOOD
    except DeliveryFailed as exc:
        log_event(_log, "delivery_failed", level=logging.ERROR, worker=ctx.index, error=str(exc))
        return ExitCode.CRASHED
    except Exception as exc:
        log_event(
            _log,
            "worker_crashed",
            level=logging.ERROR,
            worker=ctx.index,
            error=f"{type(exc).__name__}: {exc}",
            exc_info=True,
        )
        return ExitCode.CRASHED


def fatal_cause_file(state_dir: Path, index: int) -> Path:
    return state_dir / f"fatal-{index}.txt"


def _leave_fatal_cause(ctx: WorkerContext, exc: Exception) -> None:
    """Tell the supervisor why this worker must not be restarted (one line, no secrets)."""
    if ctx.state_dir is not None:
        fatal_cause_file(ctx.state_dir, ctx.index).write_text(str(exc), encoding="utf-8")


def _run(ctx: WorkerContext, stop: StopFlag) -> int:
    from consumer.kafka.admin import require_topics
    from consumer.kafka.config import client_config
    from consumer.service.wiring import build_worker

    if ctx.stage == "windows":
        from consumer.windows_stage.worker import WindowsWorker, run_windows

        health = _health(ctx, SystemClock())
        slot = WindowsWorker(ctx.settings, ctx.bootstrap, ctx.index, ctx.instance, ctx.with_metrics)
        return run_windows(slot, stop, health, lambda config: _connect(ctx, config, stop, health))
    settings = ctx.settings
    apply_thread_caps(settings.models)
    clock = SystemClock()
    metrics = _metrics(ctx)
    health = _health(ctx, clock)
    if health is not None:
        health.update(ready=False, assigned=None, detail="warming up")
    config = client_config(settings.kafka, ctx.bootstrap)
    metadata = _connect(ctx, config, stop, health)
    if metadata is None:  # stopped while waiting for the cluster
        return ExitCode.OK
    # The input and every topic the service writes: missing, or hidden by an ACL.
    require_topics(config, settings.topics.by_role(), metadata, settings.kafka.connect_timeout_s)
    # Warm-up (in build_worker), then the group: the worker is ready once it settles.
    parts = build_worker(
        settings,
        ctx.models,
        bootstrap=ctx.bootstrap,
        worker_index=ctx.index,
        clock=clock,
        instance=ctx.instance,
        metrics=metrics,
        health=health,
        input_partitions=len(metadata.topics[settings.topics.features].partitions),
    )
    # Each event leaves ~50 container objects alive while in flight (thousands at a time on
    # a backlog); at Python's default first threshold (700) the collector ran ~750 times
    # per 40,000 features-only events, ~5 us of CPU per event (BENCHMARKS.md). Collect
    # rarely: the loop's garbage is freed by reference counting, cycles are rare.
    gc.set_threshold(*WORKER_GC_THRESHOLDS)
    try:
        parts.runner.run(stop)
    finally:
        parts.release()
    return ExitCode.OK


def _connect(
    ctx: WorkerContext, config: ClientConfig, stop: StopFlag, health: HealthReporter | None
) -> ClusterMetadata | None:
    """The cluster's metadata once it answers. At service start an unreachable cluster is
    a setup error (KafkaSetupError after KAFKA__CONNECT_TIMEOUT_S). A restarted worker
    meets a runtime outage instead: it waits, unready and saying so every few seconds,
    until the cluster answers (or returns None once ``stop`` is requested). Blocks."""
    from consumer.kafka.admin import wait_for_cluster

    timeout_s = ctx.settings.kafka.connect_timeout_s
    attempt_s = min(timeout_s, RESTART_CONNECT_ATTEMPT_S) if ctx.restarted else timeout_s
    waited = 0
    while True:
        try:
            return wait_for_cluster(config, attempt_s)
        except ClusterUnreachableError as exc:
            if not ctx.restarted:
                raise
            waited += 1
            log_event(
                _log,
                "waiting_for_cluster",
                level=logging.WARNING,
                worker=ctx.index,
                waited_s=round(waited * attempt_s),
                error=str(exc),
            )
            if health is not None:
                health.update(ready=False, assigned=None, detail="waiting for Kafka")
            if stop():
                return None


def _metrics(ctx: WorkerContext) -> Metrics | None:
    """This worker's metrics. In multiprocess mode the values land in the shared directory
    whatever the registry; a fresh one avoids clashing with the supervisor's copy."""
    if not ctx.with_metrics:
        return None
    from prometheus_client import CollectorRegistry

    from consumer.observability.metrics import Metrics

    metrics = Metrics(CollectorRegistry(), models=[info.name for info in ctx.models.infos])
    for info in ctx.models.infos:
        metrics.set_model_info(info.name, info.version)
    return metrics


def _health(ctx: WorkerContext, clock: SystemClock) -> HealthReporter | None:
    if ctx.state_dir is None:
        return None
    from consumer.observability.health import HealthReporter, health_file

    return HealthReporter(health_file(ctx.state_dir, ctx.index), clock)

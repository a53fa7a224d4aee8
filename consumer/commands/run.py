"""``moodstream run [--workers N] [--timeout-s S]``: load and verify the models once, then
supervise workers. ``--timeout-s``: stop as on SIGTERM after S seconds (exit 0)."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import tempfile
import uuid
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from consumer.clock import SystemClock
from consumer.commands.conventions import positive_seconds
from consumer.commands.preflight import (
    port_taken,
    refuse_placeholder_hash_key,
    uses_default_hash_key,
)
from consumer.errors import ConfigError, KafkaSetupError, MoodstreamError, PoisonFloodError
from consumer.logs import configure_logging, log_event
from consumer.settings import Settings

if TYPE_CHECKING:
    from consumer.models.registry import ModelSet

_log = logging.getLogger("moodstream.run")


def register(sub: Any) -> None:
    parser = sub.add_parser("run", help="consume features and publish predictions")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (default: MOODSTREAM_PROCESSING__WORKERS, 1)",
    )
    parser.add_argument(
        "--timeout-s",
        type=float,
        default=None,
        metavar="S",
        help="stop (as on SIGTERM: drain, commit, exit 0) after S seconds",
    )
    parser.add_argument(
        "--stage",
        choices=("score", "windows"),
        default="score",
        help="score (default): FeatureEvents in, predictions out; windows: activity samples "
        "and day features in, complete FeatureEvents out (docs/windows.md)",
    )
    parser.set_defaults(handler=handle)


class PoisonFloodExit(MoodstreamError):
    """The service stopped because an input partition is flooded with invalid events."""

    exit_code = PoisonFloodError.exit_code
    hint = PoisonFloodError.hint


class _StopDuringStartup(Exception):
    """SIGTERM arrived before the supervisor took over signal handling."""


def _stop_during_startup(_signum: int, _frame: FrameType | None) -> None:
    raise _StopDuringStartup


def handle(args: argparse.Namespace, settings: Settings) -> int:
    """Blocks until SIGTERM/SIGINT or a fatal worker exit. Raises MoodstreamError subclasses."""
    workers = args.workers if args.workers is not None else settings.processing.workers
    if workers < 1:
        raise ConfigError("--workers must be >= 1")
    stop_after_s = positive_seconds(args.timeout_s, "--timeout-s")
    refuse_placeholder_hash_key(settings)
    configure_logging(settings.observability.log_level)
    signal.signal(signal.SIGTERM, _stop_during_startup)  # the supervisor replaces it
    if stop_after_s is not None:  # the workers inherit the handler, not the timer
        signal.signal(signal.SIGALRM, _terminate_self)
        signal.setitimer(signal.ITIMER_REAL, stop_after_s)
    try:
        with tempfile.TemporaryDirectory(prefix="moodstream-") as state:
            return supervise(settings, workers, Path(state), stage=args.stage)
    except _StopDuringStartup:
        log_event(_log, "stopped_during_startup")
        return 0


def _terminate_self(_signum: int, _frame: FrameType | None) -> None:
    os.kill(os.getpid(), signal.SIGTERM)


def supervise(settings: Settings, workers: int, state_dir: Path, *, stage: str = "score") -> int:
    from consumer.commands import bootstrap_for
    from consumer.models.threads import apply_thread_caps
    from consumer.observability.metrics import enable_multiprocess

    bootstrap = bootstrap_for(settings)
    apply_thread_caps(settings.models)  # before torch/xgboost load
    metrics_dir = state_dir / "metrics"
    enable_multiprocess(metrics_dir)  # before prometheus_client is imported

    from consumer.kafka.fencing import fence_predecessors
    from consumer.models.registry import ModelSet, load_model_set

    if stage == "windows":  # no models: its workers assemble weeks
        from consumer.windows_stage.wiring import windows_settings

        fence_predecessors(windows_settings(settings), bootstrap, workers)  # its own ids
        return _supervise(
            settings, workers, state_dir, metrics_dir, bootstrap, ModelSet((), None, ()), stage
        )
    fence_predecessors(settings, bootstrap, workers)  # before the models: a lost pod's txn
    models = load_model_set(settings.models)  # verifies checksums; runs no inference
    for info in models.infos:
        log_event(
            _log,
            "model_loaded",
            model=info.name,
            version=info.version,
            load_ms=round(info.load_ms, 1),
        )
    log_event(
        _log,
        "model_set",
        model_set=models.digest,
        clinically_valid=models.clinically_valid,
        pat_runtime=models.pat_runtime,
        ensemble_weights="manifest" if models.weights else "settings",
    )
    if not models.clinically_valid:
        log_event(_log, "not_clinically_valid", level=logging.WARNING, note=models.note)
    if uses_default_hash_key(settings):
        log_event(
            _log,
            "default_user_hash_key",
            level=logging.WARNING,
            fix="set MOODSTREAM_OBSERVABILITY__USER_HASH_KEY to a secret of your own",
        )
    return _supervise(settings, workers, state_dir, metrics_dir, bootstrap, models, "score")


def _supervise(
    settings: Settings,
    workers: int,
    state_dir: Path,
    metrics_dir: Path,
    bootstrap: str,
    models: ModelSet,
    stage: str,
) -> int:
    from prometheus_client import CollectorRegistry

    from consumer.observability.health import HealthView
    from consumer.observability.metrics import (
        Metrics,
        mark_worker_dead,
        multiprocess_registry_factory,
    )
    from consumer.observability.server import MetricsServer
    from consumer.service.supervisor import Supervisor
    from consumer.service.worker import FATAL_EXIT_CODES, ExitCode, WorkerContext, run_worker

    clock = SystemClock()
    health_dir = state_dir / "health"
    health_dir.mkdir()
    obs = settings.observability
    view = HealthView(health_dir, clock, stale_after_s=10.0, expected_workers=workers)
    # A loop blocks at most a model deadline, a revocation flush or the drain bound:
    # a heartbeat older than all of them together means the worker is hung.
    hang_after_s = 60.0 + settings.processing.shutdown_timeout_s + settings.ensemble.pat_timeout_s
    hang_view = HealthView(health_dir, clock, stale_after_s=hang_after_s)
    try:
        registry_factory = multiprocess_registry_factory(metrics_dir)
        server = MetricsServer(obs.host, obs.port, registry_factory, view, clock=clock)
    except OSError as exc:
        raise port_taken(settings, exc) from None
    metrics = Metrics(CollectorRegistry(), models=[info.name for info in models.infos])

    exited_slots: set[int] = set()  # the parent's; a forked worker sees it as of its fork
    # tells this service's transactional ids from others' (KAFKA__INSTANCE_ID: stable)
    instance = settings.kafka.instance_id or uuid.uuid4().hex[:8]

    def start(index: int) -> int:
        restarted = index in exited_slots  # past start-up: an outage is waited out
        ctx = WorkerContext(
            settings,
            models,
            bootstrap,
            index,
            health_dir,
            with_metrics=True,
            restarted=restarted,
            instance=instance,
            stage=stage,
        )
        return run_worker(ctx)

    def exited(index: int, pid: int) -> None:
        exited_slots.add(index)
        mark_worker_dead(pid, metrics_dir)
        view.forget(index)

    log_event(_log, "serving_metrics", port=server.port, instance=instance)
    supervisor = Supervisor(
        workers,
        start,
        clock,
        shutdown_timeout_s=settings.processing.shutdown_timeout_s,
        server=server,
        metrics=metrics,
        on_worker_exit=exited,
        hung_workers=lambda: [w.pid for w in hang_view.stale_workers() if w.pid is not None],
    )
    # Move everything allocated so far (models, modules) out of the collector's reach: the
    # workers' collections would otherwise touch, and so copy, the pages they share.
    gc.collect()
    gc.freeze()
    try:
        code = supervisor.run()
    finally:
        server.close()
    if code in FATAL_EXIT_CODES:
        causes = sorted(health_dir.glob("fatal-*.txt"))
        message = causes[0].read_text(encoding="utf-8") if causes else "a worker failed"
        kinds: dict[int, type[MoodstreamError]] = {
            ExitCode.KAFKA_SETUP: KafkaSetupError,
            ExitCode.CONFIG: ConfigError,
        }
        raise kinds.get(code, PoisonFloodExit)(message)
    return code

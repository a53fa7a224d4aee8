"""Composition root: the only place that builds clients, pools, models and metrics.

``build_worker`` runs in a worker process after the fork; nothing here runs at import.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from consumer.admission import LaneAdmission, SpeedEstimate
from consumer.clock import Clock
from consumer.delivery import AtLeastOnce, Publisher
from consumer.ensemble import Ensemble, ModelLane
from consumer.kafka.clients import create_consumer, create_producer
from consumer.offsets import CommitPolicy
from consumer.pipeline import Pipeline
from consumer.ratelimit import KeyRateLimiter
from consumer.runner import Runner
from consumer.settings import Guarantee, Settings
from consumer.transactions import ExactlyOnce

if TYPE_CHECKING:
    from consumer.models.registry import ModelSet
    from consumer.observability.health import HealthReporter
    from consumer.observability.metrics import Metrics


@dataclass
class WorkerParts:
    runner: Runner
    ensemble: Ensemble
    executors: tuple[ThreadPoolExecutor, ...]

    def release(self) -> None:
        """Stop accepting model work; does not wait for a hung call (it cannot be cancelled)."""
        for executor in self.executors:
            executor.shutdown(wait=False, cancel_futures=True)


def build_ensemble(
    settings: Settings,
    models: ModelSet,
    clock: Clock,
    pat_seconds_per_row: float | None = None,
) -> tuple[Ensemble, tuple[ThreadPoolExecutor, ...]]:
    """Each model family on its own single-thread pool (the thread count inside each model
    is capped by ``MODELS__XGBOOST_THREADS`` / ``MODELS__TORCH_THREADS``); each model in a
    lane that admits work by its measured cost (``pat_seconds_per_row`` from the warm-up,
    else the configured initial estimate)."""
    ens = settings.ensemble
    xgb_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="xgboost")
    pat_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pat")

    def admission(timeout_s: float, per_row_s: float, chunk: int | None) -> LaneAdmission:
        budget_s = timeout_s * ens.lane_budget_fraction
        return LaneAdmission(budget_s, SpeedEstimate(per_row_s), chunk)

    boosters = [
        ModelLane(
            model,
            xgb_pool,
            ens.xgboost_timeout_s,
            clock,
            admission(ens.xgboost_timeout_s, ens.xgboost_initial_seconds_per_row, None),
            slowdown_factor=ens.slowdown_factor,
        )
        for model in models.boosters
    ]
    pat = None
    if models.pat is not None:
        per_row_s = pat_seconds_per_row or ens.pat_initial_seconds_per_row
        chunk = settings.models.pat_sub_batch_size
        pat_admission = admission(ens.pat_timeout_s, per_row_s, chunk)
        pat = ModelLane(
            models.pat,
            pat_pool,
            ens.pat_timeout_s,
            clock,
            pat_admission,
            slowdown_factor=ens.slowdown_factor,
        )
    return Ensemble(boosters, pat, ens, clock), (xgb_pool, pat_pool)


def measure_pat_seconds_per_row(models: ModelSet, clock: Clock) -> float | None:
    """Time a second PAT warm-up (one sequence; the first paid for lazy initialisation):
    the lane's first speed estimate. Blocks for that call (~0.05-0.3 s on one core); None
    without PAT."""
    if models.pat is None:
        return None
    started = clock.monotonic()
    models.pat.warmup()
    return max(1e-6, clock.monotonic() - started)


def build_worker(
    settings: Settings,
    models: ModelSet,
    *,
    bootstrap: str,
    worker_index: int,
    clock: Clock,
    instance: str = "",
    metrics: Metrics | None = None,
    health: HealthReporter | None = None,
    pat_seconds_per_row: float | None = None,
) -> WorkerParts:
    """Create this worker's consumer, producer, pools and loop. Blocks only in
    ``init_transactions`` (exactly-once mode)."""
    ensemble, executors = build_ensemble(settings, models, clock, pat_seconds_per_row)
    processing = settings.processing
    limiter = (
        KeyRateLimiter(processing.rate_limit_per_minute)
        if processing.rate_limit_per_minute is not None
        else None
    )
    pipeline = Pipeline(ensemble, settings, clock, limiter)
    consumer = create_consumer(settings, bootstrap)
    producer = create_producer(settings, bootstrap, worker_index, instance)
    publisher: Publisher
    if processing.guarantee is Guarantee.EXACTLY_ONCE:
        publisher = ExactlyOnce(
            producer, consumer, clock, settings.kafka.connect_timeout_s, metrics
        )
    else:
        policy = CommitPolicy(processing.commit_interval_s, processing.commit_every_messages)
        publisher = AtLeastOnce(producer, consumer, clock, policy, metrics)
    runner = Runner(
        consumer,
        publisher,
        pipeline,
        ensemble,
        settings,
        clock,
        metrics=metrics,
        health=health,
    )
    return WorkerParts(runner, ensemble, executors)

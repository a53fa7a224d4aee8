"""Composition root: the only place that builds clients, pools, models and metrics.

``build_worker`` runs in a worker process after the fork; nothing here runs at import.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

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
    settings: Settings, models: ModelSet, clock: Clock
) -> tuple[Ensemble, tuple[ThreadPoolExecutor, ...]]:
    """Each model family on its own single-thread pool (the thread count inside each model
    is capped by ``MODELS__XGBOOST_THREADS`` / ``MODELS__TORCH_THREADS``)."""
    ensemble_settings = settings.ensemble
    xgb_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="xgboost")
    pat_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pat")
    boosters = [
        ModelLane(model, xgb_pool, ensemble_settings.xgboost_timeout_s, clock)
        for model in models.boosters
    ]
    pat = (
        ModelLane(models.pat, pat_pool, ensemble_settings.pat_timeout_s, clock)
        if models.pat is not None
        else None
    )
    return Ensemble(boosters, pat, ensemble_settings, clock), (xgb_pool, pat_pool)


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
) -> WorkerParts:
    """Create this worker's consumer, producer, pools and loop. Blocks only in
    ``init_transactions`` (exactly-once mode)."""
    ensemble, executors = build_ensemble(settings, models, clock)
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
        settings,
        clock,
        metrics=metrics,
        health=health,
        stuck_models=ensemble.stuck_models,
    )
    return WorkerParts(runner, ensemble, executors)

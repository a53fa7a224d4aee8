"""Composition root: the only place that builds clients, pools, models and metrics.

``build_worker`` runs in a worker process after the fork; nothing here runs at import.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from consumer.clock import Clock
from consumer.engine.delivery import AtLeastOnce, Publisher
from consumer.engine.offsets import CommitPolicy
from consumer.engine.pipeline import Pipeline
from consumer.engine.runner import Runner
from consumer.engine.slow_reasons import GroupWaits
from consumer.engine.transactions import ExactlyOnce
from consumer.engine.txn_calls import on_thread
from consumer.ensemble.admission import LaneAdmission, SpeedEstimate
from consumer.ensemble.row_batching import RowBatching
from consumer.ensemble.scoring import Ensemble, ModelLane
from consumer.ensemble.stamp import ModelSetStamp
from consumer.intake.ratelimit import KeyRateLimiter
from consumer.kafka.clients import create_consumer, create_producer
from consumer.kafka.config import client_config
from consumer.kafka.group_settle import GroupSettle, admin_describe
from consumer.logs import log_event
from consumer.schema_registry.decoding import RegistryDecoder
from consumer.schema_registry.output_encoding import RegistryOutputEncoder, register_waiting
from consumer.service.warmup import WarmShapes, warm_up
from consumer.settings import Guarantee, Settings

_log = logging.getLogger("moodstream.wiring")

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
) -> tuple[Ensemble, tuple[ThreadPoolExecutor, ...]]:
    """Each model family on its own single-thread pool (the thread count inside each model
    is capped by ``MODELS__XGBOOST_THREADS`` / ``MODELS__TORCH_THREADS``); each model in a
    lane that admits work by its measured cost. With ``MODELS__WARMUP`` every model is
    first called on its pool's thread at the shapes it will see (``consumer.service.warmup``), and
    PAT's measured speed seeds its lane; else the configured initial estimates do. Blocks
    for the warm-up (about a second on one core); raises what a model raises. A PAT on a
    GPU gets a lane that gathers rows across micro-batches (``RowBatching``)."""
    ens = settings.ensemble
    xgb_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="xgboost")
    pat_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pat")
    batching = _device_batching(settings, models)
    pat_chunk = batching.max_rows if batching else settings.models.pat_sub_batch_size
    pat_seconds_per_row = None
    if settings.models.warmup:
        extra = (1,) if batching and pat_chunk > 1 else ()
        shapes = WarmShapes(settings.processing.max_batch_size, pat_chunk, extra)
        pat_seconds_per_row = warm_up(models, xgb_pool, pat_pool, shapes, clock)

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
        pat_admission = admission(ens.pat_timeout_s, per_row_s, pat_chunk)
        pat = ModelLane(
            models.pat,
            pat_pool,
            ens.pat_timeout_s,
            clock,
            pat_admission,
            slowdown_factor=ens.slowdown_factor,
            batching=batching,
        )
    return Ensemble(boosters, pat, ens, clock, model_set_stamp(models)), (xgb_pool, pat_pool)


def model_set_stamp(models: ModelSet) -> ModelSetStamp:
    """What every prediction of this worker says about ``models``. Pure."""
    return ModelSetStamp(
        model_set=models.digest or None,
        clinically_valid=models.clinically_valid,
        pat_runtime=models.pat_runtime,
        weights=models.weights,
    )


def _device_batching(settings: Settings, models: ModelSet) -> RowBatching | None:
    """A GPU PAT's lane gathers rows across micro-batches (``MODELS__PAT_DEVICE_BATCH_*``);
    a CPU one sends each batch's rows as they come (None)."""
    if models.pat is None or models.pat.device == "cpu":
        return None
    config = settings.models
    return RowBatching(config.pat_device_batch_rows, config.pat_device_batch_wait_ms / 1000.0)


def build_registry_decoder(settings: Settings) -> RegistryDecoder | None:
    """The Schema Registry decoder of ``PROCESSING__INPUT_FORMAT`` and ``KEY_FORMAT``
    (None for ``json`` values and ``string`` keys). Makes no request yet (schemas are
    fetched per batch, then cached)."""
    processing = settings.processing
    if processing.input_format == "json" and processing.key_format == "string":
        return None
    from consumer.schema_registry.client import create_client

    return RegistryDecoder(
        create_client(settings.schema_registry),
        processing.input_format,
        max_bytes=processing.max_message_bytes,
        strict_fields=processing.strict_fields,
        topic=settings.topics.features,
        key_format=processing.key_format,
        key_user_field=processing.key_user_field,
    )


def build_output_encoder(
    settings: Settings,
    clock: Clock,
    extra_topics: dict[str, str] | None = None,
    health: HealthReporter | None = None,
) -> RegistryOutputEncoder | None:
    """The encoder of ``PROCESSING__OUTPUT_FORMAT`` for predictions and alerts (and the
    kinds of ``extra_topics``, kind → topic: ``feature_event`` for the windows stage's
    output); None for ``json`` (today's bytes, no extra work). Registers the schemas,
    waiting for a registry that does not answer up to ``KAFKA__CONNECT_TIMEOUT_S`` (unready
    meanwhile): blocks; raises SchemaRegistryUnavailable after that."""
    output_format = settings.processing.output_format
    if output_format == "json":
        return None
    import time

    from consumer.schema_registry.apicurio import compatibility_none
    from consumer.schema_registry.client import create_client

    topics = {"prediction": settings.topics.predictions, "alert": settings.topics.alerts}
    topics.update(extra_topics or {})
    registry = settings.schema_registry
    client = create_client(registry)
    encoder = RegistryOutputEncoder(
        client, output_format, topics, compatibility_none(registry, client)
    )
    register_waiting(
        encoder.register,
        clock.monotonic,
        settings.kafka.connect_timeout_s,
        (registry.retry_initial_s, registry.retry_max_s),
        time.sleep,
        _waiting_on_registry(health),
    )
    return encoder


def _waiting_on_registry(health: HealthReporter | None) -> Callable[[str], None]:
    """Log (and report unready) while the output schemas wait for the registry."""

    def waiting(reason: str) -> None:
        log_event(_log, "waiting_for_schema_registry", level=logging.WARNING, error=reason)
        if health is not None:
            health.update(ready=False, assigned=None, detail="waiting for the schema registry")

    return waiting


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
    input_partitions: int | None = None,
) -> WorkerParts:
    """Create this worker's pools (warming its models on them), consumer, producer and
    loop. Blocks for the warm-up and in ``init_transactions`` (exactly-once mode).
    ``input_partitions``: the input topic's partition count, for the start-up gate that
    waits for the group to settle (None: no gate)."""
    ensemble, executors = build_ensemble(settings, models, clock)
    processing = settings.processing
    limiter = (
        KeyRateLimiter(processing.rate_limit_per_minute)
        if processing.rate_limit_per_minute is not None
        else None
    )
    group_waits = GroupWaits()
    pipeline = Pipeline(
        ensemble,
        settings,
        clock,
        limiter,
        build_registry_decoder(settings),
        group_waits,
        build_output_encoder(settings, clock, health=health),
    )
    consumer = create_consumer(settings, bootstrap)
    producer = create_producer(settings, bootstrap, worker_index, instance)
    publisher: Publisher
    if processing.guarantee is Guarantee.EXACTLY_ONCE:
        publisher = ExactlyOnce(
            producer,
            consumer,
            clock,
            settings.kafka.connect_timeout_s,
            metrics,
            new_producer=lambda: create_producer(settings, bootstrap, worker_index, instance),
            waiting=_waiting_on_kafka(health),
            bounded=on_thread(clock),
            report=_txn_not_ready(health),
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
        settle=_group_settle(settings, bootstrap, clock, input_partitions),
        group_waits=group_waits,
    )
    return WorkerParts(runner, ensemble, executors)


def _txn_not_ready(health: HealthReporter | None) -> Callable[[str | None], None] | None:
    """Where the exactly-once publisher says why the worker is not ready (transactional
    calls left stuck on their threads), or no longer. Does not block."""
    if health is None:
        return None

    def report(reason: str | None) -> None:
        health.not_ready_because("txn_stuck_calls", reason)

    return report


def _waiting_on_kafka(health: HealthReporter | None) -> Callable[[str], None] | None:
    """What the exactly-once publisher calls while it waits on Kafka between attempts: the
    worker is alive (the hang detector leaves it); readiness still ages with the loop's own
    heartbeat. Blocks only on the health file's write."""
    if health is None:
        return None

    def waiting(call: str) -> None:
        health.alive(call)

    return waiting


def _group_settle(
    settings: Settings, bootstrap: str, clock: Clock, partitions: int | None
) -> GroupSettle | None:
    """The start-up gate's group check (an AdminClient of its own); gives up after the
    connect timeout. Does not block."""
    if partitions is None:
        return None
    config = dict(client_config(settings.kafka, bootstrap))
    kafka = settings.kafka
    return GroupSettle(
        admin_describe(config),
        kafka.group_id,
        settings.topics.features,
        partitions,
        clock.monotonic(),
        kafka.connect_timeout_s,
    )

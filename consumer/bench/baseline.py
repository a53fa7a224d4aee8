"""The per-request design moodstream replaces, on the same models and the same broker.

The shape of the old HTTP ensemble endpoint without the HTTP: one event at a time; for
each, a new ThreadPoolExecutor runs each model that applies (the three boosters on a
one-row matrix, PAT on one week) with its timeout, the prediction is built (with the
service's own ``consumer.ensemble.outputs`` code), produced, and flushed before the next event.
Events come from a pre-loaded topic through a consumer with the service's config (no
commit: the old endpoint had no offsets to keep, which only flatters it). Blocks.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, TimeoutError
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, Producer

from consumer.ensemble.outputs import build_prediction, outcome_for
from consumer.ensemble.scoring import ModelRun, ScoringModel, activity_matrix, feature_matrix
from consumer.errors import InvalidEvent
from consumer.intake.decode import decode_event
from consumer.kafka.clients import consumer_config, producer_config
from consumer.models.registry import ModelSet
from consumer.settings import Settings
from schemas import FeatureEvent, ModelStatus, SourcePosition


def run_baseline(
    settings: Settings,
    bootstrap: str,
    models: ModelSet,
    topics: tuple[str, str],
    max_events: int,
    seconds: float,
) -> dict[str, Any]:
    """Process events from ``topics[0]`` one by one into ``topics[1]`` for about
    ``seconds`` (or ``max_events``). Returns events/s over the processed events."""
    group = f"bench-baseline-{time.monotonic_ns()}"
    ours = settings.model_copy(
        update={"kafka": settings.kafka.model_copy(update={"group_id": group})}
    )
    consumer = Consumer(dict(consumer_config(ours, bootstrap)))
    producer = Producer(dict(producer_config(ours, bootstrap, 0)))
    consumer.subscribe([topics[0]])
    done, started = 0, 0.0
    try:
        while done < max_events and (not started or time.monotonic() - started < seconds):
            msg = consumer.poll(1.0)
            if msg is None or msg.error() is not None:
                continue
            started = started or time.monotonic()
            value = handle_one(ours, models, msg)
            if value is not None:
                producer.produce(topics[1], key=msg.key(), value=value)
                producer.flush(30)
            done += 1
        elapsed = time.monotonic() - started
    finally:
        consumer.close()
    return {
        "events_per_s": round(done / elapsed, 1) if elapsed > 0 else None,
        "events": done,
        "seconds": round(elapsed, 3),
    }


def handle_one(settings: Settings, models: ModelSet, msg: Any) -> bytes | None:
    """One request: decode, score every applicable model on a fresh pool, build the JSON."""
    started = time.monotonic()
    try:
        event = decode_event(msg.value(), max_bytes=settings.processing.max_message_bytes)
    except InvalidEvent:
        return None
    runs = score_one(settings, models, event)
    versions = {model.name: model.version for model in models.all()}
    source = SourcePosition(topic=msg.topic(), partition=msg.partition(), offset=msg.offset())
    latency_ms = (time.monotonic() - started) * 1000.0
    prediction = build_prediction(
        event,
        outcome_for(0, runs, versions),
        source,
        latency_ms,
        settings.ensemble,
        datetime.now(UTC),
    )
    return prediction.model_dump_json().encode()


def score_one(settings: Settings, models: ModelSet, event: FeatureEvent) -> dict[str, ModelRun]:
    """A new ThreadPoolExecutor for this event; each model with its own timeout."""
    ensemble = settings.ensemble
    jobs: list[tuple[ScoringModel, Any, float]] = []
    if event.features is not None:
        features = feature_matrix([event], (0,))
        jobs += [(model, features, ensemble.xgboost_timeout_s) for model in models.boosters]
    if event.activity is not None and models.pat is not None:
        jobs.append((models.pat, activity_matrix([event], (0,)), ensemble.pat_timeout_s))
    executor = ThreadPoolExecutor(max_workers=max(1, len(jobs)))
    try:
        started = time.monotonic()
        futures = [
            (model, executor.submit(model.predict_batch, x), timeout) for model, x, timeout in jobs
        ]
        runs = {}
        for model, future, timeout in futures:
            try:
                scores = future.result(timeout=max(0.0, started + timeout - time.monotonic()))
                status = ModelStatus.OK
            except TimeoutError:
                scores, status = None, ModelStatus.TIMEOUT
            except Exception:
                scores, status = None, ModelStatus.FAILED
            latency_ms = (time.monotonic() - started) * 1000.0
            runs[model.name] = ModelRun(
                model.name, status, model.version, latency_ms, (0,), scores, timeout * 1000.0
            )
        return runs
    finally:
        executor.shutdown(wait=False)

"""What each part allows alone: Kafka passthrough, the models on in-memory batches, decoding.

Every measurement runs in this process on one thread at the configured thread caps
(``MODELS__XGBOOST_THREADS`` / ``MODELS__TORCH_THREADS``); each blocks for about the
duration it is given.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from consumer.bench.kafkaio import Record, cycle, produce_records, timed_producer
from consumer.engine.offsets import CommitPolicy
from consumer.ensemble.scoring import activity_matrix, feature_matrix
from consumer.intake.decode import decode_event
from consumer.kafka.clients import consumer_config, produce_waiting, producer_config
from consumer.models.registry import ModelSet
from consumer.settings import Settings
from schemas import FeatureEvent


def timed_loop(
    call: Callable[[], object], seconds: float, min_calls: int = 3
) -> tuple[int, float, float]:
    """Call ``call`` repeatedly for about ``seconds`` (at least ``min_calls`` times).
    Returns (calls, elapsed seconds, CPU seconds of this thread)."""
    calls = 0
    started, cpu = time.perf_counter(), time.thread_time()
    while calls < min_calls or time.perf_counter() - started < seconds:
        call()
        calls += 1
    return calls, time.perf_counter() - started, time.thread_time() - cpu


def _per_s(count: float, seconds: float, digits: int = 1) -> float | None:
    return round(count / seconds, digits) if seconds > 0 else None


# -- models --------------------------------------------------------------------------------


def model_limits(
    models: ModelSet,
    events: Sequence[FeatureEvent],
    activity: Sequence[FeatureEvent],
    batch_sizes: Sequence[int],
    pat_batches: Sequence[int],
    seconds: float,
) -> dict[str, Any]:
    """Booster trio rows/s and PAT sequences/s at the given batch sizes (warmed up first)."""
    for model in models.all():
        model.warmup()
    features = _tile(feature_matrix(events, range(len(events))), max(batch_sizes))
    trio: dict[str, Any] = {}
    for size in batch_sizes:
        batch = np.ascontiguousarray(features[:size])
        calls, elapsed, cpu = timed_loop(functools.partial(_trio, models, batch), seconds)
        trio[f"batch_{size}"] = {
            "rows_per_s": _per_s(calls * size, elapsed),
            "rows_per_cpu_s": _per_s(calls * size, cpu),
            "calls": calls,
            "seconds": round(elapsed, 3),
        }
    pat: dict[str, Any] = {}
    if models.pat is not None and activity:
        weeks = _tile(activity_matrix(activity, range(len(activity))), max(pat_batches))
        for size in pat_batches:
            batch = np.ascontiguousarray(weeks[:size])
            call = functools.partial(models.pat.predict_batch, batch)
            calls, elapsed, cpu = timed_loop(call, seconds)
            pat[f"batch_{size}"] = {
                "sequences_per_s": _per_s(calls * size, elapsed, 2),
                "sequences_per_cpu_s": _per_s(calls * size, cpu, 2),
                "calls": calls,
                "seconds": round(elapsed, 3),
            }
    return {
        "booster_trio": trio,
        "pat": pat,
        "boosters": [m.name for m in models.boosters],
        "booster_trees": {m.name: m.trees for m in models.boosters},
        "pat_size": models.pat.config.size if models.pat is not None else None,
    }


def _trio(models: ModelSet, batch: npt.NDArray[np.float32]) -> None:
    for model in models.boosters:
        model.predict_batch(batch)


def _tile(matrix: npt.NDArray[np.float32], rows: int) -> npt.NDArray[np.float32]:
    repeats = -(-rows // len(matrix))
    return np.tile(matrix, (repeats, 1))[:rows]


# -- decode --------------------------------------------------------------------------------


def decode_rate(values: Sequence[bytes], max_bytes: int, seconds: float) -> dict[str, Any]:
    """decode_event over ``values`` in turn, for about ``seconds``: events/s."""
    if not values:
        return {"events_per_s": None, "events": 0, "mean_bytes": None}
    for value in values:  # warm up (first-call costs in pydantic-core)
        decode_event(value, max_bytes=max_bytes)
    count = 0
    started, cpu = time.perf_counter(), time.thread_time()
    while count < len(values) or time.perf_counter() - started < seconds:
        for value in values:
            decode_event(value, max_bytes=max_bytes)
        count += len(values)
    elapsed, cpu = time.perf_counter() - started, time.thread_time() - cpu
    return {
        "events_per_s": _per_s(count, elapsed),
        "events_per_cpu_s": _per_s(count, cpu),
        "events": count,
        "mean_bytes": round(sum(map(len, values)) / len(values), 1),
    }


# -- Kafka passthrough ---------------------------------------------------------------------


def passthrough(
    settings: Settings,
    bootstrap: str,
    client: dict[str, Any],
    topics: tuple[str, str],
    records: Sequence[Record],
    count: int,
    out_value: bytes,
) -> dict[str, Any]:
    """consume → produce (one prediction-sized record per event) → commit, with no model.

    ``topics`` is (input, sink). Preloads ``count`` records into the input topic, then
    runs a plain loop with the service's own consumer and producer configs and commit
    policy; timed from the first consumed message to the last commit.
    """
    source, sink = topics
    produce_records(timed_producer(client), source, cycle(records), count)
    group = f"bench-passthrough-{time.monotonic_ns()}"
    kafka = settings.kafka.model_copy(update={"group_id": group})
    ours = settings.model_copy(update={"kafka": kafka})
    consumer = Consumer(dict(consumer_config(ours, bootstrap)))
    producer = Producer(dict(producer_config(ours, bootstrap, 0)))
    try:
        cpu = time.process_time()  # every thread of this process: librdkafka's included
        elapsed = _passthrough_loop(consumer, producer, ours, (source, sink), count, out_value)
        cpu = time.process_time() - cpu
    finally:
        consumer.close()
    return {
        "events_per_s": _per_s(count, elapsed),
        "events_per_cpu_s": _per_s(count, cpu),
        "events": count,
        "seconds": round(elapsed, 3),
        "out_bytes": len(out_value),
    }


def _passthrough_loop(
    consumer: Consumer,
    producer: Producer,
    settings: Settings,
    topics: tuple[str, str],
    count: int,
    out_value: bytes,
) -> float:
    acked: dict[int, int] = {}

    def delivered(partition: int, offset: int, err: Any, _msg: Any) -> None:
        if err is None and offset >= acked.get(partition, -1):
            acked[partition] = offset

    consumer.subscribe([topics[0]])
    processing = settings.processing
    policy = CommitPolicy(processing.commit_interval_s, processing.commit_every_messages)
    seen, since_commit, started, last_commit = 0, 0, 0.0, time.monotonic()
    while seen < count:
        messages = consumer.consume(num_messages=processing.max_batch_size, timeout=0.1)
        for msg in messages:
            if msg.error() is not None:
                continue
            started = started or time.monotonic()
            callback = functools.partial(delivered, msg.partition() or 0, msg.offset() or 0)
            produce_waiting(
                producer, topics[1], key=msg.key(), value=out_value, on_delivery=callback
            )
            seen += 1
            since_commit += 1
        producer.poll(0)
        now = time.monotonic()
        if policy.due(now, last_commit, since_commit):
            _commit(consumer, topics[0], acked)
            last_commit, since_commit = now, 0
    producer.flush(60)
    _commit(consumer, topics[0], acked)
    return time.monotonic() - started


def _commit(consumer: Consumer, topic: str, acked: dict[int, int]) -> None:
    if not acked:
        return
    offsets = [TopicPartition(topic, p, o + 1) for p, o in acked.items()]
    with contextlib.suppress(KafkaException):  # retried at the next commit, as the service does
        consumer.commit(offsets=offsets, asynchronous=False)

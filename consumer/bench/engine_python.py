"""The engine's own Python per event, apart from Kafka and the models (issue 25 item 2).

``python -m consumer.bench.engine_python --events 16384``: the peers bench's features-only
backlog (:func:`consumer.bench.peer_backlog.backlog_records`) taken in micro-batches by the real
pipeline, in-flight ledger (per-key order), at-least-once publisher and metrics, over
in-process stand-ins: messages already fetched, a producer that acknowledges every record
at the next poll, a consumer whose commits succeed, and models that answer at once with
random scores (three booster lanes on an inline pool). Prints, per event, the loop's CPU
(thread time) of a batch from ``Pipeline.start`` to its commit (median and least of the
batches) and, apart, the freeing of a finished batch.

What it leaves out is librdkafka (fetch, ``produce``, delivery reports, compression) and the
boosters: ``python -m consumer.bench.engine_cost`` measures the whole worker on a real
broker. This one is steady (no broker, no other thread), so a change of a few tenths of a
µs shows; it was the instrument of issue 25's rounds 5 and 6 (BENCHMARKS.md). Blocks for
the run; raises nothing of its own.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

BOOSTERS = ("depression", "hypomania", "mania")
TOPIC = "mood.features.v1"
PARTITIONS = 6


@dataclass(frozen=True)
class _Message:
    """What the pipeline reads of a confluent-kafka message."""

    _value: bytes
    _offset: int
    _partition: int
    _key: bytes

    def topic(self) -> str:
        return TOPIC

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return self._key

    def value(self) -> bytes:
        return self._value

    def error(self) -> None:
        return None


class _InstantModel:
    """A booster stand-in: random scores at once."""

    def __init__(self, name: str) -> None:
        self.name, self.version = name, f"{name}-inproc"
        self._rng = np.random.default_rng(25)

    def predict_batch(self, inputs: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        return self._rng.random(len(inputs))


class _InlinePool:
    """Runs each call when it is submitted."""

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_result(fn(*args))
        return future


class _AckingProducer:
    """Acknowledges every record at the next poll or flush."""

    def __init__(self) -> None:
        self._reports: list[Callable[..., None]] = []
        self.records = 0

    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        partition: int,
        callback: Callable[..., None],
        on_delivery: None,
        timestamp: int,
        headers: Any,
        /,
    ) -> None:
        self._reports.append(callback)
        self.records += 1

    def poll(self, _timeout: float = 0, /) -> int:
        reports, self._reports = self._reports, []
        for report in reports:
            report(None, None)
        return len(reports)

    def flush(self, timeout: float = 0, /) -> int:
        self.poll(timeout)
        return 0


class _CommittingConsumer:
    def commit(self, *, offsets: list[Any], asynchronous: Literal[False]) -> None:
        return None


def backlog_batches(events: int, batch: int) -> list[list[_Message]]:
    """The backlog as fetched messages, ``batch`` a micro-batch, offsets per partition."""
    from consumer.bench.peer_backlog import backlog_records

    offsets = [0] * PARTITIONS
    messages = []
    for key, value in backlog_records(events):
        partition = hash(key) % PARTITIONS
        messages.append(_Message(value, offsets[partition], partition, key))
        offsets[partition] += 1
    return [messages[start : start + batch] for start in range(0, len(messages), batch)]


def measure(events: int, batch: int, rounds: int) -> dict[str, Any]:
    """``rounds`` passes over the backlog (see the module's docstring): µs per event."""
    from prometheus_client import CollectorRegistry

    from consumer.clock import SystemClock
    from consumer.engine.batch_records import Polled
    from consumer.engine.delivery import AtLeastOnce
    from consumer.engine.inflight import InFlight
    from consumer.engine.offsets import CommitPolicy
    from consumer.engine.ordering import KeySequencer
    from consumer.engine.pipeline import Pipeline
    from consumer.engine.recorder import Recorder
    from consumer.ensemble.admission import LaneAdmission, SpeedEstimate
    from consumer.ensemble.lanes import ModelLane
    from consumer.ensemble.scoring import Ensemble
    from consumer.observability.metrics import Metrics
    from consumer.service.worker import WORKER_GC_THRESHOLDS
    from consumer.settings import Settings

    clock, settings = SystemClock(), Settings()
    metrics = Metrics(CollectorRegistry(), models=BOOSTERS)
    lanes = [  # each with room for a whole batch: the models answer at once
        ModelLane(
            _InstantModel(name), _InlinePool(), 5.0, clock, LaneAdmission(2.5, SpeedEstimate(1e-6))
        )
        for name in BOOSTERS
    ]
    ensemble = Ensemble(lanes, None, settings.ensemble, clock)
    pipeline = Pipeline(ensemble, settings, clock)
    producer = _AckingProducer()
    processing = settings.processing
    policy = CommitPolicy(processing.commit_interval_s, processing.commit_every_messages)
    publisher = AtLeastOnce(producer, _CommittingConsumer(), clock, policy, metrics)
    in_flight = InFlight(
        pipeline, ensemble, publisher, clock, Recorder(metrics), lambda: None, KeySequencer()
    )
    batches = backlog_batches(events, batch)
    gc.freeze()
    gc.set_threshold(*WORKER_GC_THRESHOLDS)
    per_event, freeing = [], []
    for _ in range(rounds):
        for messages in batches:
            begun = time.thread_time()
            now = clock.monotonic()
            started = pipeline.start([Polled(message, now) for message in messages])
            in_flight.add(started)
            in_flight.advance()
            publisher.poll()
            publisher.maybe_commit(clock.monotonic())
            ended = time.thread_time()
            del started  # the batch is out: its objects are freed here
            per_event.append((ended - begun) / len(messages) * 1e6)
            freeing.append((time.thread_time() - ended) / len(messages) * 1e6)
    return {
        "events": events,
        "batch": batch,
        "rounds": rounds,
        "records": producer.records,
        "loop_us_median": round(statistics.median(per_event), 2),
        "loop_us_least": round(min(per_event), 2),
        "freeing_us_median": round(statistics.median(freeing), 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m consumer.bench.engine_python")
    parser.add_argument("--events", type=int, default=16_384)
    parser.add_argument("--batch", type=int, default=2_048)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    # metrics in shared memory, as in a worker (read when prometheus_client is imported)
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="inproc-"))
    print(json.dumps(measure(args.events, args.batch, args.rounds)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

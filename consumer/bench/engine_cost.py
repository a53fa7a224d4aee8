"""The engine's own CPU per event (issue 25 item 2), reproducibly.

``python -m consumer.bench.engine_cost --events 40000``: the peers bench's features-only
backlog (:func:`consumer.bench.peer_backlog.backlog_records`) produced on a fresh 6-partition
topic set before ``moodstream run --workers 1`` starts; each of the worker's threads' CPU
(``/proc/<pid>/task/*/stat``, user + system) read when the worker logs ``group_settled``
and again once every prediction has been read back. Printed as µs of CPU per event: the
whole worker, its booster pool thread (its busiest thread other than the loop and
librdkafka's), the loop thread, librdkafka's threads, and the engine's own (the worker
less the booster thread: what the engine costs on top of scoring); also the alerts the
run published by kind (a prediction slower than ``ENSEMBLE__SLOW_BUDGET_S`` since it was
polled costs its alert: a run that has them costs more), and the events per second
from the group's settling to the last prediction read. Uses
``KAFKA__BOOTSTRAP_SERVERS``, else the local broker (started if needed). Blocks for the
run; raises BenchError or KafkaSetupError.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer
from prometheus_client.parser import text_string_to_metric_families

from consumer.bench.kafkaio import TopicRegistry, produce_records, timed_producer
from consumer.bench.machine import cpu_model, load_average
from consumer.bench.peer_backlog import backlog_records
from consumer.bench.service import BenchError, Service, free_port, service_env
from consumer.errors import KafkaSetupError
from consumer.settings import Settings, TopicSettings

#: thread id → (CPU seconds, thread name)
ThreadTimes = dict[int, tuple[float, str]]
RDKAFKA_PREFIX = "rdk:"
TIMEOUT_S = 600.0
TOPIC_TRIES = 5
TOPIC_RETRY_S = 3.0


@dataclass(frozen=True)
class EngineCost:
    """µs of CPU per event, by part of the worker."""

    events: int
    worker_us: float
    booster_us: float
    loop_us: float
    rdkafka_us: float
    own_us: float


def read_threads(pid: int) -> ThreadTimes:
    """Each live thread's user + system CPU seconds and name. Raises nothing (a thread
    that ends while read is left out)."""
    tick = os.sysconf("SC_CLK_TCK")
    found: ThreadTimes = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            name = (task / "comm").read_text().strip()
        except OSError:
            continue
        found[int(task.name)] = ((int(fields[11]) + int(fields[12])) / tick, name)
    return found


def engine_cost(start: ThreadTimes, end: ThreadTimes, loop_tid: int, events: int) -> EngineCost:
    """The split of the CPU used between two readings over ``events`` events (pure).
    ``loop_tid``: the worker's main thread (its pid). Raises ValueError when no event."""
    if events <= 0:
        raise ValueError("no event to divide by")
    used = {tid: (cpu - start.get(tid, (0.0, name))[0], name) for tid, (cpu, name) in end.items()}
    total = sum(cpu for cpu, _ in used.values())
    rdkafka = sum(cpu for cpu, name in used.values() if name.startswith(RDKAFKA_PREFIX))
    others = [
        cpu
        for tid, (cpu, name) in used.items()
        if tid != loop_tid and not name.startswith(RDKAFKA_PREFIX)
    ]
    booster = max(others, default=0.0)
    loop = used.get(loop_tid, (0.0, ""))[0]

    def per_event(seconds: float) -> float:
        return round(seconds / events * 1e6, 1)

    return EngineCost(
        events,
        per_event(total),
        per_event(booster),
        per_event(loop),
        per_event(rdkafka),
        per_event(total - booster),
    )


def measure(settings: Settings, bootstrap: str, events: int, log_dir: Path) -> dict[str, Any]:
    """One run (see the module's docstring): the figures, the machine and its load."""
    client = {"bootstrap.servers": bootstrap}
    registry = TopicRegistry(dict(client))
    log_dir.mkdir(parents=True, exist_ok=True)
    load_before = load_average()
    try:
        topics = _topics(registry)
        records = iter(backlog_records(events))
        produce_records(timed_producer(client), topics.features, records, events)
        group = f"engine-cost-{uuid.uuid4().hex[:6]}"
        env = service_env(settings, bootstrap, topics, group, free_port())
        service = Service(env, 1, log_dir / f"{group}.log")
        cost, metrics, drained_s = _drain(service, client, topics.predictions, events)
    finally:
        registry.delete_all()
    machine = {"cpu": cpu_model(), "load_before": load_before, "load_after": load_average()}
    figures = {
        "events_per_s": round(events / drained_s),
        "mean_rows": mean_rows(metrics),
        "alerts": alert_counts(metrics),
    }
    return {**asdict(cost), **figures, **machine}


def _topics(registry: TopicRegistry) -> TopicSettings:
    """A fresh topic set; retried while a broker just started still fences itself."""
    for attempt in range(1, TOPIC_TRIES):
        try:  # a new name each try: some topics of a failed set may exist
            return registry.topic_set(f"engine-cost-{attempt}")
        except KafkaSetupError:
            time.sleep(TOPIC_RETRY_S)
    return registry.topic_set(f"engine-cost-{TOPIC_TRIES}")


def mean_rows(metrics: str) -> dict[str, float]:
    """Mean events per micro-batch and rows per model call, by model, from a /metrics page
    (pure; what is absent is left out)."""
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics):
        if family.name not in ("moodstream_batch_size", "moodstream_model_call_rows"):
            continue
        for sample in family.samples:
            key = sample.labels.get("model", "micro_batch")
            if sample.name.endswith("_sum"):
                sums[key] = sums.get(key, 0.0) + sample.value
            elif sample.name.endswith("_count"):
                counts[key] = counts.get(key, 0.0) + sample.value
    return {key: round(sums[key] / counts[key], 1) for key in sums if counts.get(key)}


def alert_counts(metrics: str) -> dict[str, int]:
    """Alerts published by kind, from a /metrics page (pure; kinds at 0 left out): a slow
    prediction takes the per-event way, with its reason and alert, so it costs more."""
    return {
        sample.labels["kind"]: int(sample.value)
        for family in text_string_to_metric_families(metrics)
        if family.name == "moodstream_alerts_published"
        for sample in family.samples
        if sample.name.endswith("_total") and sample.value
    }


def _drain(
    service: Service, client: dict[str, Any], predictions: str, events: int
) -> tuple[EngineCost, str, float]:
    group = f"engine-cost-r-{uuid.uuid4().hex[:6]}"
    reader = Consumer({**client, "group.id": group, "auto.offset.reset": "earliest"})
    reader.subscribe([predictions])
    deadline = time.monotonic() + TIMEOUT_S
    try:
        worker = _wait(service, deadline, lambda: b"group_settled" in service.log_path.read_bytes())
        start, seen, began = read_threads(worker), 0, time.monotonic()
        while seen < events and time.monotonic() < deadline and service.alive():
            seen += sum(1 for m in reader.consume(1000, 0.05) if m.error() is None)
        if seen < events:
            raise BenchError(f"{seen} of {events} predictions read: {service.log_tail()}")
        drained_s = time.monotonic() - began
        cost = engine_cost(start, read_threads(worker), worker, seen)
        return cost, service.metrics_text(), drained_s
    finally:
        service.stop()
        reader.close()


def _wait(service: Service, deadline: float, settled: Callable[[], bool]) -> int:
    """The worker's pid once the worker's group has settled. Raises BenchError."""
    while time.monotonic() < deadline and service.alive():
        workers = service.worker_pids()
        if workers and settled():
            return workers[0]
        time.sleep(0.005)
    raise BenchError(f"the worker did not settle: {service.log_tail()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m consumer.bench.engine_cost")
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--logs", type=Path, default=Path("bench-results/engine-cost-logs"))
    args = parser.parse_args(argv)
    settings = Settings()
    configured = settings.kafka.bootstrap_servers.strip()
    if configured:
        print(json.dumps(measure(settings, configured, args.events, args.logs)))
        return 0
    from consumer.localkafka.broker import LocalBroker

    with LocalBroker(settings.broker).shared() as info:
        print(json.dumps(measure(settings, info.bootstrap_servers, args.events, args.logs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

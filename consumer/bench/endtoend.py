"""moodstream end to end: drain throughput, latency under a paced load, memory.

For one workload and worker count, on a fresh topic set: pre-load a backlog of K events,
start ``moodstream run --workers N``, wait for /readyz, and time the drain from the first
prediction to the last (broker timestamps). Then, with the service still running, send
paced loads at given fractions of that sustained rate and measure each event's latency
from its CreateTime to its prediction's LogAppendTime (see ``consumer.bench.kafkaio``).
PSS is sampled after the drain and after the paced loads. Blocks for the whole run.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from consumer.bench.kafkaio import (
    DeliveryLog,
    PredictionReader,
    Record,
    TopicRegistry,
    cycle,
    produce_records,
    timed_producer,
    wait_group_stable,
)
from consumer.bench.report import drain_rate, latency_summary
from consumer.bench.service import BenchError, Service, free_port, service_env
from consumer.bench.workload import Workload
from consumer.settings import Settings

MIN_PACED_EVENTS = 20
GROUP_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class BenchContext:
    settings: Settings
    bootstrap: str
    client: dict[str, Any]  # librdkafka connection config (client_config)
    topics: TopicRegistry
    log_dir: Path
    progress: Callable[[str], None]


@dataclass(frozen=True)
class EndToEndPlan:
    backlog: int  # 0: no drain (a paced-only run, e.g. for memory)
    latency_s: float  # duration of each paced load
    loads: Sequence[float] = (0.5, 0.9)
    rate_per_s: float | None = None  # what the loads are fractions of (default: the drain's)
    max_rate_per_s: float | None = None  # that rate at most (None: uncapped)
    env: Mapping[str, str] = field(default_factory=dict)  # extra settings of the service
    tag: str = ""  # appended to the configuration's label (its topics and log file)


def run_config(
    ctx: BenchContext, workload: Workload, workers: int, plan: EndToEndPlan
) -> dict[str, Any]:
    """One configuration, start to stop. Raises BenchError when the service fails."""
    label = f"{workload.name}-w{workers}{plan.tag}"
    topics = ctx.topics.topic_set(label)
    records = cycle(workload.records)
    producer = timed_producer(ctx.client)
    reader = PredictionReader(ctx.client, topics.predictions)
    group = f"bench-{label}-{uuid.uuid4().hex[:6]}"
    env = {**service_env(ctx.settings, ctx.bootstrap, topics, group, free_port()), **plan.env}
    service = Service(env, workers, ctx.log_dir / f"service-{label}.log")
    result: dict[str, Any] = {"workers": workers, "backlog_events": plan.backlog}
    try:
        result["startup_s"] = round(service.wait_ready(), 2)
        result["group_settled_s"] = round(
            wait_group_stable(
                ctx.client, group, workers, topics.features, GROUP_TIMEOUT_S, service.alive
            ),
            2,
        )
        if plan.backlog:
            # produced far faster than consumed: a backlog, once every worker owns partitions
            cpu_before = service.cpu_seconds()
            backlog = produce_records(producer, topics.features, records, plan.backlog)
            result.update(_timed_drain(reader, service, backlog, cpu_before))
            ctx.progress(f"  {label}: {result['sustained_events_per_s']} events/s sustained")
            result["memory_after_drain"] = service.memory()
        rate = plan.rate_per_s or result.get("sustained_events_per_s")
        if rate and plan.max_rate_per_s:
            rate = min(float(rate), plan.max_rate_per_s)
        paced = _Paced(producer, topics.features, records, reader, service)
        result["latency"] = {}
        for load in plan.loads if rate else ():
            key = f"load_{round(load * 100)}"
            result["latency"][key] = figures = paced.run(load, float(rate or 0), plan.latency_s)
            ctx.progress(
                f"    {key} ({figures['target_events_per_s']}/s): p50 "
                f"{figures['p50_ms']} ms, p99 {figures['p99_ms']} ms"
            )
        result["memory"] = service.memory()
    finally:
        result["exit_code"] = service.stop()
        reader.close()
    result["duplicates"] = reader.duplicates
    result["partial"] = reader.partial
    return result


def _timed_drain(
    reader: PredictionReader, service: Service, backlog: DeliveryLog, cpu_before: float
) -> dict[str, Any]:
    """The drain's figures, plus every backlog event answered over the workers' CPU seconds
    from just before the backlog was produced (``cpu_before``, the workers idle) to the
    last prediction. Counting from the first prediction seen instead undercounted a mixed
    backlog: the workers read it ahead and answer its cheap features-only events within
    the first second, so a varying share of them fell before the count started while the
    costly PAT tail was all counted (BENCHMARKS.md, "Mixed at the limit")."""
    keys = set(backlog.create_ms)
    result = _drain(reader, service, backlog)
    cpu_s = service.cpu_seconds() - cpu_before
    events = len(reader.append_ms.keys() & keys)
    result["drain_worker_cpu_s"] = round(cpu_s, 2)
    result["events_per_worker_cpu_s"] = round(events / cpu_s, 1) if cpu_s > 0 else None
    return result


def _drain(reader: PredictionReader, service: Service, backlog: DeliveryLog) -> dict[str, Any]:
    keys = set(backlog.create_ms)
    count = len(keys)
    missing = reader.wait_for(keys, timeout_s=60.0 + count / 20.0, alive=service.alive)
    if missing == len(keys):
        raise BenchError(f"no prediction for the backlog: {service.log_tail()}")
    stamps = [reader.append_ms[key] for key in keys if key in reader.append_ms]
    sustained, seconds = drain_rate(stamps)
    latencies = [
        reader.append_ms[k] - ts for k, ts in backlog.create_ms.items() if k in reader.append_ms
    ]
    return {
        "sustained_events_per_s": round(sustained, 1) if sustained is not None else None,
        "drain_seconds": round(seconds, 3),
        "drain_reliable": seconds >= 1.0,
        "drain_missing": missing,
        "drain_latency_max_ms": max(latencies) if latencies else None,
    }


@dataclass
class _Paced:
    producer: Producer
    topic: str
    records: Iterator[Record]
    reader: PredictionReader
    service: Service

    def run(self, load: float, sustained: float, seconds: float) -> dict[str, Any]:
        """Send ``load * sustained`` events/s for ``seconds``; latency of each."""
        target = load * sustained
        count = max(MIN_PACED_EVENTS, int(target * seconds))
        log = produce_records(self.producer, self.topic, self.records, count, target)
        missing = self.reader.wait_for(
            set(log.create_ms), timeout_s=30.0 + seconds * 3, alive=self.service.alive
        )
        append_ms = self.reader.append_ms
        latencies = [float(append_ms[k] - ts) for k, ts in log.create_ms.items() if k in append_ms]
        stamps = sorted(log.create_ms.values())
        span_s = (stamps[-1] - stamps[0]) / 1000.0 if len(stamps) > 1 else 0.0
        time.sleep(0.5)  # let the service idle between loads
        return {
            "load": load,
            "target_events_per_s": round(target, 1),
            "achieved_events_per_s": round((len(stamps) - 1) / span_s, 1) if span_s else None,
            "missing": missing,
            **latency_summary(latencies),
        }

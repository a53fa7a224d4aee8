"""The whole benchmark in one run: limits, baseline, moodstream end to end, memory, ratios.

``run_suite`` blocks for the run (about 2.5 min ``quick``, 6-8 min ``full``, under a
minute ``smoke`` on 2 cores), deletes its topics at the end even on failure, and returns
the result document (see ``consumer.bench.report.check_shape``). Raises BenchError or
KafkaSetupError when something cannot be measured.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from consumer.bench import report
from consumer.bench.baseline import handle_one, run_baseline
from consumer.bench.endtoend import BenchContext, EndToEndPlan, run_config
from consumer.bench.kafkaio import TopicRegistry
from consumer.bench.limits import decode_rate, model_limits, passthrough
from consumer.bench.machine import load_average, machine_info
from consumer.bench.workload import Workload, build_workload
from consumer.decode import decode_event
from consumer.models.registry import ModelSet
from consumer.settings import Settings

WORKLOAD_NAMES = report.WORKLOADS


@dataclass(frozen=True)
class Plan:
    """How much of everything a mode measures."""

    mode: str
    pool: dict[str, int]
    passthrough: dict[str, int]
    model_s: float
    decode_s: float
    backlog: dict[str, int]
    latency_s: float
    baseline_s: float
    workers: tuple[int, ...] = (1, 2)
    memory_workers: tuple[int, ...] = (1, 2, 4)
    memory_backlog: int = 600
    trio_batches: tuple[int, ...] = (1, 64, 256, 512)
    loads: tuple[float, ...] = (0.5, 0.9)
    notes: list[str] = field(default_factory=list)


PLANS = {
    "full": Plan("full", pool={"features_only": 3000, "mixed": 1000},
                 passthrough={"features_only": 20_000, "mixed": 5000}, model_s=3.0, decode_s=2.0,
                 backlog={"features_only": 30_000, "mixed": 2500}, latency_s=15.0,
                 baseline_s=10.0, memory_backlog=1000),
    "quick": Plan("quick", pool={"features_only": 1500, "mixed": 500},
                  passthrough={"features_only": 5000, "mixed": 1000}, model_s=1.0, decode_s=0.5,
                  backlog={"features_only": 6000, "mixed": 1000}, latency_s=4.0, baseline_s=3.0,
                  memory_backlog=300, trio_batches=(1, 512)),
    "smoke": Plan("smoke", pool={"features_only": 300, "mixed": 200},
                  passthrough={"features_only": 1000, "mixed": 300}, model_s=0.2, decode_s=0.1,
                  backlog={"features_only": 1500, "mixed": 600}, latency_s=1.5, baseline_s=1.0,
                  workers=(1,), memory_workers=(1,), trio_batches=(1, 512)),
}


def run_suite(settings: Settings, bootstrap: str, client: dict[str, Any], models: ModelSet,
              plan: Plan, progress: Any, command: str) -> dict[str, Any]:
    """Run every measurement of ``plan``; return the result document."""
    started_at = datetime.now(UTC)
    began = time.monotonic()
    doc: dict[str, Any] = {"schema": report.SCHEMA, "mode": plan.mode, "command": command,
                           "started_at": started_at.isoformat(timespec="seconds"),
                           "machine": machine_info(settings.broker.kafka_version)}
    doc["config"] = _config(settings, plan)
    progress("generating workloads")
    workloads = {name: build_workload(name, plan.pool[name]) for name in WORKLOAD_NAMES}
    doc["workloads"] = {name: w.describe() for name, w in workloads.items()}
    registry = TopicRegistry(client)
    doc["run_id"] = registry.run_id  # topics are bench.<run_id>.*
    with tempfile.TemporaryDirectory(prefix="moodstream-bench-") as logs:
        ctx = BenchContext(settings, bootstrap, client, registry, Path(logs), progress)
        try:
            doc["limits"], doc["baseline"] = _limits_and_baseline(ctx, models, workloads, plan)
            doc["moodstream"], doc["memory"] = _end_to_end(ctx, workloads, plan)
        finally:
            registry.delete_all()
    doc["machine"]["load_avg_end"] = load_average()
    doc["ratios"] = report.ratios(doc)
    doc["targets"] = report.targets(doc)
    doc["definitions"] = DEFINITIONS
    doc["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    doc["duration_s"] = round(time.monotonic() - began, 1)
    return doc


def _config(settings: Settings, plan: Plan) -> dict[str, Any]:
    processing, models = settings.processing, settings.models
    return {
        **{k: v for k, v in asdict(plan).items() if k != "notes"},
        "max_batch_size": processing.max_batch_size,
        "max_batch_wait_ms": processing.max_batch_wait_ms,
        "guarantee": processing.guarantee.value,
        "xgboost_threads": models.xgboost_threads,
        "torch_threads": models.torch_threads,
        "pat_sub_batch_size": models.pat_sub_batch_size,
        "models_dir": str(models.dir.resolve()),
        "partitions": 6,
    }


def _limits_and_baseline(ctx: BenchContext, models: ModelSet, workloads: dict[str, Workload],
                         plan: Plan) -> tuple[dict[str, Any], dict[str, Any]]:
    settings = ctx.settings
    sample = handle_one(settings, models, _Sample(workloads["features_only"].records[0][1]))
    assert sample is not None
    limits: dict[str, Any] = {"passthrough": {}, "decode": {}}
    baseline: dict[str, Any] = {}
    for name, workload in workloads.items():
        topics = (f"bench.{ctx.topics.run_id}.{name}.in", f"bench.{ctx.topics.run_id}.{name}.sink",
                  f"bench.{ctx.topics.run_id}.{name}.baseline")
        ctx.topics.create(topics)
        ctx.progress(f"limit: Kafka passthrough, {name}")
        limits["passthrough"][name] = passthrough(
            settings, ctx.bootstrap, ctx.client, topics[:2], workload.records,
            plan.passthrough[name], out_value=b" " * len(sample))
        ctx.progress(f"baseline: per-request design, {name}")
        baseline[name] = run_baseline(settings, ctx.bootstrap, models, (topics[0], topics[2]),
                                      plan.passthrough[name], plan.baseline_s)
    ctx.progress("limits: models alone, decode alone")
    limits["models"] = _model_limits(settings, models, workloads, plan)
    limits["decode"] = _decode_limits(settings, workloads, plan)
    limits["per_workload"] = {name: _workload_limits(limits, w) for name, w in workloads.items()}
    return limits, baseline


def _model_limits(settings: Settings, models: ModelSet, workloads: dict[str, Workload],
                  plan: Plan) -> dict[str, Any]:
    max_bytes = settings.processing.max_message_bytes
    events = [decode_event(v, max_bytes=max_bytes)
              for _, v in workloads["features_only"].records[:512]]
    weeks = [decode_event(v, max_bytes=max_bytes)
             for v in workloads["mixed"].values_where(activity=True)[:16]]
    pat_batches = tuple(sorted({1, settings.models.pat_sub_batch_size}))
    return model_limits(models, events, weeks, plan.trio_batches, pat_batches, plan.model_s)


def _decode_limits(settings: Settings, workloads: dict[str, Workload],
                   plan: Plan) -> dict[str, Any]:
    max_bytes = settings.processing.max_message_bytes
    mixed = workloads["mixed"]
    return {
        "features_event": decode_rate(workloads["features_only"].values_where(activity=False),
                                      max_bytes, plan.decode_s),
        "activity_event": decode_rate(mixed.values_where(activity=True), max_bytes, plan.decode_s),
        **{name: decode_rate([v for _, v in w.records], max_bytes, plan.decode_s)
           for name, w in workloads.items()},
    }


def _workload_limits(limits: dict[str, Any], workload: Workload) -> dict[str, Any]:
    """The workload's limits, each model at its best measured batch size."""
    models = limits["models"]
    return report.workload_limits(
        passthrough=limits["passthrough"][workload.name]["events_per_s"],
        decode=limits["decode"][workload.name]["events_per_s"],
        trio_rows_per_s=report.best(models["booster_trio"], "rows_per_s"),
        pat_sequences_per_s=report.best(models["pat"], "sequences_per_s"),
        feature_share=workload.feature_share,
        activity_share=workload.activity_share,
    )


def _end_to_end(ctx: BenchContext, workloads: dict[str, Workload],
                plan: Plan) -> tuple[dict[str, Any], dict[str, Any]]:
    runs: dict[str, Any] = {name: {} for name in workloads}
    for name, workload in workloads.items():
        for workers in plan.workers:
            ctx.progress(f"moodstream end to end: {name}, {workers} worker(s)")
            e2e = EndToEndPlan(plan.backlog[name], plan.latency_s, plan.loads)
            runs[name][f"workers_{workers}"] = run_config(ctx, workload, workers, e2e)
    memory: dict[str, Any] = {}
    for workers in plan.memory_workers:
        run = runs["mixed"].get(f"workers_{workers}")
        if run is None:
            ctx.progress(f"memory: mixed workload, {workers} workers")
            run = run_config(ctx, workloads["mixed"], workers,
                             EndToEndPlan(plan.memory_backlog, 0.0, ()))
            memory[f"workers_{workers}_run"] = {k: v for k, v in run.items() if k != "latency"}
        memory[f"workers_{workers}"] = {"workload": "mixed", **run["memory"]}
    return runs, memory


class _Sample:
    """Just enough of a Kafka message for ``handle_one`` (to size the passthrough record)."""

    def __init__(self, value: bytes) -> None:
        self._value = value

    def value(self) -> bytes:
        return self._value

    def topic(self) -> str:
        return "sample"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return 0


DEFINITIONS = {
    "sustained_events_per_s": "drain of a pre-loaded backlog by `moodstream run --workers N`: "
    "predictions appended after the first one / time from the first prediction to the last "
    "(broker LogAppendTime of the prediction records)",
    "events_per_worker_cpu_s": "backlog events / CPU seconds (user + system, all threads) the "
    "workers used during the drain: throughput per core, less sensitive to a shared machine",
    "latency": "per event: input record CreateTime (set by the bench producer, librdkafka, "
    "linger 5 ms) to its prediction record's LogAppendTime (the broker appended = "
    "acknowledged it); paced loads at 50% and 90% of the sustained rate, same machine clock",
    "limits": "each part alone in the bench process, 1 thread (the configured caps); a "
    "model's limit is its best measured batch size: Kafka "
    "passthrough = consume, produce one prediction-sized record, commit (service configs "
    "and commit policy, no model); booster trio rows/s = 3 x inplace_predict on float32 "
    "(n,36); PAT sequences/s; decode = decode_event (orjson + pydantic)",
    "per_workload_limit": "a model's rate / the share of events it scores; tightest = the "
    "smallest stage limit; serial_bound = 1 / sum(1/limit) (everything on one core)",
    "baseline": "per-request design: one event at a time, a new ThreadPoolExecutor per "
    "event running each model with its timeout, prediction produced and flushed before the "
    "next event; no commit",
    "ratios": "moodstream with 1 worker / baseline, and / the workload's tightest limit; "
    "mixed.vs_pat_limit = / the PAT-M limit in events/s",
    "memory": "PSS from /proc/<pid>/smaps_rollup after the paced loads (mixed workload); "
    "total = supervisor + workers",
}

"""The whole benchmark in one run: limits, baseline, moodstream end to end, memory, ratios.

``run_suite`` blocks for the run (about 2.5 min ``quick``, 6-8 min ``full``, under a
minute ``smoke`` on 2 cores), deletes its topics at the end even on failure, and returns
the result document (see ``consumer.bench.report.check_shape``). Raises BenchError or
KafkaSetupError when something cannot be measured.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from consumer.bench import report
from consumer.bench.backlog import pat_limit, run_backlog
from consumer.bench.endtoend import BenchContext, EndToEndPlan, run_config
from consumer.bench.gpu_lane import run_gpu_lane
from consumer.bench.kafkaio import TopicRegistry
from consumer.bench.machine import load_average, machine_info
from consumer.bench.mixed_runtimes import run_mixed_runtimes
from consumer.bench.parts import measure_parts_isolated
from consumer.bench.pat_runtimes import measure_pat_runtimes
from consumer.bench.plan import Plan
from consumer.bench.windows import run_windows
from consumer.bench.workload import Workload, build_workload
from consumer.models.pat_calibrate import native_bf16
from consumer.settings import Settings

WORKLOAD_NAMES = report.WORKLOADS


def run_suite(
    settings: Settings,
    bootstrap: str,
    client: dict[str, Any],
    plan: Plan,
    progress: Callable[[str], None],
    command: str,
    log_dir: Path,
) -> dict[str, Any]:
    """Run every measurement of ``plan``; return the result document. The services' logs
    go to ``log_dir`` (one file per configuration)."""
    started_at = datetime.now(UTC)
    began = time.monotonic()
    doc: dict[str, Any] = {
        "schema": report.SCHEMA,
        "mode": plan.mode,
        "command": command,
        "started_at": started_at.isoformat(timespec="seconds"),
        "machine": machine_info(settings.broker.kafka_version),
    }
    doc["config"] = _config(settings, plan)
    progress("generating workloads")
    workloads = {name: build_workload(name, plan.pool[name]) for name in WORKLOAD_NAMES}
    doc["workloads"] = {name: w.describe() for name, w in workloads.items()}
    registry = TopicRegistry(client)
    doc["run_id"] = registry.run_id  # topics are bench.<run_id>.*
    log_dir.mkdir(parents=True, exist_ok=True)
    ctx = BenchContext(settings, bootstrap, client, registry, log_dir, progress)
    try:
        doc["limits"], doc["baseline"] = measure_parts_isolated(
            settings, bootstrap, client, registry.run_id, plan, workloads
        )
        progress("PAT runtimes, each in its own process")
        doc["pat_runtimes"] = measure_pat_runtimes(
            settings.models,
            weeks=plan.pat_weeks,
            seconds=plan.model_s,
            rounds=plan.pat_rounds,
            progress=progress,
        )
        doc["moodstream"], doc["memory"] = _end_to_end(ctx, workloads, plan)
        if plan.activity_backlog:
            limit = pat_limit(doc["limits"])
            doc["backlog"] = run_backlog(ctx, plan.activity_backlog, plan.workers, limit)
        if plan.mixed_runtimes:
            doc["mixed_runtimes"] = run_mixed_runtimes(
                ctx, plan.mixed_runtimes, doc["pat_runtimes"], native_bf16()
            )
        if plan.gpu_lane:
            doc["gpu_lane"] = run_gpu_lane(ctx, plan.gpu_lane)
        if plan.windows:
            doc["windows"] = run_windows(ctx, plan.windows)
    finally:
        registry.delete_all()
    doc["service_logs"] = str(log_dir)
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
        "pat_runtime": models.pat_runtime,
        "pat_precision": models.pat_precision,
        "models_dir": str(models.dir.resolve()),
        "partitions": 6,
    }


def _end_to_end(
    ctx: BenchContext, workloads: dict[str, Workload], plan: Plan
) -> tuple[dict[str, Any], dict[str, Any]]:
    runs: dict[str, Any] = {name: {} for name in workloads}
    for name, workload in workloads.items():
        for workers in plan.workers:
            ctx.progress(f"moodstream end to end: {name}, {workers} worker(s)")
            e2e = EndToEndPlan(
                plan.backlog[name],
                plan.latency_s,
                plan.loads,
                max_rate_per_s=plan.max_paced_rate_per_s,
            )
            runs[name][f"workers_{workers}"] = run_config(ctx, workload, workers, e2e)
    memory: dict[str, Any] = {}
    best_mixed = max(
        (r["sustained_events_per_s"] or 0.0 for r in runs["mixed"].values()), default=0.0
    )
    for workers in plan.memory_workers:
        run = runs["mixed"].get(f"workers_{workers}")
        if run is None:  # a memory-only run: paced at half the best measured mixed rate
            ctx.progress(f"memory: mixed workload, {workers} workers")
            paced = EndToEndPlan(
                0, plan.memory_s, (0.5,), best_mixed or None, plan.max_paced_rate_per_s
            )
            run = run_config(ctx, workloads["mixed"], workers, paced)
            memory[f"workers_{workers}_run"] = run
        memory[f"workers_{workers}"] = {"workload": "mixed", **run["memory"]}
    return runs, memory


DEFINITIONS = {
    "sustained_events_per_s": "drain of a backlog by `moodstream run --workers N`: predictions "
    "appended after the first one / time from the first prediction to the last (broker "
    "LogAppendTime of the prediction records). The backlog is produced (far faster than it "
    "is consumed) once the service is ready and its group is stable with every worker "
    "owning partitions, so the drain measures the steady state, not a rebalance",
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
    "mixed.vs_pat_limit = / the PAT-M limit in events/s; per_cpu_vs_serial_bound = the "
    "worker's events per CPU second / the serial bound computed from each part's events per "
    "CPU second (1.0: the service adds nothing to what its parts cost alone)",
    "per_workload_cpu": "the same limits from rates per CPU second (thread CPU time for "
    "models and decode, process CPU time for the passthrough loop, librdkafka's threads "
    "included): insensitive to other load on a shared machine",
    "pat_runtimes": "each PAT runtime alone in its own spawned process, 1 thread: sequences "
    "per CPU second (process CPU time) at batch 1 and the sub-batch, median of the rounds; "
    "max_abs_error = max |probability - torch fp32's| on the same seeded synthetic weeks; "
    "peak_rss_mb = the process's ru_maxrss (imports, model, scoring)",
    "memory": "PSS from /proc/<pid>/smaps_rollup after the paced loads (mixed workload); "
    "total = supervisor + workers",
}

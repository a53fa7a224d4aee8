"""The parts alone and the old design: limits and baseline, in a child process.

They load torch and xgboost. Run in this (the bench) process, that would make the bench
share the library pages of the service it measures, and lower the service's PSS; so
``measure_parts_isolated`` runs them in a spawned child that exits before any service
starts. Blocking.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING, Any

import orjson

from consumer.bench import report
from consumer.bench.baseline import handle_one, run_baseline
from consumer.bench.formats import format_decode_rates
from consumer.bench.kafkaio import TopicRegistry
from consumer.bench.limits import decode_rate, model_limits, passthrough
from consumer.bench.loopstep import measure_loop_step
from consumer.bench.workload import Workload
from consumer.intake.decode import decode_event
from consumer.settings import Settings

if TYPE_CHECKING:
    from consumer.bench.plan import Plan
    from consumer.models.registry import ModelSet

Doc = dict[str, Any]


def measure_parts_isolated(
    settings: Settings,
    bootstrap: str,
    client: dict[str, Any],
    run_id: str,
    plan: Plan,
    workloads: dict[str, Workload],
) -> tuple[Doc, Doc]:
    """``measure_parts`` in a spawned child process; its exceptions are raised here."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        future = pool.submit(measure_parts, settings, bootstrap, client, run_id, plan, workloads)
        return future.result()


def measure_parts(
    settings: Settings,
    bootstrap: str,
    client: dict[str, Any],
    run_id: str,
    plan: Plan,
    workloads: dict[str, Workload],
) -> tuple[Doc, Doc]:
    """Limits and baseline in this process (loads the models here). Returns (limits,
    baseline). Creates its topics under ``bench.<run_id>.`` and deletes them."""
    from consumer.bench.plan import print_progress
    from consumer.models.registry import load_model_set
    from consumer.models.threads import apply_thread_caps

    apply_thread_caps(settings.models)  # before torch/xgboost load, as in the service
    models = load_model_set(settings.models)
    topics = TopicRegistry(client, run_id)
    try:
        return _measure(
            settings, bootstrap, client, topics, models, workloads, plan, print_progress
        )
    finally:
        topics.delete_all()


def _measure(
    settings: Settings,
    bootstrap: str,
    client: dict[str, Any],
    registry: TopicRegistry,
    models: ModelSet,
    workloads: dict[str, Workload],
    plan: Plan,
    progress: Callable[[str], None],
) -> tuple[Doc, Doc]:
    sample = handle_one(settings, models, _Sample(workloads["features_only"].records[0][1]))
    assert sample is not None
    limits: dict[str, Any] = {"passthrough": {}, "decode": {}}
    baseline: dict[str, Any] = {}
    for name, workload in workloads.items():
        topics = (
            f"bench.{registry.run_id}.{name}.in",
            f"bench.{registry.run_id}.{name}.sink",
            f"bench.{registry.run_id}.{name}.baseline",
        )
        registry.create(topics)
        progress(f"limit: Kafka passthrough, {name}")
        limits["passthrough"][name] = passthrough(
            settings,
            bootstrap,
            client,
            topics[:2],
            workload.records,
            plan.passthrough[name],
            out_value=b" " * len(sample),
        )
        progress(f"baseline: per-request design, {name}")
        baseline[name] = run_baseline(
            settings,
            bootstrap,
            models,
            (topics[0], topics[2]),
            plan.passthrough[name],
            plan.baseline_s,
        )
    progress("limits: models alone, decode alone")
    limits["models"] = _model_limits(settings, models, workloads, plan)
    limits["decode"] = _decode_limits(settings, workloads, plan)
    limits["loop_step"] = measure_loop_step()
    limits["per_workload"] = {name: _workload_limits(limits, w) for name, w in workloads.items()}
    limits["per_workload_cpu"] = {
        name: _workload_limits(limits, w, "cpu_s") for name, w in workloads.items()
    }
    return limits, baseline


def _model_limits(
    settings: Settings, models: ModelSet, workloads: dict[str, Workload], plan: Plan
) -> dict[str, Any]:
    max_bytes = settings.processing.max_message_bytes
    events = [
        decode_event(v, max_bytes=max_bytes) for _, v in workloads["features_only"].records[:512]
    ]
    weeks = [
        decode_event(v, max_bytes=max_bytes)
        for v in workloads["mixed"].values_where(activity=True)[:16]
    ]
    pat_batches = tuple(sorted({1, 4, settings.models.pat_sub_batch_size}))
    return model_limits(models, events, weeks, plan.trio_batches, pat_batches, plan.model_s)


def _decode_limits(
    settings: Settings, workloads: dict[str, Workload], plan: Plan
) -> dict[str, Any]:
    max_bytes = settings.processing.max_message_bytes
    mixed = workloads["mixed"]
    features_only = workloads["features_only"].values_where(activity=False)
    return {
        "features_event": decode_rate(
            workloads["features_only"].values_where(activity=False), max_bytes, plan.decode_s
        ),
        "activity_event": decode_rate(mixed.values_where(activity=True), max_bytes, plan.decode_s),
        **{
            name: decode_rate([v for _, v in w.records], max_bytes, plan.decode_s)
            for name, w in workloads.items()
        },
        # features-only and activity events in each input format (Schema Registry
        # formats included); an activity event's cost includes its row of PAT's input
        "formats": format_decode_rates(
            [orjson.loads(v) for v in features_only[:256]], max_bytes, plan.decode_s
        ),
        "formats_activity": format_decode_rates(
            [orjson.loads(v) for v in mixed.values_where(activity=True)[:16]],
            max_bytes,
            plan.decode_s,
            with_activity=True,
        ),
    }


def _workload_limits(limits: dict[str, Any], workload: Workload, per: str = "s") -> dict[str, Any]:
    """The workload's limits, each model at its best measured batch size; ``per="cpu_s"``
    uses the rates per CPU second instead of per wall-clock second."""
    models = limits["models"]
    return report.workload_limits(
        passthrough=limits["passthrough"][workload.name][f"events_per_{per}"],
        decode=limits["decode"][workload.name][f"events_per_{per}"],
        trio_rows_per_s=report.best(models["booster_trio"], f"rows_per_{per}"),
        pat_sequences_per_s=report.best(models["pat"], f"sequences_per_{per}"),
        feature_share=workload.feature_share,
        activity_share=workload.activity_share,
    )


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

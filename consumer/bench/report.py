"""The pure parts of the benchmark: percentiles, limits, ratios, targets and the JSON shape.

No I/O, no clock, no Kafka: everything here is a function of its arguments, thread-safe
and unit-tested (``tests/unit/bench/test_bench_report.py``). Rates are events (or rows, or
sequences) per second; durations carry their unit in the name.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

from consumer.bench.windows_figures import check_section

SCHEMA: Final = "moodstream-bench/1"
WORKLOADS: Final = ("features_only", "mixed")
LOADS: Final = ("load_50", "load_90")
LATENCY_KEYS: Final = ("p50_ms", "p90_ms", "p99_ms", "max_ms", "mean_ms")

Doc = dict[str, Any]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation between closest ranks
    (numpy's default). Raises ValueError on an empty sequence or ``q`` outside 0-100."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile {q} outside 0-100")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def latency_summary(latencies_ms: Sequence[float]) -> dict[str, float | int | None]:
    """Count, p50/p90/p99, max and mean of latencies in ms (None figures when empty)."""
    if not latencies_ms:
        return {"count": 0, **{key: None for key in LATENCY_KEYS}}
    return {
        "count": len(latencies_ms),
        "p50_ms": round(percentile(latencies_ms, 50), 2),
        "p90_ms": round(percentile(latencies_ms, 90), 2),
        "p99_ms": round(percentile(latencies_ms, 99), 2),
        "max_ms": round(max(latencies_ms), 2),
        "mean_ms": round(sum(latencies_ms) / len(latencies_ms), 2),
    }


def rate(count: float, seconds: float) -> float | None:
    """``count / seconds``, or None when nothing was timed."""
    if seconds <= 0 or count < 0:
        return None
    return count / seconds


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator`` rounded to 3 places; None when either is missing or the
    denominator is not positive."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return round(numerator / denominator, 3)


def drain_rate(timestamps_ms: Sequence[int]) -> tuple[float | None, float]:
    """Throughput of a drain from the output timestamps (ms) of its records.

    Measured from the first record to the last: the records stamped after the first
    one, over the time between them (the first batch's processing time is not known, so
    its records are not counted). Returns (events/s or None, seconds).
    """
    if len(timestamps_ms) < 2:
        return None, 0.0
    first, last = min(timestamps_ms), max(timestamps_ms)
    seconds = (last - first) / 1000.0
    after_first = sum(1 for ts in timestamps_ms if ts > first)
    return rate(after_first, seconds), seconds


def workload_limits(
    *,
    passthrough: float | None,
    decode: float | None,
    trio_rows_per_s: float | None,
    pat_sequences_per_s: float | None,
    feature_share: float,
    activity_share: float,
) -> Doc:
    """Each stage's limit in events/s of a workload, the tightest, and the serial bound.

    A model's limit in events/s is its rate divided by the share of events it scores
    (the boosters score events with features, PAT those with activity); a model that
    scores no event of the workload sets no limit. The serial bound is what one core
    could do running every stage back to back (1 / Σ 1/limit): the stages overlap in
    the service (librdkafka's threads, the model pools), so it is informative only.
    """
    stages: dict[str, float | None] = {
        "passthrough": passthrough,
        "decode": decode,
        "boosters": _per_event(trio_rows_per_s, feature_share),
        "pat": _per_event(pat_sequences_per_s, activity_share),
    }
    known = {name: value for name, value in stages.items() if value is not None and value > 0}
    tightest = min(known.items(), key=lambda item: item[1]) if known else None
    serial = 1.0 / sum(1.0 / v for v in known.values()) if known else None
    return {
        "stages": {name: _round(value) for name, value in stages.items()},
        "tightest": {
            "stage": tightest[0] if tightest else None,
            "events_per_s": _round(tightest[1]) if tightest else None,
        },
        "serial_bound_events_per_s": _round(serial),
    }


def best(by_batch: Mapping[str, Any], key: str) -> float | None:
    """The highest ``key`` over a ``{"batch_N": {key: rate}}`` mapping (None when empty)."""
    rates = [
        entry[key]
        for entry in by_batch.values()
        if isinstance(entry, Mapping) and isinstance(entry.get(key), int | float)
    ]
    return max(rates) if rates else None


def _per_event(rate_per_s: float | None, share: float) -> float | None:
    if rate_per_s is None or share <= 0:
        return None
    return rate_per_s / share


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def ratios(doc: Mapping[str, Any]) -> Doc:
    """moodstream (one worker) against the baseline and the tightest limit, per workload.

    The mixed workload also gets ``vs_pat_limit`` (the PAT-M limit in events/s).
    """
    out: Doc = {}
    for workload in WORKLOADS:
        ours = _get(doc, "moodstream", workload, "workers_1", "sustained_events_per_s")
        limits = _get(doc, "limits", "per_workload", workload) or {}
        entry = {
            "vs_baseline": ratio(ours, _get(doc, "baseline", workload, "events_per_s")),
            "vs_limit": ratio(ours, _get(limits, "tightest", "events_per_s")),
        }
        per_cpu = _get(doc, "moodstream", workload, "workers_1", "events_per_worker_cpu_s")
        entry["per_cpu_vs_serial_bound"] = ratio(
            per_cpu, _get(doc, "limits", "per_workload_cpu", workload, "serial_bound_events_per_s")
        )
        pat_limit = _get(limits, "stages", "pat")
        if pat_limit is not None:
            entry["vs_pat_limit"] = ratio(ours, pat_limit)
        out[workload] = entry
    runtimes = {
        name: run.get("vs_pat_limit")
        for name, run in (doc.get("mixed_runtimes") or {}).items()
        if isinstance(run, Mapping)
    }
    if runtimes and "mixed" in out:  # the 50 %-activity drain per PAT runtime (issue 20)
        out["mixed"]["per_runtime_vs_pat_limit_per_cpu_s"] = runtimes
    return out


#: (name, path in the document, comparison, threshold, unit)
TARGETS: Final = (
    ("features_only_vs_limit", ("ratios", "features_only", "vs_limit"), ">=", 0.70, "ratio"),
    ("features_only_vs_baseline", ("ratios", "features_only", "vs_baseline"), ">=", 30.0, "ratio"),
    ("mixed_vs_pat_limit", ("ratios", "mixed", "vs_pat_limit"), ">=", 0.85, "ratio"),
    (
        "features_only_p99_at_50pct_ms",
        ("moodstream", "features_only", "workers_1", "latency", "load_50", "p99_ms"),
        "<=",
        100.0,
        "ms",
    ),
    (
        "mixed_p99_at_50pct_ms",
        ("moodstream", "mixed", "workers_1", "latency", "load_50", "p99_ms"),
        "<=",
        300.0,
        "ms",
    ),
    ("four_workers_total_pss_mb", ("memory", "workers_4", "total_pss_mb"), "<=", 700.0, "MB"),
    ("pat_best_speedup_vs_torch_fp32", ("pat_runtimes", "best_speedup"), ">=", 2.0, "ratio"),
)


def targets(doc: Mapping[str, Any]) -> list[Doc]:
    """Each target of issue 6 with its measured value and whether it is met (None when
    the figure was not measured, e.g. no 4-worker run in smoke mode)."""
    out = []
    for name, path, op, threshold, unit in TARGETS:
        value = _get(doc, *path)
        met = None if value is None else (value >= threshold if op == ">=" else value <= threshold)
        out.append(
            {
                "name": name,
                "value": value,
                "target": f"{op} {threshold:g}",
                "unit": unit,
                "met": met,
            }
        )
    return out


def _get(doc: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(doc, Mapping) or key not in doc:
            return None
        doc = doc[key]
    return doc


# -- the JSON shape --------------------------------------------------------------------------

_TOP: Final = (
    "schema",
    "mode",
    "command",
    "started_at",
    "finished_at",
    "duration_s",
    "machine",
    "config",
    "workloads",
    "limits",
    "moodstream",
    "memory",
    "baseline",
    "ratios",
    "targets",
    "definitions",
)
_MACHINE: Final = ("cores", "cpu_model", "load_avg_start", "load_avg_end", "versions")
_RUN: Final = (
    "workers",
    "backlog_events",
    "sustained_events_per_s",
    "drain_seconds",
    "startup_s",
    "latency",
    "memory",
)
_MEMORY: Final = ("supervisor_pss_mb", "workers_pss_mb", "workers_total_pss_mb", "total_pss_mb")


def check_shape(doc: Mapping[str, Any]) -> list[str]:
    """Problems with a result document's shape (empty when it is complete).

    Checks every figure the issue asks for, for the worker counts the run was configured
    with (``config.workers`` end to end, ``config.memory_workers`` for memory).
    """
    problems = [f"missing {key}" for key in _TOP if key not in doc]
    if problems:
        return problems
    if doc["schema"] != SCHEMA:
        problems.append(f"schema is {doc['schema']!r}, not {SCHEMA!r}")
    problems += _missing(doc["machine"], _MACHINE, "machine")
    problems += _check_limits(doc["limits"])
    workers = _get(doc, "config", "workers") or []
    for workload in WORKLOADS:
        for count in workers:
            run = _get(doc, "moodstream", workload, f"workers_{count}")
            problems += _check_run(run, f"moodstream.{workload}.workers_{count}")
        problems += _numbers(doc["baseline"], (workload,), ("events_per_s",), "baseline")
        problems += _numbers(doc["ratios"], (workload,), ("vs_baseline", "vs_limit"), "ratios")
    problems += _numbers(doc["ratios"], ("mixed",), ("vs_pat_limit",), "ratios")
    for count in _get(doc, "config", "memory_workers") or []:
        memory = _get(doc, "memory", f"workers_{count}")
        problems += _missing(memory, _MEMORY, f"memory.workers_{count}")
        if isinstance(memory, Mapping) and len(memory.get("workers_pss_mb") or []) != count:
            problems.append(f"memory.workers_{count}: expected {count} workers' PSS")
    if _get(doc, "config", "windows"):
        problems += check_section(doc.get("windows"))
    if not isinstance(doc["targets"], list) or len(doc["targets"]) != len(TARGETS):
        problems.append("targets: expected one entry per target")
    return problems


def _check_limits(limits: Any) -> list[str]:
    problems = _numbers(limits, ("passthrough", "features_only"), ("events_per_s",), "limits")
    problems += _numbers(limits, ("passthrough", "mixed"), ("events_per_s",), "limits")
    for batch in ("batch_1", "batch_512"):
        problems += _numbers(limits, ("models", "booster_trio", batch), ("rows_per_s",), "limits")
    pat = _get(limits, "models", "pat") or {}
    if len([key for key in pat if key.startswith("batch_")]) < 2:
        problems.append("limits.models.pat: expected batch_1 and the configured sub-batch")
    for key, entry in pat.items():
        problems += _numbers(entry, (), ("sequences_per_s",), f"limits.models.pat.{key}")
    for kind in ("features_event", "activity_event"):
        problems += _numbers(limits, ("decode", kind), ("events_per_s",), "limits")
    for workload in WORKLOADS:
        problems += _numbers(
            limits, ("per_workload", workload, "tightest"), ("events_per_s",), "limits"
        )
    return problems


def _check_run(run: Any, where: str) -> list[str]:
    problems = _missing(run, _RUN, where)
    if problems:
        return problems
    problems += _numbers(run, (), ("sustained_events_per_s",), where)
    for load in LOADS:
        problems += _numbers(run, ("latency", load), ("p50_ms", "p99_ms"), where)
    problems += _missing(run["memory"], _MEMORY, f"{where}.memory")
    return problems


def _missing(section: Any, keys: Sequence[str], where: str) -> list[str]:
    if not isinstance(section, Mapping):
        return [f"{where}: missing"]
    return [f"{where}.{key}: missing" for key in keys if key not in section]


def _numbers(section: Any, path: Sequence[str], keys: Sequence[str], where: str) -> list[str]:
    inner = _get(section, *path)
    label = ".".join((where, *path))
    if not isinstance(inner, Mapping):
        return [f"{label}: missing"]
    return [
        f"{label}.{key}: not a number"
        for key in keys
        if not isinstance(inner.get(key), int | float) or isinstance(inner.get(key), bool)
    ]

"""The result document as Markdown tables (printed by ``moodstream bench``, pasted into
BENCHMARKS.md). Pure, thread-safe."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from consumer.bench.report import LOADS, WORKLOADS
from consumer.bench.windows_figures import windows_table


def _fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, int | float):
        return f"{value:,.{digits}f}"
    return str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def limits_table(doc: dict[str, Any]) -> str:
    limits = doc["limits"]
    rows = [
        ["Kafka passthrough (consume, produce, commit; 1 loop)"]
        + [_fmt(limits["passthrough"][w]["events_per_s"]) for w in WORKLOADS]
    ]
    rows.append(
        ["decode (orjson + pydantic)"]
        + [_fmt(limits["decode"][w]["events_per_s"]) for w in WORKLOADS]
    )
    per = limits["per_workload"]
    rows.append(
        ["booster trio (best batch), as events/s"]
        + [_fmt(per[w]["stages"]["boosters"]) for w in WORKLOADS]
    )
    rows.append(
        ["PAT-M (best batch), as events/s"] + [_fmt(per[w]["stages"]["pat"]) for w in WORKLOADS]
    )
    rows.append(
        ["**tightest limit**"]
        + [
            f"**{_fmt(per[w]['tightest']['events_per_s'])}** ({per[w]['tightest']['stage']})"
            for w in WORKLOADS
        ]
    )
    rows.append(
        ["serial bound (all stages on one core)"]
        + [_fmt(per[w]["serial_bound_events_per_s"]) for w in WORKLOADS]
    )
    cpu = limits.get("per_workload_cpu")
    if cpu:
        rows.append(
            ["serial bound per CPU-second (events per CPU-s)"]
            + [_fmt(cpu[w]["serial_bound_events_per_s"]) for w in WORKLOADS]
        )
    models = limits["models"]
    raw = [
        [f"booster trio, batch {k[6:]}", _fmt(v["rows_per_s"]) + " rows/s"]
        for k, v in models["booster_trio"].items()
    ]
    raw += [
        [
            f"PAT-{models.get('pat_size')}, batch {k[6:]}",
            _fmt(v["sequences_per_s"], 1) + " sequences/s",
        ]
        for k, v in models["pat"].items()
    ]
    raw += [
        [f"decode, {k.replace('_', ' ')}", _fmt(limits["decode"][k]["events_per_s"]) + " events/s"]
        for k in ("features_event", "activity_event")
    ]
    for key, kind in (("formats", "features-only"), ("formats_activity", "activity")):
        raw += [
            [
                f"decode, {kind}, {name} input",
                _fmt(entry["events_per_cpu_s"])
                + f" events per CPU-s ({entry['cost_vs_json']}x JSON's cost)",
            ]
            for name, entry in (limits["decode"].get(key) or {}).items()
        ]
    raw += [
        [
            f"loop step: finished-call check, {k[6:]} PAT calls outstanding",
            f"{v['counter_us']} µs (scanning the next calls: {v['scan_us']} µs)",
        ]
        for k, v in limits.get("loop_step", {}).items()
    ]
    return (
        _table(["limit, events/s", *WORKLOADS], rows)
        + "\n\n"
        + _table(["part alone (1 thread)", "rate"], raw)
    )


def moodstream_table(doc: dict[str, Any]) -> str:
    rows = []
    for workload in WORKLOADS:
        for key, run in sorted(doc["moodstream"].get(workload, {}).items()):
            latency = run.get("latency", {})
            cells = [
                f"{p.get('p50_ms', '-')} / {p.get('p99_ms', '-')}"
                for p in (latency.get(load, {}) for load in LOADS)
            ]
            rows.append(
                [
                    workload,
                    key.replace("workers_", ""),
                    _fmt(run.get("sustained_events_per_s")),
                    _fmt(run.get("events_per_worker_cpu_s")),
                    *cells,
                    _fmt(run.get("memory", {}).get("total_pss_mb")),
                ]
            )
    for workload in WORKLOADS:
        rows.append(
            [
                workload,
                "baseline",
                _fmt(doc["baseline"][workload]["events_per_s"], 1),
                "-",
                "-",
                "-",
                "-",
            ]
        )
    return _table(
        [
            "workload",
            "workers",
            "sustained events/s",
            "events per worker CPU-s",
            "p50 / p99 ms at 50%",
            "p50 / p99 ms at 90%",
            "total PSS MB",
        ],
        rows,
    )


def ratio_table(doc: dict[str, Any]) -> str:
    rows = [
        [
            w,
            _fmt(r.get("vs_baseline"), 1),
            _fmt(r.get("vs_limit"), 2),
            _fmt(r.get("vs_pat_limit"), 2),
            _fmt(r.get("per_cpu_vs_serial_bound"), 2),
        ]
        for w, r in doc["ratios"].items()
    ]
    return _table(
        [
            "workload (1 worker)",
            "vs baseline",
            "vs tightest limit",
            "vs PAT-M limit",
            "per CPU-s vs serial bound",
        ],
        rows,
    )


def memory_table(doc: dict[str, Any]) -> str:
    rows = []
    for key, memory in sorted(doc["memory"].items()):
        if not key.split("_")[-1].isdigit():
            continue
        rows.append(
            [
                key.replace("workers_", ""),
                _fmt(memory.get("supervisor_pss_mb")),
                ", ".join(_fmt(v) for v in memory.get("workers_pss_mb") or []),
                _fmt(memory.get("workers_total_pss_mb")),
                _fmt(memory.get("total_pss_mb")),
                ", ".join(_fmt(v) for v in memory.get("workers_uss_mb") or []),
                _fmt(memory.get("alone_total_mb")),
            ]
        )
    return _table(
        [
            "workers",
            "supervisor PSS MB",
            "each worker PSS MB",
            "workers PSS MB",
            "total PSS MB",
            "each worker USS MB",
            "alone total MB",
        ],
        rows,
    )


def pat_runtimes_table(doc: dict[str, Any]) -> str:
    section = doc.get("pat_runtimes") or {}
    runtimes, ratios = section.get("runtimes", {}), section.get("speedup_vs_torch_fp32", {})
    rows, batches = [], []
    for label, fig in runtimes.items():
        batches = [k for k in fig if k.startswith("batch_")]
        speed = " / ".join(_fmt(fig[b]["sequences_per_cpu_s"], 1) for b in batches)
        ratio = " / ".join(_fmt(ratios.get(label, {}).get(b), 2) for b in batches)
        rows.append(
            [
                label,
                speed,
                ratio,
                f"{fig['max_abs_error']:.1e} (≤ {fig['bound']:g})",
                _fmt(fig["peak_rss_mb"]),
                _fmt(fig["torch_imported"]),
            ]
        )
    which = "batch " + " / ".join(b.removeprefix("batch_") for b in batches)
    return _table(
        [
            f"PAT runtime ({section.get('weeks')} weeks)",
            f"sequences per CPU-s, {which}",
            f"vs torch fp32, {which}",
            "max abs error vs torch fp32",
            "peak RSS MB",
            "imports torch",
        ],
        rows,
    )


def targets_table(doc: dict[str, Any]) -> str:
    rows = [[t["name"], _fmt(t["value"], 2), t["target"], _fmt(t["met"])] for t in doc["targets"]]
    return _table(["target", "measured", "wanted", "met"], rows)


def summary(doc: dict[str, Any]) -> str:
    machine = doc["machine"]
    head = (
        f"moodstream bench ({doc['mode']}, {doc['duration_s']} s): {machine['cores']} cores, "
        f"{machine['cpu_model']}; load average {machine['load_avg_start']} at start, "
        f"{machine['load_avg_end']} at end"
    )
    flags = " ".join(machine.get("cpu_flags") or []) or "none"
    head += f"; CPU flags: {flags}; PAT runtime {doc['config'].get('pat_runtime')}"
    parts = [
        head,
        limits_table(doc),
        pat_runtimes_table(doc),
        moodstream_table(doc),
        ratio_table(doc),
        memory_table(doc),
        backlog_table(doc),
        mixed_runtimes_table(doc),
        gpu_lane_table(doc),
        windows_table(doc),
        targets_table(doc),
    ]
    return "\n\n".join(part for part in parts if part)


def backlog_table(doc: dict[str, Any]) -> str:
    """The activity-only backlog scenario (issue 10), when it ran."""
    backlog = doc.get("backlog")
    if not backlog:
        return ""
    lines = [
        f"activity-only backlog of {backlog['events']} events (PAT limit "
        f"{backlog['pat_limit_sequences_per_s']} seq/s per worker; goal >= "
        f"{backlog['goal_vs_pat_limit']} of it, 0 partial)",
        "workers  events/s  drain s  vs PAT limit  partial  peak worker RSS MB",
    ]
    for key in sorted(k for k in backlog if k.startswith("workers_")):
        row = backlog[key]
        lines.append(
            f"{key[8:]:>7}  {row['sustained_events_per_s']!s:>8}  "
            f"{row['drain_seconds']!s:>7}  {row['vs_pat_limit']!s:>12}  "
            f"{row['partial']!s:>7}  {row['peak_worker_rss_mb']!s:>18}"
        )
    if "scale_out_2_vs_1" in backlog:
        lines.append(f"2 workers / 1 worker: {backlog['scale_out_2_vs_1']}x")
    return "\n".join(lines)


def mixed_runtimes_table(doc: dict[str, Any]) -> str:
    """Mixed at the limit per PAT runtime (issue 20), when it ran."""
    mixed = doc.get("mixed_runtimes")
    if not mixed:
        return ""
    lines = [
        f"mixed at the limit: {mixed['events']} events, {mixed['activity_share']:.0%} with "
        f"a week, 1 worker (goal >= {mixed['goal_vs_pat_limit']} of the PAT limit per CPU-s)",
        "request    runtime     events/CPU-s  PAT limit events/CPU-s  vs PAT limit  partial",
    ]
    for name, row in mixed.items():
        if isinstance(row, dict):
            lines.append(
                f"{name:<10} {row['runtime']:<11} {row['events_per_worker_cpu_s']!s:>12}  "
                f"{row['pat_limit_events_per_cpu_s']!s:>22}  "
                f"{row['vs_pat_limit']!s:>12}  {row['partial']!s:>7}"
            )
    return "\n".join(lines)


def gpu_lane_table(doc: dict[str, Any]) -> str:
    """What one worker core can feed a GPU, and the GPU runs where a device was seen."""
    lane = doc.get("gpu_lane")
    if not lane:
        return ""
    feed = lane["feed"]
    lines = [
        f"GPU lane: feed bound (activity events, 1 worker, no PAT): "
        f"{feed['events_per_worker_cpu_s']} events per worker CPU-s, "
        f"{feed['sustained_events_per_s']} events/s"
    ]
    gpu = lane["gpu"]
    if "skipped" in gpu:
        lines.append(f"  on a GPU: skipped ({gpu['skipped']})")
        return "\n".join(lines)
    lines.append(f"  on {lane['cuda']['name']}: workers  sequences/s  events/worker CPU-s")
    for key in sorted(k for k in gpu if k.startswith("workers_")):
        row = gpu[key]
        per_cpu = row["events_per_worker_cpu_s"]
        lines.append(f"  {key[8:]:>33}  {row['sequences_per_s']!s:>11}  {per_cpu!s:>19}")
    return "\n".join(lines)

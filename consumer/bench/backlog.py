"""The backlog scenario (issue 10): a week of activity in every event, produced before the
service starts, drained by 1 and 2 workers. Being behind must cost time, never scores.

Per worker count: drain events/s, the ratio to the PAT limit (the best PAT sequences/s
measured alone, times the workers: PAT decides the rate of an activity-only backlog),
partial predictions (goal 0), and the workers' peak RSS (pending activity is bounded by
``PROCESSING__MAX_PENDING_ACTIVITY_EVENTS``). Blocks for the whole run.
"""

from __future__ import annotations

from typing import Any

from consumer.bench.endtoend import BenchContext, EndToEndPlan, run_config
from consumer.bench.workload import build_workload

WORKLOAD = "activity_backlog"
#: Goal of the drain rate against the PAT limit (issue 10).
GOAL_VS_PAT_LIMIT = 0.85


def pat_limit(limits: dict[str, Any]) -> float | None:
    """The best PAT sequences/s of the isolated model measurements (one core)."""
    pat = (limits.get("models") or {}).get("pat") or {}
    rates = [entry.get("sequences_per_s") for entry in pat.values() if isinstance(entry, dict)]
    known = [rate for rate in rates if rate]
    return max(known) if known else None


def run_backlog(
    ctx: BenchContext, events: int, workers: tuple[int, ...], limit: float | None
) -> dict[str, Any]:
    """Drain an activity-only backlog of ``events`` with each worker count."""
    workload = build_workload(WORKLOAD, min(events, 400))
    result: dict[str, Any] = {"events": events, "pat_limit_sequences_per_s": limit}
    for count in workers:
        ctx.progress(f"backlog: {events} activity events, {count} worker(s)")
        run = run_config(ctx, workload, count, EndToEndPlan(events, 0.0, ()))
        rate = run.get("sustained_events_per_s")
        per_worker_limit = limit * count if limit else None
        peaks = [v for v in (run.get("memory") or {}).get("workers_peak_rss_mb", []) if v]
        result[f"workers_{count}"] = {
            "sustained_events_per_s": rate,
            "drain_seconds": run.get("drain_seconds"),
            "vs_pat_limit": round(rate / per_worker_limit, 3)
            if rate and per_worker_limit
            else None,
            "partial": run.get("partial"),
            "duplicates": run.get("duplicates"),
            "peak_worker_rss_mb": max(peaks) if peaks else None,
            "exit_code": run.get("exit_code"),
        }
    one, two = result.get("workers_1", {}), result.get("workers_2", {})
    if one.get("sustained_events_per_s") and two.get("sustained_events_per_s"):
        result["scale_out_2_vs_1"] = round(
            two["sustained_events_per_s"] / one["sustained_events_per_s"], 2
        )
    result["goal_vs_pat_limit"] = GOAL_VS_PAT_LIMIT
    return result

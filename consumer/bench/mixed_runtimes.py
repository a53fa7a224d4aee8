"""Mixed at the limit, per CPU runtime (issue 20): a 50 % activity backlog drained by one
worker with each PAT runtime the CPU offers, in events per worker CPU-second, against that
runtime's PAT limit per CPU-second.

The limit is the runtime's sequences per CPU-second measured alone at the configured
sub-batch, divided by the activity share: the most mixed events a core could take if PAT
were the only cost. It is measured again right after each drain (in its own spawned
process, ``LIMIT_S`` seconds), so the two figures of a ratio meet the same load on a
shared machine; the suite's ``pat_runtimes`` figure is kept beside it. ``vs_pat_limit``
= 1.0 means boosters, decoding and the loop cost nothing next to PAT. ``auto``+``bf16``
is run only where the CPU has native bf16; the runtime it chose is read from the
service's ``pat_calibrated`` log line. Per-CPU figures (process CPU time) hold better on
a shared machine than wall-clock rates, but not fully (caches, memory bandwidth).
Blocking for the runs (about 30 s each on one core at the quick size).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from consumer.bench.endtoend import BenchContext, EndToEndPlan, run_config
from consumer.bench.pat_runtimes import isolated as _isolated
from consumer.bench.workload import ACTIVITY_SHARES, build_workload

WORKLOAD = "mixed_half"
#: Goal of the ratio (issue 20).
GOAL_VS_PAT_LIMIT = 0.9
#: Seconds PAT alone is timed right after each drain.
LIMIT_S = 3.0
#: (runtime, precision) per requested configuration.
REQUESTS = {"onnx": ("onnx", "fp32"), "auto-bf16": ("auto", "bf16")}


def requests_for(bf16_native: bool) -> dict[str, tuple[str, str]]:
    """The configurations measured on this CPU (bf16 only where it is native). Pure."""
    return {k: v for k, v in REQUESTS.items() if bf16_native or v[1] != "bf16"}


def chosen_runtime(log_text: str, runtime: str, precision: str) -> str:
    """The runtime label a service ran: from its ``pat_calibrated`` line, else as asked."""
    for line in log_text.splitlines():
        if '"pat_calibrated"' in line:
            try:
                return str(json.loads(line)["chosen"])
            except (ValueError, KeyError):
                continue
    return f"{runtime}-{precision}"


def vs_pat_limit(
    events_per_cpu_s: float | None, share: float, sequences_per_cpu_s: float | None
) -> float | None:
    """Mixed events per CPU-s ÷ (PAT sequences per CPU-s ÷ share). Pure."""
    if not events_per_cpu_s or not sequences_per_cpu_s or share <= 0:
        return None
    return round(events_per_cpu_s * share / sequences_per_cpu_s, 3)


def run_mixed_runtimes(
    ctx: BenchContext, events: int, pat_runtimes: dict[str, Any], bf16_native: bool
) -> dict[str, Any]:
    """Drain ``events`` mixed events (half with a week) with each configuration."""
    workload = build_workload(WORKLOAD, min(events, 400))
    share = ACTIVITY_SHARES[WORKLOAD]
    sub_batch = ctx.settings.models.pat_sub_batch_size
    out: dict[str, Any] = {
        "events": events,
        "activity_share": share,
        "goal_vs_pat_limit": GOAL_VS_PAT_LIMIT,
    }
    for name, (runtime, precision) in requests_for(bf16_native).items():
        ctx.progress(f"mixed at the limit: {events} events, 50 % activity, PAT {name}")
        env = {
            "MOODSTREAM_MODELS__PAT_RUNTIME": runtime,
            "MOODSTREAM_MODELS__PAT_PRECISION": precision,
        }
        run = run_config(ctx, workload, 1, EndToEndPlan(events, 0.0, (), env=env, tag=name))
        label = chosen_runtime(_log(ctx, f"{WORKLOAD}-w1{name}"), runtime, precision)
        per_cpu = run.get("events_per_worker_cpu_s")
        suite = ((pat_runtimes.get("runtimes") or {}).get(label) or {}).get(f"batch_{sub_batch}")
        alone = _isolated(ctx.settings.models, label, 0, LIMIT_S).get(f"batch_{sub_batch}")
        sequences = (alone or {}).get("sequences_per_cpu_s")
        out[name] = {
            "runtime": label,
            "events_per_worker_cpu_s": per_cpu,
            "sustained_events_per_s": run.get("sustained_events_per_s"),
            "pat_sequences_per_cpu_s": sequences,
            "pat_sequences_per_cpu_s_in_suite": (suite or {}).get("sequences_per_cpu_s"),
            "pat_limit_events_per_cpu_s": round(sequences / share, 1) if sequences else None,
            "vs_pat_limit": vs_pat_limit(per_cpu, share, sequences),
            "partial": run.get("partial"),
            "exit_code": run.get("exit_code"),
        }
        ctx.progress(
            f"  {name} ({label}): {per_cpu} events per CPU-s, "
            f"{out[name]['vs_pat_limit']} of the PAT limit"
        )
    return out


def _log(ctx: BenchContext, label: str) -> str:
    path: Path = ctx.log_dir / f"service-{label}.log"
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

"""The chaos table: one row per fault of each run, Markdown (docs/reliability.md,
RELIABILITY.md) or JSON."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from consumer.chaos.accounting import FaultStats
from consumer.chaos.suite import RunResult

HEADER = (
    "| guarantee | group protocol | fault | events | lost | duplicates | longest gap (s) "
    "| recovery (s) | worker crashes | /readyz not ready | lag gauge peak / real backlog "
    "peak | /readyz, lag true |\n|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def _cell(value: float | None) -> str:
    return "never" if value is None else f"{value:g}"


def _truth(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "NO")


def _fault(row: FaultStats) -> str:
    return f"{row.fault} ({row.placement})" if row.placement else row.fault


def _signals(row: FaultStats) -> str:
    share = "-" if row.not_ready_share is None else f"{row.not_ready_share:.0%}"
    lag = "-" if row.lag_peak is None else f"{row.lag_peak:g}"
    return (
        f"{row.worker_crashes} | {share} | {lag} / {row.backlog_peak} "
        f"| {_truth(row.readyz_truthful)}, {_truth(row.lag_truthful)}"
    )


def table(results: list[RunResult]) -> str:
    """Markdown rows for every fault, plus a total row per run."""
    lines = [HEADER]
    for run in results:
        for row in run.rows:
            lines.append(
                f"| {run.guarantee} | {run.group_protocol} | {_fault(row)} | {row.events} "
                f"| {row.lost} | {row.duplicates} | {row.longest_gap_s:g} "
                f"| {_cell(row.recovery_s)} | {_signals(row)} |"
            )
        exit_note = "running" if run.service_exit is None else f"EXITED {run.service_exit}"
        if run.client_defaults != "tuned":
            exit_note += f", {run.client_defaults} client defaults"
        lines.append(
            f"| {run.guarantee} | {run.group_protocol} | **all** (service {exit_note}, "
            f"{run.worker_crashes} worker crashes, {run.produce_failed} produce failures, "
            f"{run.seconds:g} s) | {run.events} "
            f"| {run.lost} | {run.duplicates} | | | {run.worker_crashes} | | | |"
        )
    return "\n".join(lines)


def passed(run: RunResult) -> bool:
    """The suite's pass rule: nothing lost, no duplicates under exactly-once, no produce
    failure, the service still running."""
    duplicates_ok = run.guarantee != "exactly_once" or run.duplicates == 0
    return (
        run.lost == 0
        and duplicates_ok
        and run.produce_failed == 0
        and run.service_exit is None
        and run.events > 0
    )


def as_json(results: list[RunResult]) -> dict[str, Any]:
    return {"runs": [asdict(run) | {"passed": passed(run)} for run in results]}

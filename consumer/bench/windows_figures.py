"""The windows stage's bench figures (issue 26, item 7): rates per worker CPU-second,
state on disk per user-day, the restore rate, the RSS ratio, each against its goal, and
their table. Pure: functions of their arguments, thread-safe, unit-tested
(``tests/unit/bench/test_bench_windows.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

#: (name, path in the section, comparison, threshold, unit): the goals of issue 26.
GOALS: Final = (
    ("day_chunks_minute_values_per_cpu_s", ("day_chunks", "per_worker_cpu_s"), ">=", 5e6, "/CPU-s"),
    ("minute_records_per_cpu_s", ("minute_records", "per_worker_cpu_s"), ">=", 30_000.0, "/CPU-s"),
    ("store_bytes_per_user_day", ("store", "bytes_per_user_day"), "<=", 7_000.0, "B"),
    ("restore_10000_users_x_8_days_s", ("restore", "seconds_for_goal"), "<=", 30.0, "s"),
    ("worker_rss_10x_vs_1x_users", ("rss", "ratio_10x_vs_1x"), "<=", 1.5, "ratio"),
)
#: The figures every plan measures (the RSS comparison and the restore's time at the
#: goal's size are left out of the smaller plans).
_MEASURED: Final = (
    ("day_chunks", "per_worker_cpu_s"),
    ("minute_records", "per_worker_cpu_s"),
    ("store", "bytes_per_user_day"),
    ("restore", "seconds"),
    ("logic_only", "minute_values_per_cpu_s"),
)
#: The restore goal's size: 10,000 users x 8 days.
GOAL_USER_DAYS: Final = 80_000
#: The smallest restore projected to the goal's size (smaller ones are mostly the fixed
#: cost of each partition's restore: not projected, the goal left unjudged).
MIN_PROJECTED_USER_DAYS: Final = GOAL_USER_DAYS // 10


def per_cpu_s(count: int, cpu_s: float | None) -> float | None:
    """``count`` per CPU second, rounded to 1 place; None when no CPU time was measured."""
    if cpu_s is None or cpu_s <= 0:
        return None
    return round(count / cpu_s, 1)


def drain_figures(
    count: int, cpu_total_s: float, cpu_startup_s: float | None, unit: str
) -> dict[str, Any]:
    """A drain's figures: ``count`` items (minute values, records) over the worker's CPU
    seconds less what an idle worker used to start (``cpu_startup_s``; the backlog is
    there before the worker starts, so its whole life is counted). Also the figure
    without the subtraction (``per_worker_cpu_s_with_startup``), a lower bound."""
    startup = cpu_startup_s or 0.0
    net = cpu_total_s - startup
    return {
        "unit": unit,
        "count": count,
        "worker_cpu_s": round(cpu_total_s, 3),
        "startup_cpu_s": None if cpu_startup_s is None else round(cpu_startup_s, 3),
        "per_worker_cpu_s": per_cpu_s(count, net),
        "per_worker_cpu_s_with_startup": per_cpu_s(count, cpu_total_s),
    }


def store_figures(dir_bytes: int, sst_bytes: int, user_days: int) -> dict[str, Any]:
    """State on disk per user-day: the whole store directory (SST files, write-ahead
    logs, RocksDB's own files) and the SST files alone."""
    days = max(user_days, 1)
    return {
        "user_days": user_days,
        "dir_bytes": dir_bytes,
        "sst_bytes": sst_bytes,
        "bytes_per_user_day": round(dir_bytes / days, 1) if user_days else None,
        "sst_bytes_per_user_day": round(sst_bytes / days, 1) if user_days else None,
    }


def restore_figures(restored: Iterable[Mapping[str, Any]], user_days: int) -> dict[str, Any]:
    """The restore from the stage's ``restored`` log events (one per partition, run one
    after the other in the assignment): total seconds and records, user-days per second,
    and the time for the goal's 80,000 user-days (measured when the run restored that
    many or more, else projected linearly from this run's rate: ``projected``; None
    below ``MIN_PROJECTED_USER_DAYS``)."""
    events = list(restored)
    seconds = sum(float(e.get("seconds") or 0.0) for e in events)
    records = sum(int(e.get("records") or 0) for e in events)
    per_s = round(user_days / seconds, 1) if seconds > 0 else None
    projected = user_days < GOAL_USER_DAYS
    projectable = user_days >= MIN_PROJECTED_USER_DAYS and seconds > 0
    for_goal = seconds * GOAL_USER_DAYS / user_days if projectable else None
    return {
        "partitions": len(events),
        "user_days": user_days,
        "changelog_records": records,
        "seconds": round(seconds, 3),
        "user_days_per_s": per_s,
        "seconds_for_goal": None if for_goal is None else round(for_goal, 2),
        "projected": projected,
    }


def rss_figures(
    base_users: int,
    base: Mapping[str, float | None],
    big_users: int,
    big: Mapping[str, float | None],
) -> dict[str, Any]:
    """The worker's RSS holding ``base_users`` and ``big_users`` (10x) users' state, each
    ``{"rss_mb": after the drain, "peak_rss_mb": the drain's peak}``, and the ratios. The
    goal is on the RSS after the drain (the state held); the peak also counts the drain's
    in-flight records (consumer prefetch, producer queue of the weeks sent)."""
    return {
        "users_1x": base_users,
        "users_10x": big_users,
        "rss_mb_1x": base.get("rss_mb"),
        "rss_mb_10x": big.get("rss_mb"),
        "ratio_10x_vs_1x": _ratio(big.get("rss_mb"), base.get("rss_mb")),
        "peak_rss_mb_1x": base.get("peak_rss_mb"),
        "peak_rss_mb_10x": big.get("peak_rss_mb"),
        "peak_ratio_10x_vs_1x": _ratio(big.get("peak_rss_mb"), base.get("peak_rss_mb")),
    }


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return round(numerator / denominator, 3) if numerator and denominator else None


def goals(section: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each goal with its measured value and whether it is met (None: not measured)."""
    out = []
    for name, path, op, threshold, unit in GOALS:
        value = _get(section, path)
        met = None if value is None else (value >= threshold if op == ">=" else value <= threshold)
        out.append(
            {
                "name": name,
                "value": value,
                "goal": f"{op} {threshold:,.0f}" if threshold >= 10 else f"{op} {threshold:g}",
                "unit": unit,
                "met": met,
            }
        )
    return out


def check_section(section: Any) -> list[str]:
    """Problems with the section's shape (empty when complete): every figure and goal."""
    if not isinstance(section, Mapping):
        return ["windows: missing"]
    problems = [
        f"windows.{'.'.join(path)}: not a number"
        for path in _MEASURED
        if not isinstance(_get(section, path), int | float)
    ]
    goals_list = section.get("goals")
    if not isinstance(goals_list, list) or len(goals_list) != len(GOALS):
        problems.append("windows.goals: expected one entry per goal")
    return problems


def restored_events(log_lines: Iterable[str]) -> list[dict[str, Any]]:
    """The ``restored`` events among a service log's JSON lines (other lines skipped)."""
    import json

    events = []
    for line in log_lines:
        if '"restored"' not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and "restored" in (entry.get("event"), entry.get("msg")):
            events.append(entry)
    return events


def windows_table(doc: Mapping[str, Any]) -> str:
    """The section as Markdown (empty when it did not run)."""
    section = doc.get("windows")
    if not section:
        return ""
    rows = [
        f"| {g['name']} | {_fmt(g['value'])} | {g['goal']} {g['unit']} | {_met(g['met'])} |"
        for g in section.get("goals", [])
    ]
    logic = section.get("logic_only") or {}
    notes = [
        f"windows stage, 1 worker ({section.get('users')} users x {section.get('days')} days "
        f"of day chunks; {section.get('minute_records', {}).get('count')} one-minute records)",
        f"logic alone (decode + windower + RocksDB, no Kafka): "
        f"{_fmt(logic.get('minute_values_per_cpu_s'))} minute values per CPU-s (day chunks), "
        f"{_fmt(logic.get('records_per_cpu_s'))} one-minute records per CPU-s",
    ]
    restore = section.get("restore") or {}
    if restore.get("projected"):
        notes.append(
            f"restore: {restore.get('user_days')} user-days in {restore.get('seconds')} s; "
            "the goal's 80,000 projected linearly"
        )
    table = ["| figure | measured | goal | met |", "|---|---|---|---|", *rows]
    return "\n".join([*notes, "", *table])


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value < 100:
        return f"{value:,.2f}"
    return f"{value:,.0f}" if isinstance(value, int | float) else str(value)


def _met(met: bool | None) -> str:
    return "-" if met is None else ("yes" if met else "NO")


def _get(section: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(section, Mapping) or key not in section:
            return None
        section = section[key]
    return section

"""The windows stage bench's figures, goals, log parsing, input and table (no broker)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

import pytest

from consumer.bench import windows_figures as figures
from consumer.bench.plan import PLANS
from consumer.bench.windows_load import DAY_MINUTES, DAYS, day_chunks, minute_records
from consumer.cli import build_parser
from consumer.commands.bench import handle
from consumer.errors import ConfigError
from consumer.settings import Settings
from consumer.windows.intake import decode_samples
from schemas import ActivitySamples


def _decode(value: bytes) -> ActivitySamples:
    """As the stage decodes a sample record (raises InvalidEvent when it is not one)."""
    return decode_samples(value, max_bytes=1_000_000, strict_fields=True).samples


def test_drain_figures_subtract_the_startup_cpu_and_keep_the_lower_bound() -> None:
    out = figures.drain_figures(1_000_000, cpu_total_s=0.5, cpu_startup_s=0.1, unit="values")
    assert out["per_worker_cpu_s"] == 2_500_000.0  # 1e6 / 0.4
    assert out["per_worker_cpu_s_with_startup"] == 2_000_000.0
    assert out["startup_cpu_s"] == 0.1
    unknown = figures.drain_figures(10, cpu_total_s=2.0, cpu_startup_s=None, unit="records")
    assert unknown["per_worker_cpu_s"] == unknown["per_worker_cpu_s_with_startup"] == 5.0


def test_no_cpu_time_is_no_rate() -> None:
    assert figures.per_cpu_s(100, 0.0) is None
    assert figures.per_cpu_s(100, None) is None
    assert figures.drain_figures(5, 0.1, 0.2, "records")["per_worker_cpu_s"] is None


def test_store_figures_per_user_day() -> None:
    out = figures.store_figures(dir_bytes=8_000_000, sst_bytes=4_000_000, user_days=2_000)
    assert out["bytes_per_user_day"] == 4_000.0
    assert out["sst_bytes_per_user_day"] == 2_000.0
    assert figures.store_figures(10, 5, 0)["bytes_per_user_day"] is None


def test_restore_sums_the_partitions_and_projects_to_the_goal_size() -> None:
    events = [{"partition": p, "records": 100, "seconds": 0.5} for p in range(6)]
    out = figures.restore_figures(events, user_days=8_000)
    assert out["seconds"] == 3.0
    assert out["changelog_records"] == 600
    assert out["user_days_per_s"] == pytest.approx(2_666.7)
    assert out["seconds_for_goal"] == 30.0  # 3 s x 80,000 / 8,000
    assert out["projected"] is True
    measured = figures.restore_figures(events, user_days=80_000)
    assert measured["seconds_for_goal"] == 3.0
    assert measured["projected"] is False
    assert figures.restore_figures([], 80_000)["seconds_for_goal"] is None
    tiny = figures.restore_figures(events, user_days=160)  # mostly fixed costs
    assert tiny["seconds_for_goal"] is None
    assert tiny["user_days_per_s"] == pytest.approx(53.3)


def test_rss_ratios_after_the_drain_and_at_the_peak() -> None:
    out = figures.rss_figures(
        100, {"rss_mb": 200.0, "peak_rss_mb": 250.0}, 1_000, {"rss_mb": 260.0, "peak_rss_mb": 500.0}
    )
    assert out["ratio_10x_vs_1x"] == 1.3
    assert out["peak_ratio_10x_vs_1x"] == 2.0
    missing = figures.rss_figures(100, {"rss_mb": None}, 1_000, {"rss_mb": 260.0})
    assert missing["ratio_10x_vs_1x"] is None


def _section(
    day: float, minute: float, store: float, restore: float, rss: float | None
) -> dict[str, Any]:
    return {
        "day_chunks": {"per_worker_cpu_s": day},
        "minute_records": {"per_worker_cpu_s": minute},
        "store": {"bytes_per_user_day": store},
        "restore": {"seconds_for_goal": restore},
        "rss": {"ratio_10x_vs_1x": rss},
    }


def test_goals_pass_and_fail_on_each_side_of_the_threshold() -> None:
    met = {g["name"]: g["met"] for g in figures.goals(_section(5e6, 30_000, 7_000, 30, 1.5))}
    assert all(met.values()) and len(met) == len(figures.GOALS)
    missed = figures.goals(_section(4.9e6, 29_999, 7_001, 30.1, 1.51))
    assert [g["met"] for g in missed] == [False] * len(figures.GOALS)
    unmeasured = figures.goals({"day_chunks": {"per_worker_cpu_s": 6e6}})
    assert [g["met"] for g in unmeasured] == [True, None, None, None, None]


def test_restored_events_are_read_from_the_json_log_lines() -> None:
    lines = [
        json.dumps({"event": "restored", "partition": 0, "records": 5, "seconds": 0.1}),
        "not json but says restored",
        json.dumps({"event": "partitions_assigned", "note": "restored"}),
        '{"event": "restored", broken',
        json.dumps({"event": "restored", "partition": 1, "records": 7, "seconds": 0.2}),
    ]
    events = figures.restored_events(lines)
    assert [e["partition"] for e in events] == [0, 1]


def test_windows_table_shows_each_goal_and_is_empty_without_the_section() -> None:
    section = {
        **_section(6e6, 20_000, 1_400, 12.0, None),
        "users": 2_000,
        "days": 8,
        "minute_records": {"per_worker_cpu_s": 20_000, "count": 60_000},
        "restore": {"seconds_for_goal": 12.0, "projected": True, "user_days": 16_000},
    }
    section["goals"] = figures.goals(section)
    text = figures.windows_table({"windows": section})
    assert "| minute_records_per_cpu_s | 20,000 | >= 30,000 /CPU-s | NO |" in text
    assert "| worker_rss_10x_vs_1x_users | - | <= 1.5 ratio | - |" in text
    assert "projected linearly" in text
    assert figures.windows_table({}) == ""


def test_day_chunks_are_valid_whole_utc_days_ending_today() -> None:
    records = list(day_chunks(3))
    assert len(records) == 3 * DAYS
    samples = [_decode(v) for _, v in records]
    assert {len(s.values) for s in samples} == {DAY_MINUTES}
    assert all(s.start.hour == 0 and s.start.minute == 0 for s in samples)
    today = datetime.now(UTC).date()
    assert samples[-1].start.date() == today
    assert samples[0].start.date() == today - timedelta(days=DAYS - 1)
    assert records[0][0] == samples[0].user_id.encode()
    assert records == list(day_chunks(3))  # same seed, same records


def test_minute_records_hold_one_value_each_user_in_turn() -> None:
    records = list(islice(minute_records(4, 3), 12))
    assert len(list(minute_records(4, 3))) == 12
    samples = [_decode(v) for _, v in records]
    assert {len(s.values) for s in samples} == {1}
    assert [s.user_id for s in samples[:4]] == [f"bench-minute-{i:06d}" for i in range(4)]
    assert samples[4].start - samples[0].start == timedelta(minutes=1)


def test_every_plan_has_a_windows_section_and_only_full_and_quick_compare_rss() -> None:
    for mode, plan in PLANS.items():
        assert plan.windows is not None
        assert bool(plan.windows.rss_base_users) == (mode != "smoke")
        if plan.windows.rss_base_users:
            assert plan.windows.users == 10 * plan.windows.rss_base_users
    assert PLANS["full"].windows is not None and PLANS["full"].windows.users == 10_000


def test_check_section_names_what_is_missing() -> None:
    section = {
        **_section(6e6, 40_000, 2_000, 12.0, None),
        "restore": {"seconds": 2.5, "seconds_for_goal": None},
        "logic_only": {"minute_values_per_cpu_s": 3e6},
    }
    section["goals"] = figures.goals(section)
    assert figures.check_section(section) == []
    del section["store"]
    section["goals"] = section["goals"][:2]
    assert figures.check_section(section) == [
        "windows.store.bytes_per_user_day: not a number",
        "windows.goals: expected one entry per goal",
    ]
    assert figures.check_section(None) == ["windows: missing"]


def test_only_windows_is_an_option_of_the_plans_not_of_peers() -> None:
    args = build_parser(["bench"]).parse_args(["bench", "--quick", "--only", "windows"])
    assert args.only == "windows" and args.quick
    peers = build_parser(["bench"]).parse_args(["bench", "--peers", "--only", "windows"])
    with pytest.raises(ConfigError, match="--only does not go with --peers"):
        handle(peers, Settings())

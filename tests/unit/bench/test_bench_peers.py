"""The pure parts of ``moodstream bench --peers``: rotation, CPU windows, medians, ratios,
the output comparison and the table (``consumer.bench.peer_report``)."""

from __future__ import annotations

from typing import Any

import pytest

from consumer.bench import peer_report as pr

SYSTEMS = ["moodstream", "arroyo", "quix"]


def test_rotation_gives_every_system_every_slot() -> None:
    order = pr.rotation(SYSTEMS, 4)
    assert order == [
        ["moodstream", "arroyo", "quix"],
        ["arroyo", "quix", "moodstream"],
        ["quix", "moodstream", "arroyo"],
        ["moodstream", "arroyo", "quix"],
    ]
    for slot in range(3):  # over n rounds each system holds each slot once
        assert sorted(r[slot] for r in order[:3]) == sorted(SYSTEMS)


def test_rotation_of_one_round_is_the_given_order() -> None:
    assert pr.rotation(SYSTEMS, 1) == [SYSTEMS]
    assert pr.rotation(SYSTEMS, 0) == []


def test_cpu_between_widens_to_the_samples_around_the_window() -> None:
    samples = [(10.0, 1.0), (10.5, 1.2), (11.0, 2.0), (11.5, 2.9), (12.0, 3.0)]
    assert pr.cpu_between(samples, 10.6, 11.4) == pytest.approx(2.9 - 1.2)
    assert pr.cpu_between(samples, 10.5, 11.5) == pytest.approx(2.9 - 1.2)  # exact hits
    assert pr.cpu_between(samples, 9.0, 11.0) is None  # starts before the first sample
    assert pr.cpu_between(samples, 10.0, 12.5) is None  # ends after the last


def test_cpu_within_interpolates_each_edge_between_its_samples() -> None:
    samples = [(10.0, 1.0), (10.5, 1.2), (11.0, 2.0), (11.5, 2.9), (12.0, 3.0)]
    assert pr.cpu_within(samples, 10.75, 11.25) == pytest.approx(2.45 - 1.6)
    assert pr.cpu_within(samples, 10.5, 11.5) == pytest.approx(2.9 - 1.2)  # exact hits
    assert pr.cpu_within(samples, 10.6, 11.4) < pr.cpu_between(samples, 10.6, 11.4)  # type: ignore[operator]
    assert pr.cpu_within(samples, 9.0, 11.0) is None  # starts before the first sample
    assert pr.cpu_within(samples, 10.0, 12.5) is None  # ends after the last


def test_run_figures_divide_events_by_wall_and_cpu_seconds() -> None:
    figures = pr.run_figures(1000, 100.0, 102.0, 4.0)
    assert figures == {
        "seconds": 2.0,
        "events_per_s": 500.0,
        "cpu_s": 4.0,
        "events_per_cpu_s": 250.0,
    }
    empty = pr.run_figures(1000, 100.0, 100.0, None)
    assert empty["events_per_s"] is None and empty["events_per_cpu_s"] is None


def test_medians_skip_rounds_without_a_figure() -> None:
    runs: list[dict[str, Any]] = [
        {"events_per_s": 100.0, "events_per_cpu_s": 10.0},
        {"events_per_s": 300.0, "events_per_cpu_s": None},
        {"events_per_s": 200.0, "events_per_cpu_s": 30.0},
    ]
    assert pr.medians(runs) == {"events_per_s": 200.0, "events_per_cpu_s": 20.0}
    assert pr.medians([]) == {"events_per_s": None, "events_per_cpu_s": None}


def test_ratios_are_ours_over_the_best_peer_of_each_figure() -> None:
    table: dict[str, dict[str, float | None]] = {
        "moodstream": {"events_per_s": 6000.0, "events_per_cpu_s": 9000.0},
        "arroyo": {"events_per_s": 7500.0, "events_per_cpu_s": 8000.0},
        "quix": {"events_per_s": 5000.0, "events_per_cpu_s": 12000.0},
    }
    found = pr.ratios(table, "moodstream")
    assert found["events_per_s"] == {"best_peer": "arroyo", "ratio": 0.8}
    assert found["events_per_cpu_s"] == {"best_peer": "quix", "ratio": 0.75}


def test_ratios_without_a_figure_are_none() -> None:
    table: dict[str, dict[str, float | None]] = {
        "moodstream": {"events_per_s": None, "events_per_cpu_s": 10.0},
        "arroyo": {"events_per_s": 7.0, "events_per_cpu_s": None},
    }
    found = pr.ratios(table, "moodstream")
    assert found["events_per_s"] == {"best_peer": "arroyo", "ratio": None}
    assert found["events_per_cpu_s"] == {"best_peer": None, "ratio": None}


def test_equal_outputs_within_the_tolerance_match() -> None:
    ours: dict[str, pr.Scores] = {"a": (0.1, 0.2, 0.3), "b": (None, None, None)}
    theirs: dict[str, pr.Scores] = {"a": (0.1 + 5e-10, 0.2, 0.3), "b": (None, None, None)}
    comparison = pr.compare_outputs(ours, theirs)
    assert comparison["differ"] == comparison["missing"] == comparison["extra"] == 0
    assert comparison["compared"] == 2
    assert not pr.mismatched(comparison)


def test_a_different_null_missing_or_extra_event_is_a_mismatch() -> None:
    ours: dict[str, pr.Scores] = {
        "a": (0.1, 0.2, 0.3),
        "b": (0.4, 0.5, 0.6),
        "c": (0.7, 0.8, 0.9),
        "d": (0.1, 0.1, 0.1),
    }
    theirs: dict[str, pr.Scores] = {
        "a": (0.1, 0.2, 0.3 + 2e-9),  # beyond the tolerance
        "b": (0.4, None, 0.6),  # a null where we scored
        "c": (0.7, 0.8, 0.9),
        "e": (0.1, 0.1, 0.1),  # never ours
    }
    comparison = pr.compare_outputs(ours, theirs)
    assert comparison["differ"] == 2
    assert comparison["missing"] == 1
    assert comparison["extra"] == 1
    assert pr.mismatched(comparison)
    assert [e["event_id"] for e in comparison["examples"]] == ["a", "b", "d"]


def test_the_table_names_each_system_its_ratios_and_the_machine() -> None:
    doc: dict[str, Any] = {
        "labels": {"moodstream": "moodstream run", "arroyo": "Arroyo"},
        "medians": {
            "moodstream": {"events_per_s": 4401.2, "events_per_cpu_s": 5908.0},
            "arroyo": {"events_per_s": 7351.0, "events_per_cpu_s": None},
        },
        "runs": [{"system": "moodstream"}, {"system": "arroyo"}, {"system": "arroyo"}],
        "ratios": {
            "events_per_s": {"best_peer": "arroyo", "ratio": 0.599},
            "events_per_cpu_s": {"best_peer": None, "ratio": None},
        },
        "events": 10000,
        "rounds": 2,
        "machine": {"cpu_model": "AMD EPYC", "usable_cores": 2, "load_avg_start": [1.0]},
        "outputs_equal": True,
    }
    text = pr.table_text(doc)
    assert "| moodstream run | 4,401 | 5,908 | 1 |" in text
    assert "| Arroyo | 7,351 | - | 2 |" in text
    assert "(arroyo), events/s: 0.599" in text
    assert "AMD EPYC" in text and "outputs equal: True" in text


def test_the_window_starts_at_a_peers_first_read_or_moodstreams_settled_group() -> None:
    from consumer.bench.peer_run import start_mark

    peer = b"noise\nfirst_consumed_unix=1796458972.273265\nmore\n"
    mark, start = start_mark(peer)
    assert mark == "first_read"
    assert start == pytest.approx(1796458972.273265)
    ours = (
        b'{"ts": "2026-12-05T08:22:47.958Z", "event": "partitions_assigned"}\n'
        b'{"ts": "2026-12-05T08:22:48.075Z", "level": "INFO", "event": "group_settled"}\n'
    )
    mark, start = start_mark(ours)
    assert mark == "group_settled"
    assert start == pytest.approx(1796458968.075)
    assert start_mark(b"nothing to go by\n") == ("", None)


def test_the_engines_own_cost_is_the_median_of_its_runs_against_the_goal() -> None:
    runs: list[dict[str, Any]] = [
        {"own_us": 24.0, "alerts": {}},
        {"own_us": 26.5},
        {"own_us": 23.5},
    ]
    own = pr.engine_own(runs)
    assert own["own_us"] == [24.0, 26.5, 23.5] and own["median_us"] == 24.0
    assert own["met"] and own["goal_us"] == 25.0 and own["runs"] == runs
    assert not pr.engine_own([{"own_us": 25.5}])["met"]
    assert pr.engine_own([]) == {
        "runs": [], "own_us": [], "median_us": None, "goal_us": 25.0, "met": False
    }  # fmt: skip


def test_the_table_gives_the_engines_own_cost_and_its_verdict() -> None:
    doc: dict[str, Any] = {
        "labels": {"moodstream": "moodstream run"},
        "medians": {"moodstream": {"events_per_s": 1.0, "events_per_cpu_s": 1.0}},
        "runs": [{"system": "moodstream"}],
        "ratios": {
            "events_per_s": {"best_peer": None, "ratio": None},
            "events_per_cpu_s": {"best_peer": None, "ratio": None},
        },
        "engine_own": pr.engine_own([{"own_us": 26.0}, {"own_us": 27.0}]),
        "events": 10,
        "rounds": 1,
        "machine": {},
        "outputs_equal": True,
    }
    text = pr.table_text(doc)
    assert "median 26.5 µs of [26.0, 27.0] (goal <= 25 µs: NOT met)" in text

"""The pure parts of ``moodstream bench``: percentiles, limits, ratios, targets, JSON shape."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from consumer.bench import report
from consumer.bench.text import summary


def test_percentile_interpolates_like_numpy() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    assert report.percentile(values, 0) == 1.0
    assert report.percentile(values, 100) == 4.0
    assert report.percentile(values, 50) == pytest.approx(2.5)
    assert report.percentile(values, 99) == pytest.approx(3.97)
    assert report.percentile([7.0], 99) == 7.0
    assert report.percentile([3.0, 1.0, 2.0], 50) == 2.0  # order does not matter


@pytest.mark.parametrize("q", [-1.0, 100.5])
def test_percentile_refuses_out_of_range(q: float) -> None:
    with pytest.raises(ValueError):
        report.percentile([1.0], q)


def test_percentile_of_nothing_raises() -> None:
    with pytest.raises(ValueError):
        report.percentile([], 50)


def test_latency_summary() -> None:
    summary_ = report.latency_summary([float(v) for v in range(1, 101)])
    assert summary_["count"] == 100
    assert summary_["p50_ms"] == pytest.approx(50.5)
    assert summary_["p99_ms"] == pytest.approx(99.01)
    assert summary_["max_ms"] == 100.0
    assert summary_["mean_ms"] == pytest.approx(50.5)
    empty = report.latency_summary([])
    assert empty["count"] == 0 and empty["p99_ms"] is None


def test_ratio_and_rate_handle_missing_figures() -> None:
    assert report.ratio(30.0, 4.0) == 7.5
    assert report.ratio(1.0, 3.0) == 0.333
    assert report.ratio(None, 3.0) is None
    assert report.ratio(3.0, 0.0) is None
    assert report.rate(10, 2.0) == 5.0
    assert report.rate(10, 0.0) is None


def test_drain_rate_counts_records_after_the_first() -> None:
    # first batch of 3 at t=1000 ms, then 4 more records by t=3000 ms
    stamps = [1000, 1000, 1000, 1500, 2000, 2500, 3000]
    events_per_s, seconds = report.drain_rate(stamps)
    assert seconds == 2.0
    assert events_per_s == pytest.approx(2.0)
    assert report.drain_rate([1000]) == (None, 0.0)


def test_workload_limits_scale_models_by_the_share_they_score() -> None:
    limits = report.workload_limits(
        passthrough=10_000.0,
        decode=20_000.0,
        trio_rows_per_s=9_500.0,
        pat_sequences_per_s=15.0,
        feature_share=0.95,
        activity_share=0.1,
    )
    assert limits["stages"] == {
        "passthrough": 10_000.0,
        "decode": 20_000.0,
        "boosters": 10_000.0,
        "pat": 150.0,
    }
    assert limits["tightest"] == {"stage": "pat", "events_per_s": 150.0}
    serial = 1 / (1 / 10_000 + 1 / 20_000 + 1 / 10_000 + 1 / 150)
    assert limits["serial_bound_events_per_s"] == pytest.approx(serial, abs=0.1)


def test_a_model_that_scores_nothing_sets_no_limit() -> None:
    limits = report.workload_limits(
        passthrough=8_000.0,
        decode=None,
        trio_rows_per_s=12_000.0,
        pat_sequences_per_s=15.0,
        feature_share=1.0,
        activity_share=0.0,
    )
    assert limits["stages"]["pat"] is None
    assert limits["tightest"] == {"stage": "passthrough", "events_per_s": 8_000.0}


def test_best_picks_the_fastest_batch() -> None:
    by_batch = {"batch_1": {"rows_per_s": 400.0}, "batch_512": {"rows_per_s": 21_000.0}}
    assert report.best(by_batch, "rows_per_s") == 21_000.0
    assert report.best({}, "rows_per_s") is None


def _document() -> dict[str, Any]:
    """A complete result document of a 1- and 2-worker run (memory for 1, 2 and 4)."""

    def run(rate: float, p99: float) -> dict[str, Any]:
        latency = {
            "count": 100,
            "p50_ms": p99 / 3,
            "p90_ms": p99 / 2,
            "p99_ms": p99,
            "max_ms": p99 * 1.2,
            "mean_ms": p99 / 3,
        }
        return {
            "workers": 1,
            "backlog_events": 1000,
            "sustained_events_per_s": rate,
            "drain_seconds": 2.0,
            "startup_s": 4.0,
            "events_per_worker_cpu_s": rate,
            "latency": {"load_50": dict(latency), "load_90": dict(latency)},
            "memory": memory(1),
        }

    def memory(workers: int) -> dict[str, Any]:
        return {
            "supervisor_pss_mb": 150.0,
            "workers_pss_mb": [120.0] * workers,
            "workers_total_pss_mb": 120.0 * workers,
            "total_pss_mb": 150.0 + 120.0 * workers,
        }

    per = {
        "features_only": report.workload_limits(
            passthrough=10_000.0,
            decode=30_000.0,
            trio_rows_per_s=20_000.0,
            pat_sequences_per_s=16.0,
            feature_share=1.0,
            activity_share=0.0,
        ),
        "mixed": report.workload_limits(
            passthrough=3_000.0,
            decode=8_000.0,
            trio_rows_per_s=20_000.0,
            pat_sequences_per_s=16.0,
            feature_share=0.95,
            activity_share=0.1,
        ),
    }
    doc: dict[str, Any] = {
        "schema": report.SCHEMA,
        "mode": "quick",
        "command": "moodstream bench --quick",
        "started_at": "2026-11-27T10:00:00+00:00",
        "finished_at": "2026-11-27T10:03:00+00:00",
        "duration_s": 170.0,
        "machine": {
            "cores": 2,
            "cpu_model": "AMD EPYC",
            "load_avg_start": [0.5, 0.4, 0.3],
            "load_avg_end": [1.5, 0.9, 0.5],
            "versions": {"python": "3.11"},
        },
        "config": {"workers": [1, 2], "memory_workers": [1, 2, 4]},
        "workloads": {},
        "limits": {
            "passthrough": {
                "features_only": {"events_per_s": 10_000.0},
                "mixed": {"events_per_s": 3_000.0},
            },
            "models": {
                "booster_trio": {
                    "batch_1": {"rows_per_s": 400.0},
                    "batch_512": {"rows_per_s": 20_000.0},
                },
                "pat": {"batch_1": {"sequences_per_s": 16.0}, "batch_8": {"sequences_per_s": 15.0}},
                "pat_size": "M",
            },
            "decode": {
                "features_event": {"events_per_s": 30_000.0},
                "activity_event": {"events_per_s": 2_000.0},
                "features_only": {"events_per_s": 30_000.0},
                "mixed": {"events_per_s": 8_000.0},
            },
            "per_workload": per,
        },
        "moodstream": {
            "features_only": {"workers_1": run(7_500.0, 60.0), "workers_2": run(12_000.0, 50.0)},
            "mixed": {"workers_1": run(140.0, 250.0), "workers_2": run(260.0, 240.0)},
        },
        "memory": {"workers_1": memory(1), "workers_2": memory(2), "workers_4": memory(4)},
        "baseline": {"features_only": {"events_per_s": 200.0}, "mixed": {"events_per_s": 60.0}},
        "definitions": {},
    }
    doc["ratios"] = report.ratios(doc)
    doc["targets"] = report.targets(doc)
    return doc


def test_ratios_against_baseline_and_tightest_limit() -> None:
    ratios = _document()["ratios"]
    assert ratios["features_only"]["vs_baseline"] == 37.5
    assert ratios["features_only"]["vs_limit"] == 0.75
    assert ratios["features_only"]["per_cpu_vs_serial_bound"] is None  # no CPU figures here
    assert ratios["mixed"]["vs_baseline"] == pytest.approx(2.333)
    assert ratios["mixed"]["vs_limit"] == pytest.approx(0.875)  # PAT: 16 / 0.1 = 160 events/s
    assert ratios["mixed"]["vs_pat_limit"] == pytest.approx(0.875)
    assert "vs_pat_limit" not in ratios["features_only"]


def test_targets_report_value_threshold_and_verdict() -> None:
    by_name = {t["name"]: t for t in _document()["targets"]}
    assert len(by_name) == len(report.TARGETS)
    assert by_name["features_only_vs_limit"]["met"] is True
    assert by_name["features_only_vs_baseline"]["value"] == 37.5
    assert by_name["mixed_vs_pat_limit"]["met"] is True
    assert by_name["features_only_p99_at_50pct_ms"] == {
        "name": "features_only_p99_at_50pct_ms",
        "value": 60.0,
        "target": "<= 100",
        "unit": "ms",
        "met": True,
    }
    assert by_name["four_workers_total_pss_mb"]["value"] == 630.0
    assert by_name["four_workers_total_pss_mb"]["met"] is True


def test_an_unmeasured_target_has_no_verdict() -> None:
    doc = _document()
    del doc["memory"]["workers_4"]
    by_name = {t["name"]: t for t in report.targets(doc)}
    assert by_name["four_workers_total_pss_mb"]["met"] is None


def test_a_complete_document_has_the_right_shape_and_is_json() -> None:
    doc = _document()
    assert report.check_shape(doc) == []
    assert report.check_shape(json.loads(json.dumps(doc))) == []


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (("ratios", "mixed", "vs_pat_limit"), "ratios.mixed.vs_pat_limit"),
        (("moodstream", "mixed", "workers_2"), "moodstream.mixed.workers_2"),
        (("memory", "workers_4"), "memory.workers_4"),
        (("limits", "models", "booster_trio", "batch_512"), "booster_trio.batch_512"),
        (("moodstream", "features_only", "workers_1", "latency", "load_90"), "load_90"),
        (("baseline", "features_only"), "baseline.features_only"),
        (("machine", "load_avg_end"), "machine.load_avg_end"),
    ],
)
def test_shape_check_names_what_is_missing(path: tuple[str, ...], expected: str) -> None:
    doc = copy.deepcopy(_document())
    section = doc
    for key in path[:-1]:
        section = section[key]
    del section[path[-1]]
    problems = report.check_shape(doc)
    assert problems and any(expected in problem for problem in problems), problems


def test_shape_check_refuses_a_non_numeric_figure() -> None:
    doc = _document()
    doc["moodstream"]["mixed"]["workers_1"]["sustained_events_per_s"] = None
    assert any("sustained_events_per_s" in p for p in report.check_shape(doc))


def test_shape_check_follows_the_configured_worker_counts() -> None:
    doc = _document()
    del doc["moodstream"]["features_only"]["workers_2"], doc["moodstream"]["mixed"]["workers_2"]
    del doc["memory"]["workers_2"], doc["memory"]["workers_4"]
    doc["config"] = {"workers": [1], "memory_workers": [1]}
    assert report.check_shape(doc) == []


def test_memory_entry_must_list_each_worker() -> None:
    doc = _document()
    doc["memory"]["workers_4"]["workers_pss_mb"] = [120.0, 120.0]
    assert any("expected 4 workers" in p for p in report.check_shape(doc))


def test_summary_renders_every_section() -> None:
    text = summary({**_document(), "duration_s": 170.0})
    for heading in (
        "tightest limit",
        "sustained events/s",
        "vs baseline",
        "total PSS MB",
        "four_workers_total_pss_mb",
    ):
        assert heading in text
    assert "37.5" in text


def test_pat_runtime_speedups_keep_only_runtimes_within_their_bound() -> None:
    from consumer.bench.pat_runtimes import best_speedup, speedups
    from consumer.bench.text import pat_runtimes_table

    def fig(b1: float, b4: float, error: float, bound: float) -> dict[str, object]:
        return {
            "batch_1": {"sequences_per_cpu_s": b1},
            "batch_4": {"sequences_per_cpu_s": b4},
            "max_abs_error": error,
            "bound": bound,
            "within_bound": error <= bound,
            "peak_rss_mb": 300.0,
            "torch_imported": True,
        }

    runtimes = {
        "torch-fp32": fig(40.0, 38.0, 0.0, 1e-5),
        "onnx-fp32": fig(36.0, 34.2, 1e-7, 1e-5),
        "torch-bf16": fig(100.0, 114.0, 0.02, 0.01),
    }  # fastest, over its bound
    ratios = speedups(runtimes)
    assert ratios["onnx-fp32"] == {"batch_1": 0.9, "batch_4": 0.9}
    assert ratios["torch-bf16"]["batch_4"] == 3.0
    assert best_speedup(runtimes, 4) == 1.0  # torch fp32 itself: bf16 does not count
    runtimes["torch-bf16"] = fig(100.0, 114.0, 0.003, 0.01)
    assert best_speedup(runtimes, 4) == 3.0
    table = pat_runtimes_table(
        {
            "pat_runtimes": {
                "runtimes": runtimes,
                "weeks": 8,
                "speedup_vs_torch_fp32": speedups(runtimes),
            }
        }
    )
    assert "| torch-bf16 | 100.0 / 114.0 | 2.50 / 3.00 | 3.0e-03 (≤ 0.01) | 300 | yes |" in table

"""The per-runtime mixed row of the bench (issue 20): pure parts, no service."""

from __future__ import annotations

import json

from consumer.bench import report
from consumer.bench.mixed_runtimes import chosen_runtime, requests_for, vs_pat_limit
from consumer.bench.text import mixed_runtimes_table
from tests.unit.bench.test_bench_report import _document


def test_bf16_is_requested_only_where_the_cpu_has_it() -> None:
    assert list(requests_for(bf16_native=True)) == ["onnx", "auto-bf16"]
    assert list(requests_for(bf16_native=False)) == ["onnx"]


def test_the_chosen_runtime_comes_from_the_calibration_line() -> None:
    line = json.dumps({"event": "pat_calibrated", "requested": "auto-bf16", "chosen": "torch-bf16"})
    assert chosen_runtime(f"x\n{line}\n", "auto", "bf16") == "torch-bf16"
    assert chosen_runtime("no such line", "onnx", "fp32") == "onnx-fp32"


def test_the_ratio_is_events_per_cpu_s_against_pat_sequences_over_the_share() -> None:
    # 28 PAT sequences per CPU-s with half the events carrying a week: 56 events per CPU-s
    assert vs_pat_limit(50.4, 0.5, 28.0) == 0.9
    assert vs_pat_limit(None, 0.5, 28.0) is None
    assert vs_pat_limit(50.0, 0.5, None) is None


def test_the_ratios_and_the_summary_carry_each_runtimes_row() -> None:
    row = {
        "runtime": "onnx-fp32",
        "events_per_worker_cpu_s": 50.4,
        "pat_limit_events_per_cpu_s": 56.0,
        "vs_pat_limit": 0.9,
        "partial": 0,
    }
    doc = {
        **_document(),
        "mixed_runtimes": {
            "events": 600,
            "activity_share": 0.5,
            "goal_vs_pat_limit": 0.9,
            "onnx": row,
        },
    }
    ratios = report.ratios(doc)
    assert ratios["mixed"]["per_runtime_vs_pat_limit_per_cpu_s"] == {"onnx": 0.9}
    assert "per_runtime_vs_pat_limit_per_cpu_s" not in report.ratios(_document())["mixed"]
    table = mixed_runtimes_table(doc)
    assert "onnx-fp32" in table and "56.0" in table and "50 % with" not in table
    assert "50% with a week" in table

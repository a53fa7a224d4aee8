"""The backlog scenario's arithmetic and its summary table (no broker, no service)."""

from __future__ import annotations

from consumer.bench.backlog import pat_limit
from consumer.bench.text import backlog_table


def test_pat_limit_is_the_best_measured_batch() -> None:
    limits = {
        "models": {
            "pat": {"batch_1": {"sequences_per_s": 17.0}, "batch_4": {"sequences_per_s": 19.5}}
        }
    }
    assert pat_limit(limits) == 19.5
    assert pat_limit({"models": {}}) is None


def test_backlog_table_shows_each_worker_count_and_the_scale_out() -> None:
    doc = {
        "backlog": {
            "events": 500,
            "pat_limit_sequences_per_s": 20.0,
            "goal_vs_pat_limit": 0.85,
            "workers_1": {
                "sustained_events_per_s": 18.0,
                "drain_seconds": 27.7,
                "vs_pat_limit": 0.9,
                "partial": 0,
                "peak_worker_rss_mb": 310.0,
            },
            "workers_2": {
                "sustained_events_per_s": 34.0,
                "drain_seconds": 14.7,
                "vs_pat_limit": 0.85,
                "partial": 0,
                "peak_worker_rss_mb": 305.0,
            },
            "scale_out_2_vs_1": 1.89,
        }
    }
    text = backlog_table(doc)
    assert "activity-only backlog of 500 events" in text
    rows = [line.split() for line in text.splitlines()[2:4]]
    assert rows[0][:5] == ["1", "18.0", "27.7", "0.9", "0"]
    assert rows[1][:5] == ["2", "34.0", "14.7", "0.85", "0"]
    assert "1.89x" in text
    assert backlog_table({}) == ""

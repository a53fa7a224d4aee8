"""The engine-cost tool's arithmetic: which thread is which, µs per event."""

from __future__ import annotations

import os

import pytest

from consumer.bench.engine_cost import alert_counts, engine_cost, read_threads


def test_the_split_of_a_worker_s_cpu_per_event() -> None:
    start = {10: (1.0, "python"), 11: (0.5, "python"), 12: (0.1, "rdk:main"), 13: (0.0, "python")}
    end = {
        10: (3.0, "python"),  # the loop: 2 s
        11: (4.5, "python"),  # the booster pool thread: 4 s, the busiest other
        12: (0.6, "rdk:main"),  # librdkafka: 0.5 s
        13: (0.2, "python"),  # another thread: 0.2 s
        14: (0.3, "rdk:broker1"),  # started after the first reading: 0.3 s
    }
    cost = engine_cost(start, end, loop_tid=10, events=100_000)
    assert cost.events == 100_000
    assert cost.worker_us == 70.0  # 7 s over 100,000 events
    assert cost.booster_us == 40.0
    assert cost.loop_us == 20.0
    assert cost.rdkafka_us == 8.0
    assert cost.own_us == 30.0  # the worker less the booster thread


def test_a_worker_without_other_threads_has_no_booster_share() -> None:
    cost = engine_cost({1: (0.0, "python")}, {1: (0.5, "python")}, loop_tid=1, events=10_000)
    assert (cost.booster_us, cost.own_us, cost.loop_us) == (0.0, 50.0, 50.0)


def test_no_event_is_an_error() -> None:
    with pytest.raises(ValueError, match="no event"):
        engine_cost({}, {}, loop_tid=1, events=0)


def test_this_process_s_threads_are_read() -> None:
    threads = read_threads(os.getpid())
    assert os.getpid() in threads
    cpu, name = threads[os.getpid()]
    assert cpu >= 0.0 and name


def test_alerts_are_counted_by_kind_from_the_metrics_page() -> None:
    page = "\n".join(
        [
            "# HELP moodstream_alerts_published_total Alerts published",
            "# TYPE moodstream_alerts_published_total counter",
            'moodstream_alerts_published_total{kind="slow_prediction"} 2048.0',
            'moodstream_alerts_published_total{kind="model_timeout"} 0.0',
            "",
        ]
    )
    assert alert_counts(page) == {"slow_prediction": 2048}
    assert alert_counts("") == {}

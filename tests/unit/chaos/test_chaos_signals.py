"""The chaos suite's judgement of /readyz and the lag gauge, the crash log, and the
network-fault plan (pure)."""

from __future__ import annotations

import argparse

import pytest

from consumer.chaos.accounting import FaultWindow
from consumer.chaos.network_faults import NETWORK_SUITE
from consumer.chaos.signals import Sample, backlog_at, crash_times, parse_lag, signal_stats
from consumer.commands.chaos import QUICK, _durations, _fault_names
from consumer.errors import ConfigError

WINDOW = FaultWindow("partition_leader", start_s=10.0, heal_s=40.0, end_s=60.0)


def test_parse_lag_sums_every_partition_series() -> None:
    page = (
        "# HELP moodstream_consumer_lag Messages behind\n"
        'moodstream_consumer_lag{partition="0",topic="t"} 12.0\n'
        'moodstream_consumer_lag{partition="1",topic="t"} 30.0\n'
        'moodstream_consumer_lag_other{partition="1"} 99.0\n'
    )
    assert parse_lag(page) == 42.0


def test_backlog_is_acknowledged_minus_answered() -> None:
    assert backlog_at([1.0, 2.0, 3.0], [1.5], 2.5) == 1
    assert backlog_at([1.0, 2.0, 3.0], [1.5, 2.5, 3.5], 4.0) == 0


def _stall(lag_during: float, ready_during: bool) -> tuple[dict[str, float], list[Sample]]:
    acked = {f"e{i}": 10.0 + i * 0.1 for i in range(300)}  # 300 events in the fault
    samples = [
        Sample(5.0, True, 0.0),
        Sample(20.0, ready_during, lag_during),
        Sample(39.0, ready_during, lag_during),
        Sample(50.0, True, 0.0),
    ]
    return acked, samples


def test_a_stall_must_show_as_not_ready_and_as_lag() -> None:
    acked, samples = _stall(lag_during=280.0, ready_during=False)
    stats = signal_stats(WINDOW, samples, acked, {}, longest_gap_s=30.0, rate_per_s=10.0)
    # at 39 s every event acknowledged by then still waits
    assert stats.backlog_peak == sum(1 for at in acked.values() if at <= 39.0) > 280
    assert stats.not_ready_share == 1.0
    assert stats.readyz_truthful and stats.lag_truthful
    acked, samples = _stall(lag_during=0.0, ready_during=True)
    lying = signal_stats(WINDOW, samples, acked, {}, longest_gap_s=30.0, rate_per_s=10.0)
    assert lying.readyz_truthful is False and lying.lag_truthful is False


def test_no_stall_means_ready_is_the_truth_and_no_samples_judge_nothing() -> None:
    acked = {"a": 11.0}
    first = {"a": 11.2}
    samples = [Sample(20.0, True, 0.0)]
    stats = signal_stats(WINDOW, samples, acked, first, longest_gap_s=2.0, rate_per_s=10.0)
    assert stats.readyz_truthful and stats.lag_truthful and stats.backlog_peak == 0
    empty = signal_stats(WINDOW, [], acked, first, longest_gap_s=2.0, rate_per_s=10.0)
    assert empty.readyz_truthful is None and empty.lag_truthful is None


def test_crash_times_reads_crashes_and_hung_workers_only() -> None:
    log = "\n".join(
        [
            '{"ts": "2026-12-02T15:56:37.000Z", "event": "worker_crashed", "pid": 1}',
            '{"ts": "2026-12-02T15:56:38.500Z", "event": "worker_hung", "worker_pid": 2}',
            '{"ts": "2026-12-02T15:56:39.000Z", "event": "model_loaded"}',
            "not json worker_crashed",
        ]
    )
    times = crash_times(log)
    assert len(times) == 2 and times[1] - times[0] == pytest.approx(1.5)


def _args(**values: object) -> argparse.Namespace:
    defaults: dict[str, object] = {"faults": None, "quick": False, "fault_seconds": None}
    return argparse.Namespace(**{**defaults, **values})


def test_fault_groups_expand_and_unknown_faults_are_refused() -> None:
    assert _fault_names(_args(faults="network")) == NETWORK_SUITE
    assert _fault_names(_args(faults="pause,latency,pause")) == ("pause", "latency")
    with pytest.raises(ConfigError, match="unknown fault"):
        _fault_names(_args(faults="latency,flood"))


def test_fault_seconds_shortens_every_network_fault_only() -> None:
    durations = _durations(_args(quick=True, fault_seconds=5.0))
    assert durations.partition_s == durations.half_open_s == durations.bandwidth_s == 5.0
    assert durations.pause_s == QUICK.pause_s
    with pytest.raises(ConfigError):
        _durations(_args(fault_seconds=0.0))

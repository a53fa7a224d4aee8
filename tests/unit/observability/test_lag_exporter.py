"""The lag exporter's gauges: partitions come and go, a failed read drops the numbers."""

from __future__ import annotations

import math

from prometheus_client import CollectorRegistry

from consumer.kafka.lag import LagReport, PartitionLag
from consumer.observability.lag_exporter import LagGauges


def lag_of(registry: CollectorRegistry, partition: int) -> float | None:
    labels = {"group": "g", "topic": "t", "partition": str(partition)}
    return registry.get_sample_value("moodstream_group_lag", labels)


def report(*lags: int) -> LagReport:
    return LagReport("g", tuple(PartitionLag("t", p, None, lag, lag) for p, lag in enumerate(lags)))


def test_record_publishes_each_partition_and_drops_vanished_ones() -> None:
    registry = CollectorRegistry()
    gauges = LagGauges(registry)
    before = registry.get_sample_value("moodstream_group_lag_read_success")
    assert before is not None and math.isnan(before)  # not 0: no failure alert at start
    gauges.record(report(5, 0, 7), now_s=1_700_000_000.0)
    assert [lag_of(registry, p) for p in range(3)] == [5.0, 0.0, 7.0]
    assert registry.get_sample_value("moodstream_group_lag_read_success") == 1.0
    assert registry.get_sample_value("moodstream_group_lag_last_read_timestamp_seconds") == (
        1_700_000_000.0
    )
    gauges.record(report(1, 2), now_s=1_700_000_015.0)
    assert [lag_of(registry, p) for p in range(3)] == [1.0, 2.0, None]


def test_a_failed_read_leaves_no_stale_lag() -> None:
    registry = CollectorRegistry()
    gauges = LagGauges(registry)
    gauges.record(report(5), now_s=1.0)
    gauges.record_failure()
    assert lag_of(registry, 0) is None
    assert registry.get_sample_value("moodstream_group_lag_read_success") == 0.0
    assert registry.get_sample_value("moodstream_group_lag_last_read_timestamp_seconds") == 1.0

"""Gathered latency observations give the histogram ``observe`` would, bucket for bucket."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, Histogram

from consumer.observability.metrics import LATENCY_BUCKETS_S
from consumer.observability.observations import PendingObservations

VALUES = (0.0, 0.001, 0.0011, 0.004, 0.3, 0.75, 1.0, 1.0000001, 7.5, 10.0, 11.0, 1e9, -0.5)


def samples(histogram: Histogram) -> dict[str, float]:
    return {
        f"{s.name}{sorted(s.labels.items())}": s.value
        for metric in histogram.collect()
        for s in metric.samples
        if not s.name.endswith("_created")
    }


def two_histograms() -> tuple[Histogram, Histogram]:
    return (
        Histogram("one_by_one", "d", registry=CollectorRegistry(), buckets=LATENCY_BUCKETS_S),
        Histogram("gathered", "d", registry=CollectorRegistry(), buckets=LATENCY_BUCKETS_S),
    )


def test_gathered_observations_match_observe_bucket_for_bucket() -> None:
    one_by_one, gathered = two_histograms()
    pending = PendingObservations(gathered)
    for round_values in (VALUES, VALUES[:3], ()):
        for value in round_values:
            one_by_one.observe(value)
        pending.add_all(list(round_values))
        pending.flush()
    expected = {k.replace("one_by_one", "gathered"): v for k, v in samples(one_by_one).items()}
    got = samples(gathered)
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        if name.startswith("gathered_sum"):
            assert got[name] == pytest.approx(value, rel=1e-12)
        else:
            assert got[name] == value, name  # counts: exact
    assert got["gathered_count[]"] == len(VALUES) + 3


def test_nothing_is_written_before_flush_and_nan_counts_in_no_bucket() -> None:
    one_by_one, gathered = two_histograms()
    pending = PendingObservations(gathered)
    pending.add_all([0.2])
    assert samples(gathered)["gathered_count[]"] == 0
    pending.add_all([math.nan])
    one_by_one.observe(0.2)
    one_by_one.observe(math.nan)
    pending.flush()
    assert samples(gathered)["gathered_count[]"] == samples(one_by_one)["one_by_one_count[]"] == 1
    assert math.isnan(samples(gathered)["gathered_sum[]"])


def test_a_nan_among_values_counts_in_no_bucket_and_the_others_do() -> None:
    one_by_one, gathered = two_histograms()
    pending = PendingObservations(gathered)
    values = [0.3, math.nan, 0.004, 20.0]
    for value in values:
        one_by_one.observe(value)
    pending.add_all(values)
    pending.flush()
    expected = samples(one_by_one)
    for name, value in samples(gathered).items():
        if "_bucket" in name or "_count" in name:
            assert value == expected[name.replace("gathered", "one_by_one")], name
    assert samples(gathered)["gathered_count[]"] == 3

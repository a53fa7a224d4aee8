"""The in-process engine measure publishes one prediction per event of every round."""

from __future__ import annotations

from consumer.bench.engine_python import PARTITIONS, backlog_batches, measure


def test_every_event_of_every_round_is_published_once() -> None:
    result = measure(events=300, batch=128, rounds=2)
    assert result["records"] == 600
    assert result["loop_us_median"] > 0 and result["loop_us_least"] <= result["loop_us_median"]


def test_the_backlog_is_split_in_batches_with_offsets_per_partition() -> None:
    batches = backlog_batches(300, 128)
    assert [len(b) for b in batches] == [128, 128, 44]
    messages = [m for b in batches for m in b]
    for partition in range(PARTITIONS):
        offsets = [m.offset() for m in messages if m.partition() == partition]
        assert offsets == list(range(len(offsets)))

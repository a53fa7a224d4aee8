from __future__ import annotations

import pytest

from consumer.engine.batching import BatchPolicy, MicroBatcher
from consumer.engine.offsets import CommitPolicy, OffsetTracker
from tests.fakes import FakeClock

TP = ("mood.features.v1", 0)


def test_batch_closes_on_size() -> None:
    batcher: MicroBatcher[int] = MicroBatcher(BatchPolicy(max_batch_size=3, max_batch_wait_s=10))
    for i in range(3):
        assert not batcher.ready(now=0.0)
        batcher.add(i, now=0.0)
    assert batcher.room() == 0 and batcher.ready(now=0.0)
    assert batcher.take() == [0, 1, 2] and len(batcher) == 0


def test_batch_wait_starts_at_first_item() -> None:
    clock = FakeClock()
    batcher: MicroBatcher[str] = MicroBatcher(
        BatchPolicy(max_batch_size=100, max_batch_wait_s=0.02)
    )
    assert batcher.time_left_s(clock.monotonic()) is None
    clock.advance(5.0)  # idle time before the first item does not count
    batcher.add("a", clock.monotonic())
    clock.advance(0.015)
    batcher.add("b", clock.monotonic())
    assert not batcher.ready(clock.monotonic())
    assert batcher.time_left_s(clock.monotonic()) == pytest.approx(0.005)
    clock.advance(0.005)
    assert batcher.ready(clock.monotonic())
    assert batcher.take() == ["a", "b"]
    assert batcher.time_left_s(clock.monotonic()) is None


def test_zero_wait_closes_immediately() -> None:
    batcher: MicroBatcher[int] = MicroBatcher(BatchPolicy(max_batch_size=10, max_batch_wait_s=0))
    batcher.add(1, now=3.0)
    assert batcher.ready(now=3.0)


@pytest.mark.parametrize(("size", "wait"), [(0, 1.0), (1, -0.1)])
def test_batch_policy_is_validated(size: int, wait: float) -> None:
    with pytest.raises(ValueError):
        BatchPolicy(max_batch_size=size, max_batch_wait_s=wait)


def test_commit_only_contiguous_acknowledged_prefix() -> None:
    tracker = OffsetTracker()
    for offset in (10, 11, 12):
        tracker.track(TP, offset, outputs=2)
    tracker.ack(TP, 11)
    tracker.ack(TP, 11)  # 11 fully done, but 10 is not
    assert tracker.committable() == {}
    tracker.ack(TP, 10)
    assert tracker.committable() == {}
    tracker.ack(TP, 10)
    assert tracker.committable() == {TP: 12}  # 10 and 11 done → next to read is 12
    assert tracker.inflight() == 1
    tracker.mark_committed({TP: 12})
    assert tracker.committable() == {}
    tracker.ack(TP, 12)
    tracker.ack(TP, 12)
    assert tracker.committable() == {TP: 13} and tracker.inflight() == 0


def test_partitions_are_independent_and_forgettable() -> None:
    other = ("mood.features.v1", 1)
    tracker = OffsetTracker()
    tracker.track(TP, 0, outputs=1)
    tracker.track(other, 5, outputs=1)
    tracker.ack(other, 5)
    assert tracker.committable() == {other: 6}
    assert tracker.committable(partitions={TP}) == {}
    tracker.forget({other})
    tracker.ack(other, 5)  # late ack of a revoked partition is ignored
    assert tracker.committable() == {} and tracker.inflight() == 1


def test_offsets_must_increase() -> None:
    tracker = OffsetTracker()
    tracker.track(TP, 3, outputs=1)
    with pytest.raises(ValueError):
        tracker.track(TP, 3, outputs=1)


def test_commit_policy_takes_time_as_argument() -> None:
    policy = CommitPolicy(interval_s=1.0, every_messages=100, settle_s=0.1)
    assert not policy.due(now=10.5, last_commit_at=10.0, messages_since=5)
    assert policy.due(now=11.0, last_commit_at=10.0, messages_since=5)
    assert not policy.due(now=99.0, last_commit_at=10.0, messages_since=0)
    assert policy.due(now=10.0, last_commit_at=10.0, messages_since=100)


def test_commit_policy_commits_promptly_once_settled() -> None:
    policy = CommitPolicy(interval_s=1.0, every_messages=100, settle_s=0.1)
    assert not policy.due(now=10.05, last_commit_at=10.0, messages_since=5, settled=True)
    assert policy.due(now=10.15, last_commit_at=10.0, messages_since=5, settled=True)
    assert not policy.due(now=10.5, last_commit_at=10.0, messages_since=5, settled=False)


def test_remove_if_drops_revoked_items_only() -> None:
    batcher: MicroBatcher[tuple[int, int]] = MicroBatcher(BatchPolicy(10, 1.0))
    for partition, offset in [(0, 1), (1, 1), (0, 2)]:
        batcher.add((partition, offset), now=0.0)
    assert batcher.remove_if(lambda item: item[0] == 0) == 2
    assert batcher.take() == [(1, 1)]
    batcher.add((0, 3), now=0.0)
    assert batcher.remove_if(lambda item: True) == 1
    assert batcher.time_left_s(now=0.5) is None


def test_the_invalid_streak_rides_with_the_last_acknowledged_offset() -> None:
    from consumer.engine.offsets import OffsetTracker, parse_streak, streak_metadata

    tracker = OffsetTracker()
    tracker.track(("t", 0), 5, outputs=1, note=3)
    tracker.track(("t", 0), 6, outputs=1, note=4)
    tracker.ack(("t", 0), 5)
    assert tracker.note(("t", 0)) == 3  # 6 not acknowledged yet
    tracker.ack(("t", 0), 6)
    assert tracker.note(("t", 0)) == 4
    assert parse_streak(streak_metadata(4)) == 4
    assert parse_streak("") == parse_streak(None) == parse_streak("other=7") == 0


def test_batch_closes_on_bytes_before_size() -> None:
    batcher: MicroBatcher[int] = MicroBatcher(
        BatchPolicy(max_batch_size=100, max_batch_wait_s=10, max_batch_bytes=1_000)
    )
    batcher.add(0, now=0.0, size=400)
    assert not batcher.ready(now=0.0)
    assert batcher.room() == 1  # 600 bytes left at 400 a message
    batcher.add(1, now=0.0, size=400)
    assert batcher.room() == 1 and not batcher.ready(now=0.0)  # never 0 before full
    batcher.add(2, now=0.0, size=400)
    assert batcher.bytes == 1_200 and batcher.room() == 0 and batcher.ready(now=0.0)
    assert batcher.take() == [0, 1, 2] and batcher.bytes == 0


def test_room_uses_the_mean_size_of_earlier_batches() -> None:
    batcher: MicroBatcher[int] = MicroBatcher(
        BatchPolicy(max_batch_size=1_000, max_batch_wait_s=10, max_batch_bytes=10_000)
    )
    assert batcher.room() == 1_000  # no size seen yet: only the count bounds the fetch
    for i in range(5):
        batcher.add(i, now=0.0, size=1_000)
    batcher.take()
    assert batcher.room() == 10  # 10,000 bytes at a mean of 1,000
    batcher.add(9, now=0.0, size=5_000)  # larger than the mean: the larger one counts
    assert batcher.room() == 1


def test_without_a_byte_bound_sizes_are_ignored() -> None:
    batcher: MicroBatcher[int] = MicroBatcher(BatchPolicy(max_batch_size=3, max_batch_wait_s=10))
    batcher.add(0, now=0.0, size=10**9)
    assert batcher.room() == 2 and not batcher.ready(now=0.0)


def test_remove_if_keeps_the_bytes_of_what_stays() -> None:
    batcher: MicroBatcher[tuple[int, int]] = MicroBatcher(BatchPolicy(10, 1.0, 1_000))
    for item in ((0, 300), (1, 200), (0, 100)):
        batcher.add(item, now=0.0, size=item[1])
    assert batcher.remove_if(lambda item: item[0] == 0) == 2  # it keeps the sizes
    assert batcher.bytes == 200
    assert batcher.remove_if(lambda item: True) == 1 and batcher.bytes == 0


@pytest.mark.parametrize("limit", [0, -1])
def test_byte_bound_is_validated(limit: int) -> None:
    with pytest.raises(ValueError):
        BatchPolicy(max_batch_size=1, max_batch_wait_s=0, max_batch_bytes=limit)


def test_extend_adds_items_with_their_sizes_and_an_empty_one_opens_nothing() -> None:
    batcher: MicroBatcher[str] = MicroBatcher(BatchPolicy(10, 1.0, 1_000))
    batcher.extend([], [], now=5.0)
    assert batcher.time_left_s(5.0) is None  # no batch was opened
    batcher.extend(["a", "b"], [600, 500], now=6.0)
    assert batcher.bytes == 1_100 and batcher.ready(now=6.0)  # over the byte bound
    assert batcher.remove_if(lambda item: item == "a") == 1 and batcher.bytes == 500
    with pytest.raises(ValueError):
        batcher.extend(["c"], [], now=6.0)


def test_a_stage_gives_the_policy_its_own_bounds_and_keeps_the_wait() -> None:
    from consumer.settings import ProcessingSettings

    processing = ProcessingSettings(max_batch_size=100, max_batch_wait_ms=30, max_batch_bytes=4096)
    assert BatchPolicy.of(processing) == BatchPolicy(100, 0.03, 4096)
    assert BatchPolicy.of(processing, bounds=(7, None)) == BatchPolicy(7, 0.03, None)

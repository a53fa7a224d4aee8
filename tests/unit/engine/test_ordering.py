"""Per-key output order: the pure sequencer, and the in-flight batches publishing through it
(fake messages, fake models on hand-run pools, a fake clock; no threads, no sleeps)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from consumer.engine.batch_records import BatchResult, Polled, SourceResult
from consumer.engine.inflight import InFlight
from consumer.engine.offsets import TopicPartitionKey
from consumer.engine.ordering import KeySequencer
from consumer.engine.pipeline import Pipeline
from consumer.engine.recorder import Recorder
from consumer.ensemble.scoring import Ensemble
from consumer.settings import ProcessingSettings, Settings
from tests.fakes import (
    FakeClock,
    FakeMessage,
    FakeModel,
    InlineExecutor,
    ManualExecutor,
    booster_lanes,
    event_bytes,
    make_lane,
)
from tests.fakes.kafka import FakePublisher

# -- the sequencer ------------------------------------------------------------------------


class Item:
    """A hashable stand-in for a source (identity semantics, like ``SourceResult``)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


def names(items: list[Item]) -> list[str]:
    return [item.name for item in items]


def sequenced(*keys: str) -> tuple[KeySequencer[Item], list[Item]]:
    """A sequencer with one item per key letter, registered in that order on partition 0."""
    order: KeySequencer[Item] = KeySequencer()
    items = [Item(f"{key}{i}") for i, key in enumerate(keys)]
    for item, key in zip(items, keys, strict=True):
        order.register(0, key, item)
    return order, items


def test_a_later_event_of_a_key_waits_for_the_earlier_one_and_leaves_with_it() -> None:
    order, (a0, b1, a2, a3) = sequenced("a", "b", "a", "a")
    assert order.answer(a2) == [] and order.held == 1
    assert order.answer(b1) == [b1]  # another key never waits
    assert order.answer(a3) == [] and order.held == 2
    assert names(order.answer(a0)) == ["a0", "a2", "a3"]
    assert len(order) == 0 and order.held == 0


def test_only_the_answered_prefix_is_released() -> None:
    order, (a0, a1, a2, a3) = sequenced("a", "a", "a", "a")
    assert order.answer(a2) == []
    assert order.answer(a0) == [a0]  # a1 is still unanswered: a2 stays held
    assert order.held == 1 and len(order) == 3
    assert names(order.answer(a1)) == ["a1", "a2"]
    assert order.answer(a3) == [a3]


def test_the_same_key_on_another_partition_is_another_key() -> None:
    order: KeySequencer[Item] = KeySequencer()
    slow, fast = Item("p0"), Item("p1")
    order.register(0, "a", slow)
    order.register(1, "a", fast)
    assert order.answer(fast) == [fast]


def test_unregistered_items_pass_and_misuse_raises() -> None:
    order, (a0, a1) = sequenced("a", "a")
    stranger = Item("x")
    assert order.answer(stranger) == [stranger]
    with pytest.raises(ValueError, match="registered twice"):
        order.register(0, "a", a0)
    assert order.answer(a1) == []
    with pytest.raises(ValueError, match="answered twice"):
        order.answer(a1)


def test_forgetting_a_partition_drops_its_state_and_returns_what_was_held() -> None:
    order: KeySequencer[Item] = KeySequencer()
    a0, a1, b0 = Item("a0"), Item("a1"), Item("b0")
    order.register(0, "a", a0)
    order.register(0, "a", a1)
    order.register(1, "b", b0)
    assert order.answer(a1) == []
    assert order.forget({0}) == [a1]
    assert len(order) == 1 and order.held == 0
    assert order.answer(a0) == [a0]  # forgotten: no longer held back by anything
    assert order.answer(b0) == [b0]


# -- in-flight batches publishing in per-key or arrival order -------------------------------


class RecordingPublisher(FakePublisher):
    """The ``Publisher`` calls InFlight makes: what was published, batch by batch."""

    def __init__(self) -> None:
        super().__init__()
        self.published: list[SourceResult] = []
        self.ended: list[list[SourceResult]] = []

    def publish(self, result: BatchResult) -> None:
        self.published += result.sources

    def end(self, sources: list[SourceResult]) -> None:
        self.ended.append(sources)

    def offsets(self) -> list[int]:
        return [source.offset for source in self.published]


def in_flight(
    clock: FakeClock, order: str, pat_pool: Any
) -> tuple[InFlight, Pipeline, RecordingPublisher]:
    settings = Settings()
    pat = make_lane(FakeModel("pat", 0.7), pat_pool, 10.0, clock)
    ensemble = Ensemble(booster_lanes(clock), pat, settings.ensemble, clock)
    stage = Pipeline(ensemble, settings, clock)
    publisher = RecordingPublisher()
    sequencer = KeySequencer[SourceResult]() if order == "per_key" else None
    flight = InFlight(
        stage,
        ensemble,
        publisher,
        clock,
        Recorder(None),
        lambda: None,
        sequencer,
    )
    return flight, stage, publisher


def message(value: bytes, offset: int, key: bytes | None, partition: int = 0) -> FakeMessage:
    return FakeMessage(value, offset, partition, "mood.features.v1", key)


def user_days(clock: FakeClock, first_offset: int = 0) -> list[Polled]:
    """User A: a week of activity, then features only, then a bad message; user B between."""
    values = [
        (event_bytes(seed=1, activity=True), b"A"),
        (event_bytes(seed=2), b"B"),
        (event_bytes(seed=3), b"A"),
        (b"{bad", b"A"),
    ]
    return [
        Polled(message(value, first_offset + i, key), clock.monotonic())
        for i, (value, key) in enumerate(values)
    ]


def test_per_key_holds_a_fast_event_behind_the_slow_one_of_its_key_only() -> None:
    clock, pat_pool = FakeClock(), ManualExecutor()
    flight, stage, publisher = in_flight(clock, "per_key", pat_pool)
    flight.add(stage.start(user_days(clock)))
    assert publisher.offsets() == [1]  # user B's event does not wait for user A's PAT
    assert len(flight) == 1 and publisher.ended == []  # held sources keep the batch open
    pat_pool.run_all()
    flight.advance()
    assert publisher.offsets() == [1, 0, 2, 3]  # A's prediction, later day, dead letter
    assert len(publisher.ended) == 1 and flight.processed == 4


def test_arrival_order_lets_the_fast_event_overtake() -> None:
    clock, pat_pool = FakeClock(), ManualExecutor()
    flight, stage, publisher = in_flight(clock, "arrival", pat_pool)
    flight.add(stage.start(user_days(clock)))
    assert sorted(publisher.offsets()) == [1, 2, 3]
    pat_pool.run_all()
    flight.advance()
    assert publisher.offsets()[-1] == 0


def test_a_held_event_of_a_later_batch_keeps_that_batch_open_until_released() -> None:
    clock, pat_pool = FakeClock(), ManualExecutor()
    flight, stage, publisher = in_flight(clock, "per_key", pat_pool)
    first = [Polled(message(event_bytes(seed=1, activity=True), 0, b"A"), clock.monotonic())]
    flight.add(stage.start(first))
    flight.add(stage.start([Polled(message(event_bytes(seed=3), 1, b"A"), clock.monotonic())]))
    assert publisher.offsets() == [] and len(flight) == 2
    pat_pool.run_all()
    flight.advance()
    assert publisher.offsets() == [0, 1] and len(flight) == 0


def test_a_model_timeout_is_an_answer_so_order_never_waits_forever() -> None:
    clock = FakeClock()
    flight, stage, publisher = in_flight(clock, "per_key", InlineExecutor(hang=True))
    flight.add(stage.start(user_days(clock)))
    assert publisher.offsets() == [1]
    clock.advance(10.0)  # PAT's deadline passes while its call hangs
    flight.advance()
    assert publisher.offsets() == [1, 0, 2, 3]
    first = orjson.loads(publisher.published[1].records[0].value or b"")
    assert first["partial"] is True and first["models"]["pat"]["status"] == "timeout"


def test_revocation_drops_held_events_unpublished_and_ends_their_batch() -> None:
    clock, pat_pool = FakeClock(), ManualExecutor()
    flight, stage, publisher = in_flight(clock, "per_key", pat_pool)
    flight.add(stage.start(user_days(clock)))
    revoked: set[TopicPartitionKey] = {("mood.features.v1", 0)}
    assert flight.give_up(revoked) == 3  # A's unanswered event and the two held behind it
    assert publisher.offsets() == [1] and len(flight) == 0
    assert flight.order is not None and len(flight.order) == 0


def test_an_unkeyed_event_is_ordered_by_its_user_id() -> None:
    clock, pat_pool = FakeClock(), ManualExecutor()
    flight, stage, publisher = in_flight(clock, "per_key", pat_pool)
    batch = [  # both of user-1 (seed 1 and 51), no Kafka key
        Polled(message(event_bytes(seed=1, activity=True), 0, None), clock.monotonic()),
        Polled(message(event_bytes(seed=51), 1, None), clock.monotonic()),
    ]
    flight.add(stage.start(batch))
    assert publisher.offsets() == []
    pat_pool.run_all()
    flight.advance()
    assert publisher.offsets() == [0, 1]


def test_per_key_is_the_default_and_an_unknown_order_is_refused() -> None:
    assert ProcessingSettings().output_order == "per_key"
    with pytest.raises(ValidationError, match="per_key"):
        ProcessingSettings.model_validate({"output_order": "fifo"})


class CountingSequencer(KeySequencer[SourceResult]):
    __slots__ = ("registered",)

    def __init__(self) -> None:
        super().__init__()
        self.registered = 0

    def register(self, scope: Any, key: Any, item: SourceResult) -> None:
        self.registered += 1
        super().register(scope, key, item)


def test_a_batch_answered_whole_with_nothing_earlier_waiting_needs_no_sequencing() -> None:
    """The common case (a backlog of features): a batch all of whose events are answered at
    its first pass, with no earlier event waiting, goes out as read, unsequenced; one that
    follows a batch still waiting is sequenced behind it."""
    clock, pat_pool = FakeClock(), ManualExecutor()
    flight, stage, publisher = in_flight(clock, "per_key", pat_pool)
    sequencer = flight.order = CountingSequencer()
    whole = [
        Polled(message(event_bytes(seed=s), s, b"AB"[s % 2 : s % 2 + 1]), 0.0) for s in range(4)
    ]
    whole[2] = Polled(message(b"{bad", 2, b"A"), 0.0)  # a dead letter leaves in its place
    flight.add(stage.start(whole))
    assert sequencer.registered == 0 and len(flight) == 0
    assert [s.offset for s in publisher.published] == [0, 1, 2, 3]
    flight.add(stage.start(user_days(clock, first_offset=4)))  # waits for A's PAT
    flight.add(stage.start([Polled(message(event_bytes(seed=9), 8, b"A"), 0.0)]))
    assert sequencer.registered == 5 and publisher.offsets()[4:] == [5]  # B alone went out
    pat_pool.run_all()
    flight.advance()
    assert publisher.offsets()[4:] == [5, 4, 6, 7, 8] and len(flight) == 0

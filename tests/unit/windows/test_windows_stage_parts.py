"""The windows stage's Kafka-side parts with fakes and a fake clock (no broker, no threads):
ordered delivery (events acknowledged before the changelog, both before the offsets), the
changelog's recording and restore (tombstones), the processor (events with their revision
header, dead letters with reasons, changelog records on the input's partition), the
settings of the stage and its co-partitioning check, the generator's determinism."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from consumer.engine.batch_records import OutRecord, Polled, SourceResult
from consumer.engine.delivery import DeliveryFailed
from consumer.engine.offsets import CommitPolicy
from consumer.engine.stage import OrderedAtLeastOnce
from consumer.errors import KafkaSetupError
from consumer.kafka.clients import PARTITIONER, producer_config, with_defaults
from consumer.producer.synthetic_samples import SamplesPlan, SyntheticSamples
from consumer.settings import ProcessingSettings, Settings, TopicSettings
from consumer.windows.store import MemoryStore
from consumer.windows_stage.changelog import Recording, restore
from consumer.windows_stage.processor import PartitionWindows, WindowsProcessor
from consumer.windows_stage.wiring import (
    ONLY_ERROR_REPORTS,
    check_co_partitioned,
    windows_settings,
)
from tests.fakes import FakeClock, FakeMessage, feature_values

TOPICS = TopicSettings()


class Producer:
    """Records what is produced; ``flush`` acknowledges all but the topics held back,
    reporting each acknowledgement (``reports``) or none (``delivery.report.only.error``),
    and reports the topic ``fail`` refused."""

    def __init__(self, hold: str = "", *, reports: bool = True, fail: str = "") -> None:
        self.log: list[tuple[str, int | None]] = []
        self.pending: list[tuple[str, Any]] = []
        self.hold = hold
        self.reports = reports
        self.fail = fail

    def produce(
        self, topic: str, _value: Any, _key: Any, partition: int, callback: Any, *_: Any
    ) -> None:
        self.log.append((topic, None if partition == PARTITIONER else partition))
        self.pending.append((topic, callback))

    def poll(self, timeout: float = 0) -> int:
        return 0

    def flush(self, timeout: float = 0) -> int:
        kept = [(t, cb) for t, cb in self.pending if t == self.hold]
        for topic, callback in self.pending:
            if topic == self.fail:
                callback(Refused(), None)
            elif topic != self.hold and self.reports:
                callback(None, None)
        self.pending = kept
        return len(kept)


class Refused:
    """A delivery report's error (confluent-kafka's ``KafkaError``, as the engine reads it)."""

    def str(self) -> str:
        return "Broker: Message size too large"

    def code(self) -> int:
        return 10


class Consumer:
    def __init__(self) -> None:
        self.commits: list[list[tuple[str, int, int]]] = []

    def commit(self, *, offsets: list[Any], asynchronous: bool) -> None:
        self.commits.append([(tp.topic, tp.partition, tp.offset) for tp in offsets])


def _sources() -> list[SourceResult]:
    event = OutRecord(TOPICS.features, b"u", b"{}", kind="window")
    return [
        SourceResult((TOPICS.activity, 1), 7, 0.0, [event]),
        SourceResult((TOPICS.activity, 1), 8, 0.0, []),
    ]


CHANGELOG = [OutRecord(TOPICS.windows_changelog, b"m\0u", b"x", kind="changelog", partition=1)]


def test_events_are_acknowledged_before_the_changelog_and_both_before_the_offsets() -> None:
    producer, consumer = Producer(), Consumer()
    publisher = OrderedAtLeastOnce(producer, consumer, FakeClock(), CommitPolicy(1.0, 1))
    publisher.publish_ordered(_sources(), CHANGELOG, 5.0)
    assert producer.log == [(TOPICS.features, None), (TOPICS.windows_changelog, 1)]
    publisher.maybe_commit(10.0, force=True)
    assert consumer.commits == [[(TOPICS.activity, 1, 9)]]


def test_a_changelog_not_acknowledged_holds_the_offsets_back() -> None:
    producer, consumer = Producer(hold=TOPICS.windows_changelog), Consumer()
    publisher = OrderedAtLeastOnce(producer, consumer, FakeClock(), CommitPolicy(1.0, 1))
    with pytest.raises(DeliveryFailed, match="unacknowledged"):
        publisher.publish_ordered(_sources(), CHANGELOG, 5.0)
    publisher.maybe_commit(10.0, force=True)
    assert consumer.commits == []  # the worker stops; its restart reads them again


def test_offsets_are_released_by_the_flushes_without_a_report_per_acknowledged_record() -> None:
    """``delivery.report.only.error``: no record's acknowledgement is reported; both
    flushes returning with nothing left is what releases the batch's offsets."""
    producer, consumer = Producer(reports=False), Consumer()
    publisher = OrderedAtLeastOnce(producer, consumer, FakeClock(), CommitPolicy(1.0, 1))
    publisher.publish_ordered(_sources(), CHANGELOG, 5.0)
    assert producer.log == [(TOPICS.features, None), (TOPICS.windows_changelog, 1)]
    assert publisher.inflight() == 0
    publisher.maybe_commit(10.0, force=True)
    assert consumer.commits == [[(TOPICS.activity, 1, 9)]]


@pytest.mark.parametrize("refused", [TOPICS.features, TOPICS.windows_changelog])
def test_a_refused_record_is_raised_and_holds_the_offsets_back(refused: str) -> None:
    producer, consumer = Producer(reports=False, fail=refused), Consumer()
    publisher = OrderedAtLeastOnce(producer, consumer, FakeClock(), CommitPolicy(1.0, 1))
    kind = "window" if refused == TOPICS.features else "changelog"
    with pytest.raises(DeliveryFailed, match=f"{kind} to {refused} failed: Broker: Message"):
        publisher.publish_ordered(_sources(), CHANGELOG, 5.0)
    # the changelog is never sent after a refused event
    assert (TOPICS.windows_changelog, 1) in producer.log or refused == TOPICS.features
    assert len(producer.log) == (1 if refused == TOPICS.features else 2)
    publisher.maybe_commit(10.0, force=True)
    assert consumer.commits == []


def test_the_at_least_once_producer_reports_only_failures_unless_told_otherwise() -> None:
    settings = windows_settings(Settings())
    conf = with_defaults(producer_config(settings, "b:9092", 0), ONLY_ERROR_REPORTS)
    assert conf["delivery.report.only.error"] is True
    assert conf["compression.type"] == "lz4"  # the rest as every producer's
    extra = {"delivery.report.only.error": "false"}
    told = settings.model_copy(update={"kafka": settings.kafka.model_copy(update={"extra": extra})})
    conf = with_defaults(producer_config(told, "b:9092", 0), ONLY_ERROR_REPORTS)
    assert conf["delivery.report.only.error"] == "false"


@dataclass
class Message(FakeMessage):
    def error(self) -> None:
        return None


class ChangelogConsumer:
    """A changelog partition of ``messages`` then ``markers`` offsets never delivered
    (transaction markers, or records compacted away)."""

    def __init__(self, messages: list[Message], markers: int = 0) -> None:
        self.messages = messages
        self.high = len(messages) + markers
        self.assigned: list[Any] = []

    def get_watermark_offsets(self, _tp: Any, timeout: float) -> tuple[int, int]:
        return 0, self.high

    def position(self, partitions: list[Any]) -> list[Any]:
        at = self.high if not self.messages else 0
        return [SimpleNamespace(offset=at) for _ in partitions]

    def assign(self, partitions: list[Any]) -> None:
        self.assigned = partitions

    def unassign(self) -> None:
        self.assigned = []

    def consume(self, num_messages: int, timeout: float) -> list[Message]:
        out, self.messages = self.messages[:2], self.messages[2:]
        return out


def test_the_changelog_records_every_change_and_a_restore_replays_it_with_tombstones() -> None:
    recording = Recording(MemoryStore())
    recording.put(b"a", b"1")
    recording.write({b"b": b"2", b"c": b"3"}, set())
    recording.delete(b"a")
    recording.put(b"c", b"4")
    records = recording.take(TOPICS.windows_changelog, 2)
    assert {(r.key, r.value) for r in records} == {(b"a", None), (b"b", b"2"), (b"c", b"4")}
    assert {r.partition for r in records} == {2} and recording.take("t", 2) == []
    log = [b"a", b"1", b"b", b"2", b"a", None, b"c", b"3", b"c", b"4"]
    messages = [
        Message(log[i + 1], i // 2, 2, TOPICS.windows_changelog, log[i]) for i in range(0, 10, 2)
    ]
    store, progress = MemoryStore(), []
    consumer = ChangelogConsumer(messages)
    count = restore(
        consumer,  # type: ignore[arg-type]
        TOPICS.windows_changelog,
        2,
        store,
        lambda done, total: progress.append((done, total)),
        1.0,
    )
    assert count == 5 and progress[-1] == (5, 5) and consumer.assigned == []
    assert dict(store.scan(b"")) == {b"b": b"2", b"c": b"4"}
    ended = ChangelogConsumer(messages[:2], markers=3)  # the end is never delivered
    partial = MemoryStore()
    assert restore(ended, "t", 2, partial, lambda d, t: None, 60.0) == 2  # type: ignore[arg-type]
    assert dict(partial.scan(b"")) == {b"a": b"1", b"b": b"2"}


def _processor() -> tuple[WindowsProcessor, FakeClock]:
    clock = FakeClock(start=datetime(2026, 3, 20, 12, 0, tzinfo=UTC))
    settings = Settings(
        windows={"min_coverage": 0.0},  # type: ignore[arg-type]
        processing=ProcessingSettings(),
    )
    processor = WindowsProcessor(settings, clock)
    processor.partitions[1] = PartitionWindows.over(1, MemoryStore(), settings, clock)
    return processor, clock


def _polled(topic: str, value: bytes, offset: int, partition: int = 1) -> Polled:
    return Polled(FakeMessage(value, offset, partition, topic, b"u1"), 0.0)


def _day(start: str) -> bytes:
    body = {"schema_version": 1, "user_id": "u1", "start": start, "interval_s": 60}
    return orjson.dumps(body | {"values": [1.0] * 1_440, "tz": "UTC"})


def test_the_processor_sends_revisions_dead_letters_and_the_changelog_of_its_partition() -> None:
    processor, _ = _processor()
    features = {
        "schema_version": 1,
        "event_id": "0b0c0d0e-0000-4000-8000-000000000001",
        "user_id": "u1",
        "as_of": "2026-03-10",
        "emitted_at": "2026-03-10T23:00:00Z",
        "features": feature_values(),
    }
    batch = [
        _polled(TOPICS.day_features, orjson.dumps(features), 0),
        _polled(TOPICS.activity, _day("2026-03-10T00:00:00Z"), 0),
        _polled(TOPICS.activity, b'{"schema_version":1}', 1),
        _polled(TOPICS.activity, _day("2026-03-10T00:00:00Z"), 9, partition=4),  # not ours
    ]
    sources, changelog = processor.process(batch)
    assert [len(s.records) for s in sources] == [1, 1, 1, 0]
    first, week, dead = (s.records[0] for s in sources[:3])
    assert dict(first.headers or []) == {"revision": b"0", "trigger": b"features"}
    assert dict(week.headers or []) == {"revision": b"1", "trigger": b"complete"}
    sent = orjson.loads(week.value or b"")
    assert sent["features"] == feature_values() and sent["activity"][-1] == 1.0
    assert sent["coverage"] == pytest.approx(1 / 7) and week.key == b"u1"
    assert (
        dead.topic == TOPICS.dlq
        and (b"InvalidEvent.missing_field") in dict(dead.headers or [])["error.class"]
    )
    assert changelog and {r.partition for r in changelog} == {1}
    assert {r.topic for r in changelog} == {TOPICS.windows_changelog}
    assert processor.coverages == [pytest.approx(1 / 7)]
    assert processor.process([])[1] == []  # nothing changed since


def test_the_stage_has_its_own_group() -> None:
    settings = windows_settings(Settings())
    assert settings.kafka.group_id == Settings().kafka.group_id + "-windows"
    assert windows_settings(settings).kafka.group_id == settings.kafka.group_id


def test_inputs_with_different_partition_counts_are_a_clear_error() -> None:
    def metadata(activity: int, features: int) -> Any:
        counts = {
            TOPICS.activity: activity,
            TOPICS.day_features: features,
            TOPICS.windows_changelog: activity,
        }
        topics = {
            name: SimpleNamespace(partitions=dict.fromkeys(range(n))) for name, n in counts.items()
        }
        return SimpleNamespace(topics=topics)

    assert check_co_partitioned(Settings(), metadata(6, 6)) == 6
    unequal = "same partition count.*mood.day-features.v1 has 3"
    with pytest.raises(KafkaSetupError, match=unequal):
        check_co_partitioned(Settings(), metadata(6, 3))


def test_the_generator_is_deterministic_and_its_truth_is_what_arrives_last() -> None:
    plan = SamplesPlan(users=4, days=3, conflicts=0.2, duplicates=0.2)
    one, two = SyntheticSamples(3, plan), SyntheticSamples(3, plan)
    assert [r.value for r in one.samples] == [r.value for r in two.samples]
    assert one.day_features == two.day_features and one.truth == two.truth
    last: dict[str, dict[int, float]] = {}
    for record in one.samples:
        body = orjson.loads(record.value)
        start = int(datetime.fromisoformat(body["start"]).timestamp()) // 60
        minutes = last.setdefault(body["user_id"], {})
        minutes.update({start + i: float(v) for i, v in enumerate(body["values"])})
    assert last == one.truth
    assert len({one.zone_of[u] for u in one.truth}) == 3
    sent = len([r for r in one.samples])
    assert sent > len({r.value for r in one.samples})  # some duplicates


class FakeTransactions:
    """What ``Transactional`` uses of ``ExactlyOnce``: one call log, abort counters."""

    def __init__(self, abort_on: int = 0) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.aborted = self.recreated = 0
        self._abort_on = abort_on

    def begin(self, sources: list[SourceResult]) -> None:
        self.calls.append(("begin", [s.offset for s in sources]))

    def publish(self, result: Any) -> None:
        records = [r.topic for s in result.sources for r in s.records]
        self.calls.append(("publish", records))

    def end(self, sources: list[SourceResult]) -> None:
        self.calls.append(("end", [s.offset for s in sources]))
        if len([c for c in self.calls if c[0] == "end"]) == self._abort_on:
            self.aborted += 1  # the batch was rewound


def test_a_transaction_holds_events_changelog_and_offsets_and_an_abort_asks_for_a_rebuild() -> None:
    from consumer.windows_stage.delivery import Transactional

    txn = FakeTransactions(abort_on=2)
    delivery = Transactional(txn)  # type: ignore[arg-type]
    assert delivery.batch(_sources(), CHANGELOG) is False
    assert txn.calls == [
        ("begin", [7, 8]),
        ("publish", [TOPICS.features, TOPICS.windows_changelog]),
        ("end", [7, 8]),
    ]
    event = OutRecord(TOPICS.features, b"u", b"{}", kind="window")
    assert delivery.timers([event], CHANGELOG) is True  # aborted: rebuild the stores
    assert txn.calls[3:] == [
        ("begin", []),
        ("publish", [TOPICS.features, TOPICS.windows_changelog]),
        ("end", []),
    ]
    assert delivery.timers([], []) is False and len(txn.calls) == 6

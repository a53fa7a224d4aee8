"""The windows loop (consumer/windows_stage/runner.py) with fakes and a fake clock: a batch
held while the Schema Registry does not answer (the input paused, retried when due, never
delivered meanwhile; records of partitions revoked meanwhile dropped, never committed),
and the poison-flood stop once the batch that reached the limit is delivered."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import TopicPartition

from consumer.engine.batch_records import OutRecord, SourceResult
from consumer.errors import InvalidEvent, PoisonFloodError, SchemaRegistryUnavailable
from consumer.settings import (
    ProcessingSettings,
    SchemaRegistrySettings,
    Settings,
    WindowsSettings,
)
from consumer.windows.rocks import RocksStore
from consumer.windows_stage.runner import WindowsRunner
from schemas import ActivitySamples
from tests.fakes import FakeClock, FakeMessage
from tests.fakes.kafka import FakeConsumer, FakePublisher

ACTIVITY = "mood.activity.v1"
FEATURES = "mood.day-features.v1"


class Message(FakeMessage):
    def error(self) -> None:
        return None


class Radar:
    """The RADAR reader, its registry away for the first ``failures`` batches; every
    record a dead letter (``wrong_interval``)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures

    def prepare(self, records: Iterable[tuple[bytes | None, bytes | None]]) -> None:
        list(records)
        if self.failures:
            self.failures -= 1
            raise SchemaRegistryUnavailable("the schema registry did not answer (ConnectError)")

    def samples(self, key: bytes | None, value: bytes | None) -> ActivitySamples:
        raise InvalidEvent("wrong_interval", "timeInterval: not a multiple of 60")


class Delivery:
    def __init__(self) -> None:
        self.publisher = FakePublisher()
        self.batches: list[list[SourceResult]] = []

    def batch(self, sources: list[SourceResult], changelog: list[OutRecord]) -> bool:
        self.batches.append(sources)
        return False

    def timers(self, events: list[OutRecord], changelog: list[OutRecord]) -> bool:
        return False


class Restorer:
    """An empty changelog."""

    def get_watermark_offsets(self, partition: TopicPartition, timeout: float) -> tuple[int, int]:
        return 0, 0


def _runner(
    tmp_path: Path, failures: int, limit: int = 1_000, batch_bytes: int = 2_097_152
) -> tuple[WindowsRunner, FakeConsumer, Delivery, FakeClock]:
    settings = Settings(
        processing=ProcessingSettings(dlq_max_consecutive=limit),
        schema_registry=SchemaRegistrySettings(
            url="http://127.0.0.1:1", retry_initial_s=1.0, retry_max_s=4.0
        ),
        windows=WindowsSettings(
            activity_format="radar_fitbit_intraday_steps",
            state_dir=tmp_path / "state",
            max_batch_bytes=batch_bytes,
        ),
    )
    consumer, delivery, clock = FakeConsumer(), Delivery(), FakeClock()
    runner = WindowsRunner(
        consumer,  # type: ignore[arg-type]
        Restorer(),  # type: ignore[arg-type]
        delivery,
        settings,
        clock,
        tmp_path / "stores",
        radar=Radar(failures),  # type: ignore[arg-type]
    )
    assigned = [TopicPartition(ACTIVITY, 0), TopicPartition(FEATURES, 0)]
    runner._on_assign(consumer, assigned)  # type: ignore[arg-type]
    return runner, consumer, delivery, clock


def _feed(consumer: FakeConsumer, offsets: range, value: bytes = b"\x00radar") -> None:
    messages: list[Any] = [Message(value, n, 0, ACTIVITY) for n in offsets]
    consumer.messages += messages


def _steps(runner: WindowsRunner, clock: FakeClock, seconds: float) -> None:
    """Loop steps over ``seconds`` of fake time (a batch is due 20 ms after it opened)."""
    for _ in range(int(seconds / 0.25)):
        clock.advance(0.25)
        runner._step()


def test_a_batch_waits_for_the_registry_then_goes_out(tmp_path: Path) -> None:
    runner, consumer, delivery, clock = _runner(tmp_path, failures=2)
    _feed(consumer, range(3))
    _steps(runner, clock, 0.5)
    assert delivery.batches == [] and consumer.calls[-1] == ("pause", [0, 0])
    _feed(consumer, range(3, 5))  # fetched before the pause: after the held batch
    _steps(runner, clock, 1.0)  # the first retry (after 1 s) fails too: 2 s more
    assert delivery.batches == []
    _steps(runner, clock, 2.5)
    assert consumer.calls[-1] == ("resume", [0, 0])
    offsets = [[s.offset for s in batch] for batch in delivery.batches]
    assert offsets == [[0, 1, 2], [3, 4]]
    reasons = {r.headers[0][1] for b in delivery.batches for s in b for r in s.records}  # type: ignore[index]
    assert reasons == {b"InvalidEvent.wrong_interval"}


def test_records_of_a_partition_revoked_while_held_are_dropped(tmp_path: Path) -> None:
    runner, consumer, delivery, clock = _runner(tmp_path, failures=1)
    _feed(consumer, range(3))
    _steps(runner, clock, 0.5)
    _feed(consumer, range(3, 5))
    _steps(runner, clock, 0.25)
    revoked = [TopicPartition(ACTIVITY, 0), TopicPartition(FEATURES, 0)]
    runner._on_revoke(consumer, revoked)  # type: ignore[arg-type]
    _steps(runner, clock, 5.0)
    assert delivery.batches == []  # never delivered, never committed: read again


def test_a_flood_of_dead_letters_stops_the_loop_after_its_batch(tmp_path: Path) -> None:
    runner, consumer, delivery, clock = _runner(tmp_path, failures=0, limit=4)
    _feed(consumer, range(3))
    _steps(runner, clock, 0.5)
    assert [s.invalid_streak for s in delivery.batches[0]] == [1, 2, 3]
    _feed(consumer, range(3, 6))
    with pytest.raises(PoisonFloodError) as flood:
        _steps(runner, clock, 0.5)
    assert (flood.value.topic, flood.value.count) == (ACTIVITY, 4)
    assert [s.invalid_streak for s in delivery.batches[1]] == [4, 5, 6]  # delivered first


def test_the_stores_of_one_worker_share_one_rocksdb_memory(tmp_path: Path) -> None:
    runner, consumer, _delivery, _clock = _runner(tmp_path, failures=0)
    more = [TopicPartition(t, n) for t in (ACTIVITY, FEATURES) for n in (1, 2)]
    runner._on_assign(consumer, more)  # type: ignore[arg-type]
    stores = [p.recording.inner for p in runner.processor.partitions.values()]
    memories = {id(s.memory) for s in stores if isinstance(s, RocksStore)}
    assert len(stores) == 3 and len(memories) == 1
    memory = next(s.memory for s in stores if isinstance(s, RocksStore))
    assert (memory.cache_bytes, memory.write_buffer_bytes) == (16 << 20, 8 << 20)


def test_a_batch_closes_at_its_bytes(tmp_path: Path) -> None:
    """``WINDOWS__MAX_BATCH_BYTES`` bounds a batch (each record's value counted as it is
    read): 600-byte records under a 1,024-byte bound go out two by two."""
    runner, consumer, delivery, clock = _runner(tmp_path, failures=0, batch_bytes=1_024)
    _feed(consumer, range(2), b"\x00" + b"r" * 599)
    _steps(runner, clock, 0.25)
    _feed(consumer, range(2, 8), b"\x00" + b"r" * 599)
    _steps(runner, clock, 2.0)
    offsets = [[s.offset for s in batch] for batch in delivery.batches]
    assert offsets == [[0, 1], [2, 3], [4, 5], [6, 7]]

"""The intake's reader: an event, or a dead letter with its reason, headers and the
partition's run of invalid messages; the poison-flood limit read from that run."""

from __future__ import annotations

from consumer.intake.decode import Decoded, decode_event
from consumer.intake.reader import DeadLetter, EventReader
from consumer.settings import ProcessingSettings, Settings
from tests.fakes import FakeClock, FakeMessage, event_bytes

TP = ("mood.features.v1", 2)


def reader(limit: int = 3) -> EventReader:
    settings = Settings(processing=ProcessingSettings(dlq_max_consecutive=limit))
    return EventReader(settings, FakeClock())


def test_a_valid_message_is_its_event_and_resets_the_run() -> None:
    intake = reader()
    assert isinstance(intake.read(FakeMessage(b"{", 7, 2), TP), DeadLetter)
    read = intake.read(FakeMessage(event_bytes(seed=1), 8, 2), TP)
    assert isinstance(read, Decoded) and read.ignored_fields == ()
    bad = intake.read(FakeMessage(b"{", 9, 2), TP)
    assert isinstance(bad, DeadLetter) and bad.streak == 1


def test_an_invalid_message_is_a_dead_letter_naming_its_source() -> None:
    intake = reader()
    read = intake.read(FakeMessage(b"{not json", 41, 2, _key=b"user-9"), TP)
    assert isinstance(read, DeadLetter)
    assert (read.reason, read.streak, read.key, read.value) == (
        "invalid_json",
        1,
        b"user-9",
        b"{not json",
    )
    headers = dict(read.headers)
    assert headers["error.class"] == b"InvalidEvent.invalid_json"
    assert (headers["source.topic"], headers["source.partition"], headers["source.offset"]) == (
        b"mood.features.v1",
        b"2",
        b"41",
    )
    assert headers["dead_letter.truncated"] == b"false"


def test_the_flood_limit_counts_each_partitions_own_run() -> None:
    intake = reader(limit=2)
    other = ("mood.features.v1", 3)
    intake.read(FakeMessage(b"", 0, 2), TP)
    intake.read(FakeMessage(b"", 0, 3), other)
    assert intake.flood(TP) is None and intake.flood(other) is None
    intake.read(FakeMessage(b"", 1, 2), TP)
    flood = intake.flood(TP)
    assert flood is not None and flood.count == 2 and intake.flood(other) is None
    intake.forget({TP})
    assert intake.flood(TP) is None
    intake.inherit_streaks({other: 5})
    assert intake.flood(other) is not None


def test_the_cheap_read_takes_a_plain_event_ends_the_run_and_leaves_the_rest_to_read() -> None:
    settings = Settings(
        processing=ProcessingSettings(dlq_max_consecutive=3, max_message_bytes=4096)
    )
    intake = EventReader(settings, FakeClock())
    assert isinstance(intake.read(FakeMessage(b"{", 7, 2), TP), DeadLetter)
    value = event_bytes(seed=1)
    event = intake.accepted(value, TP)
    assert event is not None and event == decode_event(value, max_bytes=4096)
    bad = intake.read(FakeMessage(b"{", 9, 2), TP)
    assert isinstance(bad, DeadLetter) and bad.streak == 1  # the cheap read ended the run
    for other in (None, b"", b"{", event_bytes(seed=2) + b" " * 4096):  # the last: too large
        assert intake.accepted(other, TP) is None

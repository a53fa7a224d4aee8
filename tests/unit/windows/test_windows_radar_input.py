"""RADAR-base ``fitbit_intraday_steps`` records read through a registry
(consumer/windows_stage/radar_input.py, consumer/schema_registry/records.py): an Avro
``ObservationKey`` and ``FitbitIntradaySteps`` become one interval of samples; every
record that cannot be read is an ``InvalidEvent`` with its reason. Against
confluent-kafka's in-memory ``mock://`` registry; the real registry and broker are in
tests/integration/test_windows_radar.py."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from pydantic import ValidationError

from consumer.errors import InvalidEvent
from consumer.settings import SchemaRegistrySettings, Settings, WindowsSettings
from consumer.windows.intake import REASONS
from consumer.windows_stage.radar_input import RadarSteps, radar_input
from schemas.radar import FITBIT_INTRADAY_STEPS_AVRO, OBSERVATION_KEY_AVRO

TOPIC = "radar.fitbit_intraday_steps"
T0 = datetime(2026, 11, 2, 8, 30, tzinfo=UTC).timestamp()


class Records:
    def __init__(self) -> None:
        self.client = SchemaRegistryClient.new_client({"url": f"mock://radar-{uuid.uuid4().hex}"})
        self._keys = AvroSerializer(self.client, json.dumps(OBSERVATION_KEY_AVRO))
        self._values = AvroSerializer(self.client, json.dumps(FITBIT_INTRADAY_STEPS_AVRO))

    def key(self, user: str = "subject-1") -> bytes:
        fields = {"projectId": "p", "userId": user, "sourceId": "fitbit"}
        return bytes(self._keys(fields, SerializationContext(TOPIC, MessageField.KEY)) or b"")

    def value(self, **changes: Any) -> bytes:
        fields = {"time": T0, "timeReceived": T0 + 90_000, "timeInterval": 60, "steps": 42}
        fields.update(changes)
        context = SerializationContext(TOPIC, MessageField.VALUE)
        return bytes(self._values(fields, context) or b"")

    def reader(self) -> RadarSteps:
        return RadarSteps(self.client, max_bytes=4_096)


def _reason(reader: RadarSteps, key: bytes | None, value: bytes | None) -> str:
    with pytest.raises(InvalidEvent) as caught:
        reader.samples(key, value)
    assert caught.value.reason in REASONS
    return caught.value.reason


def test_a_steps_record_is_one_interval_of_the_keys_user() -> None:
    records = Records()
    reader = records.reader()
    pairs = [(records.key(), records.value()), (records.key("s-2"), records.value(steps=0))]
    reader.prepare(pairs)
    samples = reader.samples(*pairs[0])
    assert samples.user_id == "subject-1"
    assert samples.start == datetime(2026, 11, 2, 8, 30, tzinfo=UTC)
    assert (samples.interval_s, samples.values, samples.tz) == (60, [42.0], None)
    assert reader.samples(*pairs[1]).user_id == "s-2"
    fifteen = reader.samples(records.key(), records.value(timeInterval=900, steps=30))
    assert fifteen.minute_values() == [2.0] * 15


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"timeInterval": 90}, "wrong_interval"),
        ({"steps": -1}, "out_of_range"),
        ({"time": T0 + 30}, "not_whole_minute"),
    ],
)
def test_a_value_the_contract_refuses_names_its_reason(change: dict[str, Any], reason: str) -> None:
    records = Records()
    assert _reason(records.reader(), records.key(), records.value(**change)) == reason


def test_keys_that_are_not_observation_keys_are_invalid_keys() -> None:
    records = Records()
    reader, value = records.reader(), records.value()
    assert _reason(reader, b"subject-1", value) == "invalid_key"  # a plain string
    assert _reason(reader, None, value) == "invalid_key"
    assert _reason(reader, records.key()[:5] + b"\xff", value) == "invalid_key"  # corrupt
    assert _reason(reader, records.key(user="bad user!"), value) == "invalid_key"
    no_source = {**OBSERVATION_KEY_AVRO, "fields": OBSERVATION_KEY_AVRO["fields"][:2]}
    keys = AvroSerializer(records.client, json.dumps(no_source))
    key = keys({"userId": "s-1"}, SerializationContext("other", MessageField.KEY))
    assert _reason(reader, bytes(key or b""), value) == "invalid_key"


def test_values_the_registry_cannot_read_are_dead_letters_with_reasons() -> None:
    records = Records()
    reader, key = records.reader(), records.key()
    framed = records.value()
    assert _reason(reader, key, b'{"steps": 1}') == "not_registry_framed"
    assert _reason(reader, key, framed[:7]) == "truncated_frame"
    assert _reason(reader, key, b"\x00\x00\x00\x7f\x00" + framed[5:]) == "unknown_schema_id"
    assert _reason(reader, key, framed + b"x" * 5_000) == "too_large"
    other = records.client.register_schema(
        "other-value", Schema('syntax = "proto3"; message M { int32 a = 1; }', "PROTOBUF")
    )
    wrong = b"\x00" + other.to_bytes(4, "big") + framed[5:]
    assert _reason(reader, key, wrong) == "wrong_schema_type"


def test_the_setting_picks_the_reader_and_needs_a_registry() -> None:
    assert radar_input(Settings()) is None
    with pytest.raises(ValidationError, match="SCHEMA_REGISTRY__URL"):
        Settings(windows=WindowsSettings(activity_format="radar_fitbit_intraday_steps"))
    chosen = Settings(
        windows=WindowsSettings(activity_format="radar_fitbit_intraday_steps"),
        schema_registry=SchemaRegistrySettings(url="http://127.0.0.1:1"),
    )
    assert isinstance(radar_input(chosen), RadarSteps)

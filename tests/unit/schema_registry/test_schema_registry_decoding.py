"""Schema Registry input decoded with confluent-kafka's own serializers and deserializers.

The registry here is confluent-kafka's in-memory ``mock://`` client (its own test double,
no HTTP): these tests cover the decoding logic and its dead-letter reasons. The real
registry (the local Apicurio) is in the integration tests: tests/integration/test_registry*.py
and test_schema_registry_down.py.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import orjson
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.common._httpx_compat import httpx

from consumer.errors import InvalidEvent, SchemaRegistryUnavailable
from consumer.intake.decode import REASONS, decode
from consumer.schema_registry.decoding import RegistryDecoder
from consumer.schema_registry.encoding import RegistryEncoder, subject_for
from schemas import registry_formats as formats
from tests.fakes import event_dict

TOPIC = "mood.features.v1"
MAX = 262_144
FORMATS = ("avro", "protobuf", "json_schema")


def client() -> SchemaRegistryClient:
    """A fresh in-memory registry (mock clients of one URL share their schemas)."""
    return SchemaRegistryClient.new_client({"url": f"mock://unit-{uuid.uuid4().hex}"})


def decoder(registry: Any, input_format: str) -> RegistryDecoder:
    return RegistryDecoder(registry, input_format, max_bytes=MAX, strict_fields=False, topic=TOPIC)


def decoded(dec: RegistryDecoder, value: bytes) -> Any:
    dec.prepare([value])
    return dec.decode(value).event


def reason(dec: RegistryDecoder, value: bytes) -> str:
    with pytest.raises(InvalidEvent) as caught:
        decoded(dec, value)
    assert caught.value.reason in REASONS
    return caught.value.reason


@pytest.mark.parametrize("input_format", FORMATS)
@pytest.mark.parametrize("activity", [False, True])
def test_each_format_decodes_to_the_same_event_as_json(input_format: str, activity: bool) -> None:
    registry = client()
    raw = event_dict(seed=7, activity=activity)
    raw["features"]["ST_long_SD"] = None  # a missing feature survives every format
    value = RegistryEncoder(registry, input_format, TOPIC).encode(raw)
    assert value[0] == 0  # the registry's wire format
    as_json = decode(orjson.dumps(raw), max_bytes=MAX, strict_fields=False).event
    assert decoded(decoder(registry, input_format), value) == as_json


def test_auto_takes_json_and_every_registry_format_on_one_topic() -> None:
    registry = client()
    dec = decoder(registry, "auto")
    values = [orjson.dumps(event_dict(seed=0))]
    values += [RegistryEncoder(registry, f, TOPIC).encode(event_dict(seed=0)) for f in FORMATS]
    dec.prepare(values)
    events = [dec.decode(v).event for v in values]
    assert all(event == events[0] for event in events)


def test_truncated_frames_are_dead_letters() -> None:
    registry = client()
    value = RegistryEncoder(registry, "avro", TOPIC).encode(event_dict())
    dec = decoder(registry, "avro")
    for cut in (value[:1], value[:5], value[:-20]):
        assert reason(dec, cut) == "truncated_frame"


def test_an_unknown_schema_id_is_a_dead_letter() -> None:
    registry = client()
    value = RegistryEncoder(registry, "avro", TOPIC).encode(event_dict())
    unknown = value[:1] + (999).to_bytes(4, "big") + value[5:]
    assert reason(decoder(registry, "avro"), unknown) == "unknown_schema_id"


def test_a_schema_of_another_type_is_a_dead_letter() -> None:
    registry = client()
    value = RegistryEncoder(registry, "protobuf", TOPIC).encode(event_dict())
    assert reason(decoder(registry, "avro"), value) == "wrong_schema_type"
    assert reason(decoder(registry, "json_schema"), value) == "wrong_schema_type"


def test_plain_json_under_a_registry_format_is_a_dead_letter() -> None:
    dec = decoder(client(), "protobuf")
    assert reason(dec, orjson.dumps(event_dict())) == "not_registry_framed"


def test_a_writer_schema_the_reader_cannot_resolve_is_a_dead_letter() -> None:
    registry = client()
    schema = formats.avro_schema()
    schema["fields"] = [f for f in schema["fields"] if f["name"] != "user_id"]  # no default
    raw = event_dict()
    del raw["user_id"]
    value = RegistryEncoder(registry, "avro", TOPIC, schema_text=json.dumps(schema)).encode(raw)
    assert reason(decoder(registry, "avro"), value) == "unresolvable_schema"


def test_a_contract_violation_inside_a_valid_frame_keeps_its_json_reason() -> None:
    registry = client()
    raw = event_dict()
    raw["features"]["Sleep_percentage_MN"] = 7.0  # a fraction: physically out of range
    value = RegistryEncoder(registry, "avro", TOPIC).encode(raw)
    assert reason(decoder(registry, "avro"), value) == "out_of_range"


def test_avro_v1_and_v2_records_interleaved_resolve_to_the_event() -> None:
    """v2 adds an optional field and drops ``activity`` (unused by features-only
    producers): the service's v1 reader schema reads both."""
    registry = client()
    v2 = formats.avro_schema()
    v2["fields"] = [f for f in v2["fields"] if f["name"] != "activity"]
    v2["fields"].append({"name": "device", "type": ["null", "string"], "default": None})
    v1_encoder = RegistryEncoder(registry, "avro", TOPIC)
    v2_encoder = RegistryEncoder(registry, "avro", TOPIC, schema_text=json.dumps(v2))
    values = []
    for seed in range(6):
        raw = event_dict(seed=seed)
        values.append(
            v1_encoder.encode(raw) if seed % 2 else v2_encoder.encode({**raw, "device": "watch"})
        )
    dec = decoder(registry, "avro")
    dec.prepare(values)
    events = [dec.decode(v).event for v in values]
    assert [e.user_id for e in events] == [f"user-{seed}" for seed in range(6)]
    assert len({value[1:5] for value in values}) == 2  # two schema ids on one topic
    assert sorted(registry.get_versions(subject_for(TOPIC, "topic"))) == [1, 2]


def test_record_name_strategy_registers_under_the_record_name() -> None:
    registry = client()
    RegistryEncoder(registry, "avro", TOPIC, strategy="record").encode(event_dict())
    assert registry.get_subjects() == ["moodstream.v1.FeatureEvent"]


class DownRegistry:
    """A registry that refuses connections (what httpx raises for a stopped server)."""

    def __init__(self) -> None:
        self.calls = 0

    def get_schema(self, schema_id: int, *args: Any, **kwargs: Any) -> Schema:
        self.calls += 1
        raise httpx.ConnectError("Connection refused")


def test_a_registry_that_does_not_answer_raises_before_any_record_is_decoded() -> None:
    value = RegistryEncoder(client(), "avro", TOPIC).encode(event_dict())
    down = DownRegistry()
    dec = decoder(down, "avro")
    with pytest.raises(SchemaRegistryUnavailable, match="did not answer"):
        dec.prepare([value, value])
    assert down.calls == 1  # one request for the batch's one id, no retry loop inside


def test_schemas_are_fetched_once_per_id_not_per_record() -> None:
    registry = client()
    value = RegistryEncoder(registry, "avro", TOPIC).encode(event_dict())
    calls = []
    original = registry.get_schema

    def counted(*args: Any, **kwargs: Any) -> Schema:
        calls.append(args)
        return original(*args, **kwargs)

    registry.get_schema = counted  # type: ignore[method-assign]
    dec = decoder(registry, "avro")
    for _ in range(3):
        dec.prepare([value] * 10)
    assert len(calls) == 1


def test_the_format_bench_measures_every_format_against_json() -> None:
    from consumer.bench.formats import FORMATS, format_decode_rates

    rates = format_decode_rates([event_dict(seed=s) for s in range(4)], MAX, seconds=0.01)
    assert list(rates) == list(FORMATS)
    assert rates["json"]["cost_vs_json"] == 1.0
    for entry in rates.values():
        assert entry["events"] >= 12 and entry["events_per_cpu_s"] > 0
    assert rates["avro"]["mean_bytes"] < rates["json"]["mean_bytes"]  # binary is smaller

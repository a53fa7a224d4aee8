"""Registry-framed record keys (``PROCESSING__KEY_FORMAT``, consumer/schema_registry/keys.py):
the key's user field names the user, the event must be that user's, and a key that does
not decode is a dead letter (``invalid_key``). Pure decoding against confluent-kafka's
in-memory ``mock://`` registry; the real registry is in
tests/integration/test_registry_keys.py."""

from __future__ import annotations

import json
import uuid
from typing import Any

import orjson
import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from pydantic import ValidationError

from consumer.errors import InvalidEvent
from consumer.intake.decode import REASONS
from consumer.schema_registry.decoding import RegistryDecoder
from consumer.schema_registry.encoding import RegistryEncoder
from consumer.service.wiring import build_registry_decoder
from consumer.settings import ProcessingSettings, SchemaRegistrySettings, Settings
from schemas.radar import OBSERVATION_KEY_AVRO
from tests.fakes import event_dict

TOPIC = "radar.features"
MAX = 262_144
#: RADAR-base's key of every record.
OBSERVATION_KEY = OBSERVATION_KEY_AVRO
JSON_KEY = {
    "type": "object",
    "properties": {"userId": {"type": "string"}, "sourceId": {"type": "string"}},
}
KEY = SerializationContext(TOPIC, MessageField.KEY)


def client() -> SchemaRegistryClient:
    return SchemaRegistryClient.new_client({"url": f"mock://keys-{uuid.uuid4().hex}"})


def key_message_class() -> Any:
    """An ObservationKey Protobuf message (built from a descriptor: no protoc needed)."""
    fdp = descriptor_pb2.FileDescriptorProto(
        name="observation_key.proto", package="radar", syntax="proto3"
    )
    message = fdp.message_type.add(name="ObservationKey")
    for number, name in enumerate(("projectId", "userId", "sourceId"), 1):
        message.field.add(
            name=name,
            number=number,
            type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
            label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
        )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("radar.ObservationKey"))


def avro_key(registry: Any, user: str, schema: dict[str, Any] = OBSERVATION_KEY) -> bytes:
    serializer = AvroSerializer(registry, json.dumps(schema))
    key = {"projectId": "p", "userId": user, "sourceId": "s"}
    out = serializer(key if schema["type"] == "record" else user, KEY)
    assert out is not None
    return bytes(out)


def decoder(registry: Any, key_format: str, value_format: str = "avro") -> RegistryDecoder:
    return RegistryDecoder(
        registry,
        value_format,
        max_bytes=MAX,
        strict_fields=False,
        key_format=key_format,
        key_user_field="userId",
    )


def outcome(dec: RegistryDecoder, key: bytes | None, value: bytes) -> str:
    dec.prepare_records([(key, value)])
    try:
        decoded = dec.decode_record(key, value)
    except InvalidEvent as exc:
        assert exc.reason in REASONS
        return exc.reason
    return decoded.event.user_id


def test_an_avro_observation_key_names_the_user_of_an_avro_event() -> None:
    registry = client()
    raw = event_dict(seed=3)
    value = RegistryEncoder(registry, "avro", TOPIC).encode(raw)
    assert (
        outcome(decoder(registry, "avro"), avro_key(registry, raw["user_id"]), value)
        == (raw["user_id"])
    )


def test_a_key_of_another_user_is_a_mismatch() -> None:
    registry = client()
    value = RegistryEncoder(registry, "avro", TOPIC).encode(event_dict(seed=3))
    mismatch = outcome(decoder(registry, "avro"), avro_key(registry, "someone-else"), value)
    assert mismatch == "key_user_mismatch"


def test_a_plain_string_avro_key_is_the_user_itself() -> None:
    registry = client()
    raw = event_dict(seed=4)
    key = avro_key(registry, raw["user_id"], {"type": "string"})
    assert outcome(decoder(registry, "avro", "json"), key, orjson.dumps(raw)) == raw["user_id"]


def test_keys_that_do_not_name_a_user_are_invalid() -> None:
    registry = client()
    raw = event_dict(seed=5)
    value = RegistryEncoder(registry, "avro", TOPIC).encode(raw)
    good = avro_key(registry, raw["user_id"])
    no_user = {**OBSERVATION_KEY, "name": "NoUser", "fields": OBSERVATION_KEY["fields"][2:]}
    keys = {
        "none": None,
        "plain string": raw["user_id"].encode(),
        "truncated": good[:3],
        "corrupt payload": good[:5] + b"\xff\xff\xff",
        "unknown id": good[:1] + (424_242).to_bytes(4, "big") + good[5:],
        "no user field": avro_key(registry, "", no_user),
        "another type": RegistryEncoder(registry, "json_schema", "other").encode(raw),
    }
    dec = decoder(registry, "avro")
    assert {name: outcome(dec, key, value) for name, key in keys.items()} == dict.fromkeys(
        keys, "invalid_key"
    )


def test_a_protobuf_key_is_read_with_the_descriptor_it_was_registered_with() -> None:
    registry = client()
    raw = event_dict(seed=6)
    message_class = key_message_class()
    serializer = ProtobufSerializer(message_class, registry, {"use.deprecated.format": False})
    key = serializer(message_class(projectId="p", userId=raw["user_id"], sourceId="s"), KEY)
    assert key is not None
    value = RegistryEncoder(registry, "protobuf", TOPIC).encode(raw)
    assert outcome(decoder(registry, "protobuf", "protobuf"), bytes(key), value) == raw["user_id"]


def test_a_json_schema_key_names_the_user() -> None:
    registry = client()
    raw = event_dict(seed=7)
    key = JSONSerializer(json.dumps(JSON_KEY), registry)({"userId": raw["user_id"]}, KEY)
    assert key is not None
    value = orjson.dumps(raw)
    assert outcome(decoder(registry, "json_schema", "json"), bytes(key), value) == raw["user_id"]


def test_string_keys_are_not_read() -> None:
    registry = client()
    raw = event_dict(seed=8)
    value = RegistryEncoder(registry, "avro", TOPIC).encode(raw)
    assert outcome(decoder(registry, "string"), b"\x00anything", value) == raw["user_id"]


def test_a_registry_key_format_needs_a_registry_and_builds_a_decoder() -> None:
    avro_keys = ProcessingSettings(key_format="avro", key_user_field="userId")
    with pytest.raises(ValidationError, match="KEY_FORMAT=avro"):
        Settings(processing=avro_keys)
    registry = SchemaRegistrySettings(url="http://127.0.0.1:9")  # no request is made
    assert build_registry_decoder(Settings(processing=avro_keys, schema_registry=registry))
    assert build_registry_decoder(Settings()) is None

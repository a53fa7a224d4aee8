"""Feature events → Schema Registry records, with confluent-kafka's own serializers (what
an upstream producer does; used by ``moodstream schemas register``, tests and the bench).

Subjects: TopicNameStrategy (``<topic>-value``, the default) or RecordNameStrategy (the
record's full name, ``moodstream.v1.FeatureEvent``). Not thread-safe.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, Literal, cast

from schemas import registry_formats as formats
from schemas.export import SCHEMA_DIR

if TYPE_CHECKING:
    from confluent_kafka.schema_registry import SchemaRegistryClient

Strategy = Literal["topic", "record"]
Serializer = Callable[[Any, Any], "bytes | None"]
RECORD_FULL_NAME: Final = f"{formats.NAMESPACE}.{formats.RECORD_NAME}"


def subject_for(topic: str, strategy: Strategy) -> str:
    """The subject the feature event's value schema lives under. Pure."""
    return f"{topic}-value" if strategy == "topic" else RECORD_FULL_NAME


def json_schema_text() -> str:
    """The exported JSON Schema of the feature event (``schemas/export.py``)."""
    return (SCHEMA_DIR / formats.JSON_SCHEMA_FILE).read_text(encoding="utf-8")


def registry_schema(input_format: str) -> tuple[str, str]:
    """(schema text, registry schema type) of the feature event in ``input_format``."""
    if input_format == "avro":
        return json.dumps(formats.avro_schema()), "AVRO"
    if input_format == "protobuf":
        return formats.render_proto(), "PROTOBUF"
    if input_format == "json_schema":
        return json_schema_text(), "JSON"
    raise ValueError(f"no registry schema for format {input_format!r}")


class RegistryEncoder:
    """Serializes contract dicts (``schemas.FeatureEvent`` as JSON-mode dicts) in one
    format for one topic; the first call registers the schema (auto-register)."""

    def __init__(
        self,
        client: SchemaRegistryClient,
        input_format: str,
        topic: str,
        *,
        strategy: Strategy = "topic",
        schema_text: str | None = None,
    ) -> None:
        from confluent_kafka.serialization import MessageField, SerializationContext

        self._context = SerializationContext(topic, MessageField.VALUE)
        self._format = input_format
        self._serialize = _serializer(client, input_format, strategy, schema_text)
        self._field = MessageField.VALUE

    def encode(self, event: dict[str, Any]) -> bytes:
        """One record in the registry's wire format. Blocks on the registry the first time
        (registration); raises SerializationError / SchemaRegistryError."""
        value = formats.dict_to_proto(event) if self._format == "protobuf" else event
        out = self._serialize(value, self._context)
        assert out is not None
        return bytes(out)


def _serializer(
    client: SchemaRegistryClient, input_format: str, strategy: Strategy, schema_text: str | None
) -> Serializer:
    from confluent_kafka.schema_registry import record_subject_name_strategy
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.schema_registry.json_schema import JSONSerializer
    from confluent_kafka.schema_registry.protobuf import ProtobufSerializer

    conf: dict[str, Any] = {"auto.register.schemas": True}
    if strategy == "record":
        conf["subject.name.strategy"] = record_subject_name_strategy
    if input_format == "avro":
        text = schema_text or registry_schema("avro")[0]
        return cast(Serializer, AvroSerializer(client, text, conf=conf))
    if input_format == "protobuf":
        conf["use.deprecated.format"] = False
        return cast(Serializer, ProtobufSerializer(formats.proto_message_class(), client, conf))
    if input_format == "json_schema":
        text = schema_text or json_schema_text()
        return cast(Serializer, JSONSerializer(text, client, conf=conf))
    raise ValueError(f"no registry serializer for format {input_format!r}")

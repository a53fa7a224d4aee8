"""Schema Registry records (magic byte 0, 4-byte schema id, Avro/Protobuf/JSON) →
``FeatureEvent``, with confluent-kafka's own deserializers (no hand-written wire parser).

Two steps, so that the hot path stays cheap:

* ``prepare(values)``, once per batch: every schema id in the batch is looked up (the
  client caches each schema by id for good, so this is one HTTP request per new id). An id
  the registry does not know is remembered for the batch; a registry that does not answer
  raises ``SchemaRegistryUnavailable`` before any record was decoded, so the caller can
  hold the whole batch and retry it later: nothing is dead-lettered because of an outage.
* ``decode(value)``, per record: the deserializer of the schema's type turns the record
  into the contract's dict, which is then validated exactly like a JSON event
  (``consumer.intake.decode``: same limits, same reasons, same tolerant reader).

New dead-letter reasons: ``not_registry_framed`` (no magic byte where a registry format is
set), ``truncated_frame`` (too short, or a payload that does not decode with its schema),
``unknown_schema_id``, ``wrong_schema_type`` (e.g. a Protobuf schema id with
``INPUT_FORMAT=avro``), ``unresolvable_schema`` (a writer schema that cannot be read as
the event: Avro schema resolution fails, or the schema does not parse).

Not thread-safe (one per worker loop; the deserializers keep caches).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final

import orjson

from consumer.errors import InvalidEvent, SchemaRegistryUnavailable
from consumer.intake.decode import Decoded, decode
from consumer.schema_registry.schema_type import effective_schema_type
from schemas import registry_formats as formats

if TYPE_CHECKING:
    from confluent_kafka.schema_registry import SchemaRegistryClient

MAGIC_BYTE: Final = 0
#: Magic byte + 4-byte id + at least one payload byte.
MIN_FRAME_BYTES: Final = 6
#: ``PROCESSING__INPUT_FORMAT`` → the registry's schema type.
SCHEMA_TYPES: Final = {"avro": "AVRO", "protobuf": "PROTOBUF", "json_schema": "JSON"}

Deserializer = Callable[[bytes, Any], Any]


def is_registry_framed(value: bytes) -> bool:
    """Whether a record starts with the wire format's magic byte (JSON never does). Pure."""
    return len(value) > 0 and value[0] == MAGIC_BYTE


def schema_id_of(value: bytes) -> int:
    """The schema id of a framed record, read by confluent-kafka's own ``SchemaId``.
    Raises InvalidEvent ``truncated_frame`` when the header is incomplete."""
    from confluent_kafka.schema_registry.serde import SchemaId

    if len(value) < MIN_FRAME_BYTES:
        raise InvalidEvent("truncated_frame", f"registry frame of {len(value)} bytes is truncated")
    schema_id = SchemaId("AVRO")
    schema_id.from_bytes(io.BytesIO(value))
    return int(schema_id.id or 0)


class RegistryDecoder:
    """Decodes one worker's input in ``input_format`` (``avro``, ``protobuf``,
    ``json_schema`` or ``auto``); plain JSON passes through ``consumer.intake.decode``."""

    def __init__(
        self,
        client: SchemaRegistryClient,
        input_format: str,
        *,
        max_bytes: int,
        strict_fields: bool,
        topic: str = "",
    ) -> None:
        from confluent_kafka.serialization import MessageField, SerializationContext

        self._client = client
        # JSONDeserializer needs a context for its subject strategy (no registry call).
        self._context = SerializationContext(topic, MessageField.VALUE)
        self._format = input_format
        self._max_bytes = max_bytes
        self._strict_fields = strict_fields
        self._types: dict[int, str] = {}  # schema id -> AVRO | PROTOBUF | JSON
        self._unknown: set[int] = set()
        self._deserializers = _deserializers(client)

    def prepare(self, values: Iterable[bytes | None]) -> None:
        """Look up every schema id of the batch not seen before. Blocks on the registry
        (one request per new id, up to its timeout each). Raises
        SchemaRegistryUnavailable when it does not answer."""
        self._unknown.clear()
        for value in values:
            if not value or not is_registry_framed(value) or len(value) < MIN_FRAME_BYTES:
                continue
            schema_id = schema_id_of(value)
            if schema_id not in self._types and schema_id not in self._unknown:
                self._look_up(schema_id)

    def decode(self, value: bytes | None) -> Decoded:
        """One record. Raises InvalidEvent; never blocks once ``prepare`` saw the batch."""
        if not value or (self._format == "auto" and not is_registry_framed(value)):
            return decode(value, max_bytes=self._max_bytes, strict_fields=self._strict_fields)
        if not is_registry_framed(value):
            raise InvalidEvent(
                "not_registry_framed",
                f"INPUT_FORMAT={self._format} expects the Schema Registry wire format "
                "(magic byte 0)",
            )
        if len(value) > self._max_bytes:
            size = f"message of {len(value)} bytes exceeds {self._max_bytes}"
            raise InvalidEvent("too_large", size)
        schema_id = schema_id_of(value)
        schema_type = self._schema_type(schema_id)
        contract = self._deserialize(value, schema_id, schema_type)
        try:
            as_json = orjson.dumps(contract)
        except TypeError:
            raise InvalidEvent("unresolvable_schema", _not_the_event(schema_id)) from None
        return decode(as_json, max_bytes=self._max_bytes, strict_fields=self._strict_fields)

    def _schema_type(self, schema_id: int) -> str:
        if schema_id in self._unknown:
            raise InvalidEvent("unknown_schema_id", f"the registry has no schema {schema_id}")
        if schema_id not in self._types:  # a record decoded without prepare (tools)
            self._look_up(schema_id)
            return self._schema_type(schema_id)
        schema_type = self._types[schema_id]
        expected = SCHEMA_TYPES.get(self._format)
        if expected is not None and schema_type != expected:
            raise InvalidEvent(
                "wrong_schema_type",
                f"schema {schema_id} is {schema_type}; INPUT_FORMAT={self._format} "
                f"reads {expected}",
            )
        if schema_type not in self._deserializers:
            raise InvalidEvent("wrong_schema_type", f"schema {schema_id} is {schema_type}")
        return schema_type

    def _deserialize(self, value: bytes, schema_id: int, schema_type: str) -> dict[str, Any]:
        try:
            context = self._context if schema_type == "JSON" else None
            result = self._deserializers[schema_type](value, context)
        except InvalidEvent:
            raise
        except Exception as exc:  # the deserializers raise many types; each is classified
            raise _classified(exc, schema_id) from None
        if schema_type == "PROTOBUF":
            return formats.proto_to_dict(result)
        if not isinstance(result, dict):
            raise InvalidEvent("unresolvable_schema", _not_the_event(schema_id))
        return result

    def _look_up(self, schema_id: int) -> None:
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        try:
            schema = self._client.get_schema(schema_id)
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:
                self._unknown.add(schema_id)
                return
            raise SchemaRegistryUnavailable(
                f"the schema registry answered HTTP {exc.http_status_code} for schema "
                f"{schema_id}: {exc.error_message}"
            ) from None
        except Exception as exc:  # httpx transport errors: refused, reset, timed out
            raise SchemaRegistryUnavailable(
                f"the schema registry did not answer ({type(exc).__name__})"
            ) from None
        self._types[schema_id] = effective_schema_type(schema.schema_type, schema.schema_str)


def _deserializers(client: SchemaRegistryClient) -> dict[str, Deserializer]:
    """One confluent-kafka deserializer per schema type; Avro reads with the service's
    reader schema (``schemas/feature_event.v1.avsc``), so writer versions that add or drop
    optional fields resolve to the event."""
    from confluent_kafka.schema_registry import topic_subject_name_strategy
    from confluent_kafka.schema_registry.avro import AvroDeserializer
    from confluent_kafka.schema_registry.json_schema import JSONDeserializer
    from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer

    reader = json.dumps(formats.avro_schema())
    proto_conf = {"use.deprecated.format": False}
    json_conf = {"validate": False, "subject.name.strategy": topic_subject_name_strategy}
    return {
        "AVRO": AvroDeserializer(client, schema_str=reader),
        "PROTOBUF": ProtobufDeserializer(formats.proto_message_class(), proto_conf, client),
        # The contract validates every field after this (pydantic); no second validation.
        "JSON": JSONDeserializer(None, schema_registry_client=client, conf=json_conf),
    }


def _classified(exc: Exception, schema_id: int) -> InvalidEvent:
    """A deserializer's exception as a dead-letter reason (never the input's values)."""
    from fastavro.read import SchemaResolutionError

    name = type(exc).__name__
    if isinstance(exc, SchemaResolutionError) or "SchemaParse" in name:
        return InvalidEvent("unresolvable_schema", _not_the_event(schema_id) + f" ({name})")
    return InvalidEvent(
        "truncated_frame",
        f"the payload does not decode with schema {schema_id} (truncated or corrupt: {name})",
    )


def _not_the_event(schema_id: int) -> str:
    return f"schema {schema_id} cannot be read as the feature event"

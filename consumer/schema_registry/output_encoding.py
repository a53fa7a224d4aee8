"""The service's outputs in the Schema Registry formats (``PROCESSING__OUTPUT_FORMAT``):
predictions, alerts and the windows stage's feature events, framed by confluent-kafka's
own serializers (``AvroSerializer``, ``ProtobufSerializer``, ``JSONSerializer``) under
the topic's subject (``<topic>-value``), so a downstream consumer reads them with
confluent-kafka's deserializers.

A separate seam from the JSON path: with ``output_format=json`` no encoder exists and the
records keep today's bytes. With a registry format the record's JSON value (what the
contract model dumps) is parsed once and serialized in the format; the ``content-type``
header names the format (``CONTENT_TYPES``).

Schemas: Prediction and Alert from ``schemas.output_formats`` (Avro, Protobuf) and the
exported JSON Schemas; the feature event from ``schemas.registry_formats``. ``register``
registers them all once at start (blocks on the registry); encoding then makes no request.
Protobuf subjects then get compatibility NONE (``consumer.schema_registry.apicurio``):
Apicurio answers HTTP 500 to a BACKWARD check of the base64 descriptor that
ProtobufSerializer registers, so a later, changed schema could not be registered.

Not thread-safe (one per worker loop).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol, cast

import orjson

from consumer.errors import SchemaRegistryUnavailable
from schemas import output_formats, registry_formats
from schemas.events import FEATURE_NAMES
from schemas.export import SCHEMA_DIR

if TYPE_CHECKING:
    from confluent_kafka.schema_registry import SchemaRegistryClient

#: The ``content-type`` header of an output record per ``PROCESSING__OUTPUT_FORMAT``.
CONTENT_TYPES: Final = {
    "json": "application/json",
    "avro": "application/vnd.schemaregistry.v1+avro",
    "protobuf": "application/vnd.schemaregistry.v1+protobuf",
    "json_schema": "application/vnd.schemaregistry.v1+json",
}
#: Output kinds with a registry schema: ``feature_event`` is the windows stage's output
#: (the scoring input's own schema).
KINDS: Final = ("prediction", "alert", "feature_event")
_JSON_SCHEMA_FILES: Final = {
    "prediction": "prediction.v1.schema.json",
    "alert": "alert.v1.schema.json",
    "feature_event": registry_formats.JSON_SCHEMA_FILE,
}

Serializer = Callable[[Any, Any], "bytes | None"]


class OutputEncoder(Protocol):
    """Turns an output record's JSON value into the configured format."""

    @property
    def content_type(self) -> bytes: ...

    @property
    def kinds(self) -> frozenset[str]:
        """The output kinds it writes (others keep their bytes)."""
        ...

    def encode_json(self, kind: str, value: bytes) -> bytes: ...


class JsonOutputEncoder:
    """``output_format=json``: today's bytes, untouched (for stages that want an encoder
    object; the pipeline takes None instead and does no work at all)."""

    content_type = CONTENT_TYPES["json"].encode()
    kinds: frozenset[str] = frozenset()

    def encode_json(self, kind: str, value: bytes) -> bytes:
        return value


class RegistryOutputEncoder:
    """Serializes the output kinds of ``topics`` (kind → topic) in ``output_format``."""

    def __init__(
        self,
        client: SchemaRegistryClient,
        output_format: str,
        topics: Mapping[str, str],
        relax: Callable[[str], None] | None = None,
    ) -> None:
        from confluent_kafka.serialization import MessageField, SerializationContext

        if output_format not in CONTENT_TYPES or output_format == "json":
            raise ValueError(f"no registry output format {output_format!r}")
        self._client = client
        self._format = output_format
        self._topics = dict(topics)
        self._contexts = {
            kind: SerializationContext(topic, MessageField.VALUE) for kind, topic in topics.items()
        }
        self._serializers = {kind: _serializer(client, output_format, kind) for kind in topics}
        self.content_type = CONTENT_TYPES[output_format].encode()
        self.kinds = frozenset(topics)
        self._relax = relax  # sets compatibility NONE on a Protobuf subject (apicurio.py)

    def register(self) -> None:
        """Register every kind's schema under ``<topic>-value``, then give Protobuf subjects
        compatibility NONE (``relax``). Blocks on the registry, up to its timeout per request;
        raises SchemaRegistryUnavailable when it does not answer or refuses."""
        for kind in self._topics:
            try:
                self.encode(kind, example(kind))
            except Exception as exc:  # httpx errors, SchemaRegistryError: all mean "not now"
                raise SchemaRegistryUnavailable(
                    f"could not register the {kind} schema ({self._format}) for topic "
                    f"{self._topics[kind]}: {type(exc).__name__}: {exc}"
                ) from None
            if self._format == "protobuf" and self._relax is not None:
                self._relax(f"{self._topics[kind]}-value")

    def encode(self, kind: str, record: dict[str, Any]) -> bytes:
        """One record (the contract's JSON-mode dict) in the registry's wire format. No
        request once ``register`` ran; raises KeyError for a kind it was not made for,
        SerializationError/ValueError for a record that is not the contract's."""
        value: Any = record
        if self._format == "protobuf":
            value = _to_proto(kind, record)
        out = self._serializers[kind](value, self._contexts[kind])
        assert out is not None
        return bytes(out)

    def encode_json(self, kind: str, value: bytes) -> bytes:
        """``encode`` of a record's JSON value (the bytes the contract model dumped)."""
        return self.encode(kind, orjson.loads(value))


def register_waiting(
    register: Callable[[], None],
    monotonic: Callable[[], float],
    timeout_s: float,
    pauses: tuple[float, float],
    sleep: Callable[[float], None],
    waiting: Callable[[str], None] | None = None,
) -> None:
    """``register`` (``RegistryOutputEncoder.register``), retried while the registry does
    not answer: pauses double from ``pauses[0]`` up to ``pauses[1]``, telling ``waiting``
    why, for up to ``timeout_s``. Blocks (``sleep``); raises the last
    SchemaRegistryUnavailable then."""
    deadline = monotonic() + timeout_s
    pause_s, max_s = pauses
    while True:
        try:
            register()
            return
        except SchemaRegistryUnavailable as exc:
            if monotonic() + pause_s > deadline:
                raise
            if waiting is not None:
                waiting(str(exc))
        sleep(pause_s)
        pause_s = min(max_s, pause_s * 2)


def _to_proto(kind: str, record: dict[str, Any]) -> Any:
    if kind == "feature_event":
        return registry_formats.dict_to_proto(record)
    return output_formats.dict_to_proto(record, kind)


def avro_schema(kind: str) -> dict[str, Any]:
    if kind == "feature_event":
        return registry_formats.avro_schema()
    return output_formats.avro_schema(kind)


def proto_message_class(kind: str) -> Any:
    """The message class a Protobuf consumer of ``kind`` decodes into."""
    if kind == "feature_event":
        return registry_formats.proto_message_class()
    return output_formats.proto_message_class(kind)


def json_schema_text(kind: str) -> str:
    return (SCHEMA_DIR / _JSON_SCHEMA_FILES[kind]).read_text(encoding="utf-8")


def _serializer(client: SchemaRegistryClient, output_format: str, kind: str) -> Serializer:
    """confluent-kafka's serializer of ``kind`` (TopicNameStrategy, auto-registration)."""
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.schema_registry.json_schema import JSONSerializer
    from confluent_kafka.schema_registry.protobuf import ProtobufSerializer

    conf: dict[str, Any] = {"auto.register.schemas": True}
    if output_format == "avro":
        text = json.dumps(avro_schema(kind))
        return cast(Serializer, AvroSerializer(client, text, conf=conf))
    if output_format == "protobuf":
        conf["use.deprecated.format"] = False
        return cast(Serializer, ProtobufSerializer(proto_message_class(kind), client, conf))
    # The pydantic contract built and validated the record: no second validation.
    conf["validate"] = False
    return cast(Serializer, JSONSerializer(json_schema_text(kind), client, conf=conf))


def example(kind: str) -> dict[str, Any]:
    """A valid record of ``kind`` (JSON-mode dict), serialized once to register the schema."""
    ids = {
        "event_id": "00000000-0000-4000-8000-000000000000",
        "user_id": "moodstream-schema-registration",
    }
    if kind == "feature_event":
        features = dict.fromkeys(FEATURE_NAMES)
        when = {"as_of": "2024-01-01", "emitted_at": "2024-01-01T00:00:00Z"}
        return {"schema_version": 1, **ids, **when, "features": features}
    if kind == "alert":
        at = "2024-01-01T00:00:00Z"
        alert = {"kind": "slow_prediction", "model": None, "budget_ms": 1.0, "elapsed_ms": 2.0}
        return {"schema_version": 1, **ids, **alert, "at": at}
    risk = dict.fromkeys(("depression", "hypomania", "mania"))
    source = {"topic": "t", "partition": 0, "offset": 0}
    return {
        "schema_version": 1, **ids, "as_of": "2024-01-01", "next_day_risk": risk,
        "current_depression": None, "ensemble_depression": None, "models": {},
        "partial": False, "latency_ms": 0.0, "source": source,
        "predicted_at": "2024-01-01T00:00:00Z",
    }  # fmt: skip

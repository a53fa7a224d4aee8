"""A registry record's payload → the contract's fields, without a JSON round trip.

Framing and schema lookup stay confluent-kafka's (``consumer.schema_registry.framing``:
``SchemaId``; ``SchemaRegistryClient.get_schema`` caches each schema by id). The payload
is read by its maintained decoder:

* Avro: ``fastavro.schemaless_reader`` with the writer's schema (parsed once per schema
  id) resolved to the service's reader schema (``schemas/feature_event.v1.avsc``).
* Protobuf: the generated message class; a packed ``repeated double`` week goes to numpy
  in one call (no Python float per minute) and reaches PAT's input matrix as it is
  (``schemas.activity_week.ActivityWeek``).
* JSON Schema: the payload is the event's JSON, decoded exactly like a JSON event.

``ContractReader`` then validates every field with the pydantic contract (strict Python
mode; dates and times parsed from their strings as in JSON; the week with numpy by the
contract's rules). Not thread-safe (one per ``RegistryDecoder``).
"""

from __future__ import annotations

import io
import json
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
from pydantic import AwareDatetime, PlainValidator, TypeAdapter, ValidationError
from typing_extensions import TypedDict

from consumer.errors import InvalidEvent
from consumer.intake.decode import as_invalid
from schemas import FEATURE_NAMES, FeatureEvent
from schemas import registry_formats as formats
from schemas.activity_week import ActivityWeek, checked_week

if TYPE_CHECKING:
    from confluent_kafka.schema_registry import SchemaRegistryClient

#: The event's scalar fields, in every registry format.
_SCALARS = ("schema_version", "event_id", "user_id", "as_of", "emitted_at")
#: The contract's string fields that JSON carries as text and Python holds as objects.
_TEXT_DATES = ("as_of", "emitted_at")


class _Dates(TypedDict):
    """The contract's dates as JSON carries them (text), parsed by the contract's types."""

    as_of: date
    emitted_at: AwareDatetime


def _week_or_none(value: Any) -> ActivityWeek | None:
    return None if value is None else checked_week(value)


class _WeekEvent(FeatureEvent):
    """The contract, with the week checked by numpy (same rules, same error types)."""

    activity: Annotated[Any, PlainValidator(_week_or_none)] = None


class ContractReader:
    """Validates decoded fields with the contract (every field, as a JSON event's)."""

    def __init__(self) -> None:
        self._dates: TypeAdapter[_Dates] = TypeAdapter(_Dates)

    def event(self, fields: dict[str, Any]) -> FeatureEvent:
        """The event, or InvalidEvent with the reason JSON would give. Pure; per record."""
        self._parse_dates(fields)
        try:
            if fields.get("activity") is None:  # no week: the contract's model itself
                return FeatureEvent.model_validate(fields)
            checked = _WeekEvent.model_validate(fields)
        except ValidationError as exc:
            raise as_invalid(exc) from None
        # Validated: the same fields, so no second validation (the week stays an array).
        return FeatureEvent.model_construct(checked.model_fields_set, **checked.__dict__)

    def _parse_dates(self, fields: dict[str, Any]) -> None:
        """``as_of``/``emitted_at`` from their text, strictly as JSON mode parses them.
        Raises InvalidEvent with JSON's reason for a text that does not parse."""
        texts = {name: fields.get(name) for name in _TEXT_DATES}
        if not all(isinstance(text, str) for text in texts.values()):
            return  # the model refuses a non-string with its own reason
        try:
            fields.update(self._dates.validate_strings(texts, strict=True))
        except ValidationError as exc:
            raise as_invalid(exc) from None


class AvroPayloads:
    """Avro payloads → contract fields, with each writer schema parsed once per id."""

    def __init__(self, client: SchemaRegistryClient) -> None:
        from fastavro import parse_schema

        self._client = client
        self._reader = parse_schema(formats.avro_schema())
        self._reader_text = json.dumps(formats.avro_schema(), sort_keys=True)
        # schema id -> (parsed writer schema, reader schema or None when identical)
        self._writers: dict[int, tuple[Any, Any]] = {}

    def fields(self, stream: io.BytesIO, schema_id: int) -> dict[str, Any]:
        """One record's fields from its payload (``stream``, after the header). Raises
        InvalidEvent (truncated_frame, unresolvable_schema)."""
        from fastavro import schemaless_reader

        writer, reader = self._writers.get(schema_id) or self._writer(schema_id)
        try:
            fields = schemaless_reader(stream, writer, reader)
        except Exception as exc:  # fastavro raises many types; each is classified
            raise classified(exc, schema_id) from None
        if not isinstance(fields, dict):
            raise InvalidEvent("unresolvable_schema", not_the_event(schema_id))
        return fields

    def _writer(self, schema_id: int) -> tuple[Any, Any]:
        """Parse the writer's schema (the client's cache: no request once looked up)."""
        from fastavro import parse_schema

        try:
            text = self._client.get_schema(schema_id).schema_str or ""
            parsed = json.loads(text)
            writer = parse_schema(parsed)
        except Exception as exc:  # JSON or Avro parse errors
            raise classified(exc, schema_id) from None
        same = json.dumps(parsed, sort_keys=True) == self._reader_text
        self._writers[schema_id] = (writer, None if same else self._reader)
        return self._writers[schema_id]


def protobuf_fields(stream: io.BytesIO, schema_id: int) -> dict[str, Any]:
    """A Protobuf record's fields from its payload (``stream``, after the message
    indexes); the week as one float64 array. Raises InvalidEvent."""
    try:
        message: Any = formats.proto_message_class().FromString(stream.read())
    except Exception as exc:  # DecodeError and friends
        raise classified(exc, schema_id) from None
    out: dict[str, Any] = {name: getattr(message, name) for name in _SCALARS}
    if message.HasField("features"):
        out["features"] = _features(message.features)
    if len(message.activity):
        out["activity"] = np.array(message.activity, dtype=np.float64)
    if message.HasField("coverage"):
        out["coverage"] = message.coverage
    return out


def _features(features: Any) -> dict[str, float | None]:
    """The 36 optional doubles; an unset one is None (``HasField`` asked only of a 0.0,
    which is what an unset field reads as: 2.6x cheaper than ``ListFields``)."""
    return {
        name: (number if (number := getattr(features, name)) or features.HasField(name) else None)
        for name in FEATURE_NAMES
    }


def classified(exc: Exception, schema_id: int) -> InvalidEvent:
    """A decoder's exception as a dead-letter reason (never the input's values)."""
    from fastavro.read import SchemaResolutionError

    name = type(exc).__name__
    if isinstance(exc, SchemaResolutionError) or "SchemaParse" in name:
        return InvalidEvent("unresolvable_schema", not_the_event(schema_id) + f" ({name})")
    if isinstance(exc, json.JSONDecodeError):
        return InvalidEvent("unresolvable_schema", not_the_event(schema_id) + f" ({name})")
    return InvalidEvent(
        "truncated_frame",
        f"the payload does not decode with schema {schema_id} (truncated or corrupt: {name})",
    )


def not_the_event(schema_id: int) -> str:
    return f"schema {schema_id} cannot be read as the feature event"

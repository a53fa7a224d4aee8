"""Registry-framed Avro records of any schema → the Python values their writer's schema
gives (a record as a ``dict``), for inputs that are not the feature event (RADAR-base's
``ObservationKey`` and ``FitbitIntradaySteps``, read by the windows stage).

The frame is read by confluent-kafka's ``SchemaId`` (``framing``), each writer schema is
fetched once per id (``lookup``: the client caches it) and parsed once, the payload is
read by ``fastavro.schemaless_reader`` with that schema (no reader schema: the caller
validates the values with its own model). Like ``RegistryDecoder``: ``prepare`` looks up a
batch's new schema ids first (a registry that does not answer raises
``SchemaRegistryUnavailable`` before any record was read, so the batch can be held and
retried), then ``read`` per record never blocks.

Dead-letter reasons (``InvalidEvent``): ``not_registry_framed``, ``truncated_frame`` (a
short header, or a payload that does not decode with its schema), ``unknown_schema_id``,
``wrong_schema_type`` (a Protobuf or JSON Schema id, or an Avro schema that does not
parse). Messages say which part (``what``: key or value) and never hold input values.
Not thread-safe (one per poll loop).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from consumer.errors import InvalidEvent
from consumer.schema_registry.framing import MIN_FRAME_BYTES, HeaderReader
from consumer.schema_registry.lookup import fetch_schema
from consumer.schema_registry.schema_type import effective_schema_type

if TYPE_CHECKING:
    from confluent_kafka.schema_registry import SchemaRegistryClient


class AvroRecords:
    """Reads registry-framed Avro records (the ``what`` of a message: key or value)."""

    def __init__(self, client: SchemaRegistryClient, what: str) -> None:
        self._client = client
        self._what = what
        self._writers: dict[int, Any] = {}  # schema id -> parsed writer schema
        self._refused: dict[int, InvalidEvent] = {}  # schema id -> why it cannot be read
        self._unknown: set[int] = set()  # ids the registry did not know (this batch)
        self._headers = HeaderReader()

    def prepare(self, values: Iterable[bytes | None]) -> None:
        """Look up every schema id of the batch not seen before. Blocks on the registry
        (one request per new id, up to its timeout); raises SchemaRegistryUnavailable
        when it does not answer. An id unknown to the registry is asked again per batch."""
        self._unknown.clear()
        for value in values:
            if value and value[0] == 0 and len(value) >= MIN_FRAME_BYTES:
                schema_id = self._headers.frame(value)[0]
                if not self._known(schema_id):
                    self._look_up(schema_id)

    def read(self, value: bytes | None) -> Any:
        """The record's values. Raises InvalidEvent (see the module doc); blocks on the
        registry only for an id ``prepare`` did not see."""
        if not value or value[0] != 0:
            raise InvalidEvent(
                "not_registry_framed",
                f"the {self._what} is not in the Schema Registry wire format (magic byte 0)",
            )
        schema_id, stream = self._headers.frame(value)
        if not self._known(schema_id):
            self._look_up(schema_id)
        if schema_id in self._unknown:
            raise InvalidEvent(
                "unknown_schema_id", f"the registry has no schema {schema_id} ({self._what})"
            )
        if schema_id in self._refused:
            raise self._refused[schema_id]
        from fastavro import schemaless_reader

        try:
            return schemaless_reader(stream, self._writers[schema_id], None)
        except Exception as exc:  # fastavro raises many types: truncated or corrupt
            raise InvalidEvent(
                "truncated_frame",
                f"the {self._what} does not decode with schema {schema_id} ({type(exc).__name__})",
            ) from None

    def _known(self, schema_id: int) -> bool:
        return (
            schema_id in self._writers or schema_id in self._refused or (schema_id in self._unknown)
        )

    def _look_up(self, schema_id: int) -> None:
        from fastavro import parse_schema

        schema = fetch_schema(self._client, schema_id)
        if schema is None:
            self._unknown.add(schema_id)
            return
        found = effective_schema_type(schema.schema_type, schema.schema_str)
        try:
            if found != "AVRO":
                raise ValueError(found)
            self._writers[schema_id] = parse_schema(json.loads(schema.schema_str or ""))
        except Exception:  # another type, or an Avro schema that does not parse
            self._refused[schema_id] = InvalidEvent(
                "wrong_schema_type",
                f"the {self._what}'s schema {schema_id} is {found}, not a readable Avro schema",
            )

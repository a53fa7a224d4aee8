"""Schema Registry records (magic byte 0, 4-byte schema id, Avro/Protobuf/JSON) →
``FeatureEvent``: confluent-kafka's framing and schema cache, fastavro / protobuf for the
payload (no hand-written wire parser), the pydantic contract for every field.

Two steps, so that the hot path stays cheap:

* ``prepare(values)``, once per batch: every schema id in the batch is looked up (the
  client caches each schema by id for good, so this is one HTTP request per new id). An id
  the registry does not know is remembered for the batch; a registry that does not answer
  raises ``SchemaRegistryUnavailable`` before any record was decoded, so the caller can
  hold the whole batch and retry it later: nothing is dead-lettered because of an outage.
* ``decode(value)``, per record: the payload's decoder turns the record into the
  contract's fields, validated by the contract with the reasons of a JSON event
  (``consumer.schema_registry.payloads``: no JSON round trip; a Protobuf week reaches
  PAT's input as one array). A JSON Schema payload is decoded as a JSON event
  (``consumer.intake.decode``: same limits, reasons and tolerant reader).

New dead-letter reasons: ``not_registry_framed`` (no magic byte where a registry format is
set), ``truncated_frame`` (too short, or a payload that does not decode with its schema),
``unknown_schema_id``, ``wrong_schema_type`` (e.g. a Protobuf schema id with
``INPUT_FORMAT=avro``), ``unresolvable_schema`` (a writer schema that cannot be read as
the event: Avro schema resolution fails, or the schema does not parse).

Not thread-safe (one per worker loop; it caches parsed schemas).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

from consumer.errors import InvalidEvent
from consumer.intake.decode import Decoded, decode
from consumer.schema_registry import framing
from consumer.schema_registry.framing import HeaderReader, frame_of
from consumer.schema_registry.keys import KeyDecoder
from consumer.schema_registry.lookup import fetch_schema
from consumer.schema_registry.payloads import (
    AvroPayloads,
    ContractReader,
    protobuf_fields,
)
from consumer.schema_registry.schema_type import effective_schema_type

if TYPE_CHECKING:
    from confluent_kafka.schema_registry import SchemaRegistryClient

MAGIC_BYTE: Final = 0
MIN_FRAME_BYTES: Final = framing.MIN_FRAME_BYTES
#: ``PROCESSING__INPUT_FORMAT`` → the registry's schema type.
SCHEMA_TYPES: Final = {"avro": "AVRO", "protobuf": "PROTOBUF", "json_schema": "JSON"}

#: A JSON Schema payload that is not JSON did not survive the frame.
_UNREADABLE_JSON: Final = frozenset({"empty", "invalid_utf8", "invalid_json"})


def is_registry_framed(value: bytes) -> bool:
    """Whether a record starts with the wire format's magic byte (JSON never does). Pure."""
    return len(value) > 0 and value[0] == MAGIC_BYTE


def schema_id_of(value: bytes) -> int:
    """The schema id of a framed record, read by confluent-kafka's own ``SchemaId``.
    Raises InvalidEvent ``truncated_frame`` when the header is incomplete."""
    return frame_of(value)[0]


class RegistryDecoder:
    """Decodes one worker's input in ``input_format`` (``avro``, ``protobuf``,
    ``json_schema``, ``auto`` or ``json``); plain JSON passes through
    ``consumer.intake.decode``. With a registry ``key_format`` each record's key names the
    user (``consumer.schema_registry.keys``: ``decode_record``)."""

    def __init__(
        self,
        client: SchemaRegistryClient,
        input_format: str,
        *,
        max_bytes: int,
        strict_fields: bool,
        topic: str = "",
        key_format: str = "string",
        key_user_field: str = "userId",
    ) -> None:
        del topic  # kept for callers: subjects play no part in reading a record
        self._keys = (
            None if key_format == "string" else KeyDecoder(client, key_format, key_user_field)
        )
        self._client = client
        self._format = input_format
        self._max_bytes = max_bytes
        self._strict_fields = strict_fields
        self._types: dict[int, str] = {}  # schema id -> AVRO | PROTOBUF | JSON
        self._unknown: set[int] = set()
        self._avro = AvroPayloads(client)
        self._contract = ContractReader()
        self._headers = HeaderReader()

    def prepare(self, values: Iterable[bytes | None]) -> None:
        """Look up every schema id of the batch not seen before. Blocks on the registry
        (one request per new id, up to its timeout each). Raises
        SchemaRegistryUnavailable when it does not answer."""
        self._unknown.clear()
        for value in values:
            if not value or not is_registry_framed(value) or len(value) < MIN_FRAME_BYTES:
                continue
            schema_id = self._headers.frame(value)[0]
            if schema_id not in self._types and schema_id not in self._unknown:
                self._look_up(schema_id)

    def prepare_records(self, records: Iterable[tuple[bytes | None, bytes | None]]) -> None:
        """``prepare`` for the (key, value) pairs of a batch: the keys' schema ids too
        when keys are registry-framed. Blocks on the registry; raises
        SchemaRegistryUnavailable when it does not answer."""
        pairs = list(records)
        self.prepare(value for _, value in pairs)
        if self._keys is not None:
            self._keys.prepare(key for key, _ in pairs)

    def decode_record(self, key: bytes | None, value: bytes | None) -> Decoded:
        """One record, its key checked when keys are registry-framed: the key must name
        the event's user. Raises InvalidEvent (``invalid_key``, ``key_user_mismatch``, or
        the value's reason); never blocks once ``prepare_records`` saw the batch."""
        if self._keys is None:
            return self.decode(value)
        user = self._keys.user_of(key)
        decoded = self.decode(value)
        if decoded.event.user_id != user:
            raise InvalidEvent(
                "key_user_mismatch", "the key names another user than the event's user_id"
            )
        return decoded

    def decode(self, value: bytes | None) -> Decoded:
        """One record. Raises InvalidEvent; never blocks once ``prepare`` saw the batch."""
        plain = self._format == "json" or (
            self._format == "auto" and not is_registry_framed(value or b"")
        )
        if not value or plain:
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
        schema_id, payload, header = self._frame(value)
        schema_type = self._schema_type(schema_id)
        if schema_type == "AVRO":
            return Decoded(self._contract.event(self._avro.fields(payload, schema_id)))
        if schema_type == "PROTOBUF":
            if header != "PROTOBUF":  # read the header again, message indexes included
                payload = self._headers.frame(value, "PROTOBUF")[1]
            return Decoded(self._contract.event(protobuf_fields(payload, schema_id)))
        return self._json_payload(payload)

    def _frame(self, value: bytes) -> tuple[int, io.BytesIO, str]:
        """(schema id, payload stream, header type read). Protobuf's header goes on with
        its message indexes: read as such where Protobuf is expected; a header that does
        not read so is read again as the plain one, for the schema's type to speak first."""
        if self._format == "protobuf":
            try:
                return (*self._headers.frame(value, "PROTOBUF"), "PROTOBUF")
            except InvalidEvent:
                pass
        return (*self._headers.frame(value), "AVRO")

    def _json_payload(self, stream: io.BytesIO) -> Decoded:
        """A JSON Schema record: its payload is the event's JSON, decoded as such."""
        try:
            return decode(
                stream.read(), max_bytes=self._max_bytes, strict_fields=self._strict_fields
            )
        except InvalidEvent as exc:
            if exc.reason in _UNREADABLE_JSON:
                raise InvalidEvent(
                    "truncated_frame", f"the JSON payload does not decode ({exc.reason})"
                ) from None
            raise

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
        if schema_type not in SCHEMA_TYPES.values():
            raise InvalidEvent("wrong_schema_type", f"schema {schema_id} is {schema_type}")
        return schema_type

    def _look_up(self, schema_id: int) -> None:
        schema = fetch_schema(self._client, schema_id)
        if schema is None:
            self._unknown.add(schema_id)
            return
        self._types[schema_id] = effective_schema_type(schema.schema_type, schema.schema_str)

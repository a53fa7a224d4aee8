"""Registry-framed record keys (``PROCESSING__KEY_FORMAT``) → the user they name.

Registry-run platforms frame their keys too: RADAR-base keys every record with an Avro
``ObservationKey`` {projectId, userId, sourceId}. With ``KEY_FORMAT`` = ``avro``,
``protobuf`` or ``json_schema`` the key is read with its writer's schema (fetched once
per id, like a value's) and the user is its field ``PROCESSING__KEY_USER_FIELD`` (a key
that is a plain string is the user itself). The event's ``user_id`` must be that user:
every output is keyed by it, and the per-key order and rate limit follow it.

Dead-letter reasons (the record keeps its original key bytes): ``invalid_key`` (no key,
not registry-framed, truncated, an unknown schema id, a schema of another type, or no
such string field) and ``key_user_mismatch`` (the key names another user than the event).

A Protobuf key is read with the descriptor its schema carries in the registry's
serialized form (base64 ``FileDescriptorProto``: what confluent-kafka's serializers
register); a registry that answers ``.proto`` text for it gives ``invalid_key``. Not
thread-safe (one per ``RegistryDecoder``).
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final

from consumer.errors import InvalidEvent
from consumer.schema_registry.framing import MIN_FRAME_BYTES, frame_of
from consumer.schema_registry.lookup import fetch_schema
from consumer.schema_registry.schema_type import effective_schema_type

if TYPE_CHECKING:
    from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

#: ``PROCESSING__KEY_FORMAT`` → the registry's schema type.
KEY_SCHEMA_TYPES: Final = {"avro": "AVRO", "protobuf": "PROTOBUF", "json_schema": "JSON"}
#: A key's payload (after the header) → the decoded key (a record/message/object or str).
KeyReader = Callable[[bytes, "list[int] | None"], Any]


class KeyDecoder:
    """The user named by a registry-framed key in ``key_format``."""

    def __init__(self, client: SchemaRegistryClient, key_format: str, user_field: str) -> None:
        self._client = client
        self._type = KEY_SCHEMA_TYPES[key_format]
        self._format = key_format
        self._field = user_field
        self._readers: dict[int, KeyReader] = {}
        self._unknown: set[int] = set()

    def prepare(self, keys: Iterable[bytes | None]) -> None:
        """Fetch every new schema id of the batch's keys. Blocks on the registry (one
        request per new id); raises SchemaRegistryUnavailable when it does not answer."""
        self._unknown.clear()
        for key in keys:
            if key and key[0] == 0 and len(key) >= MIN_FRAME_BYTES:
                schema_id = frame_of(key)[0]
                if schema_id not in self._readers and schema_id not in self._unknown:
                    self._look_up(schema_id)

    def user_of(self, key: bytes | None) -> str:
        """The user the key names. Raises InvalidEvent ``invalid_key``; does not block
        once ``prepare`` saw the batch."""
        try:
            return self._user_of(key)
        except InvalidEvent as exc:
            if exc.reason == "invalid_key":
                raise
            raise _invalid(f"the key: {exc}") from None

    def _user_of(self, key: bytes | None) -> str:
        if not key:
            raise _invalid(f"KEY_FORMAT={self._format} needs a key; the record has none")
        if key[0] != 0:
            raise _invalid(f"KEY_FORMAT={self._format} expects a registry-framed key")
        schema_id, _ = frame_of(key)
        if schema_id not in self._readers and schema_id not in self._unknown:
            self._look_up(schema_id)  # a key decoded without prepare (tools)
        if schema_id in self._unknown:
            raise _invalid(f"the registry has no schema {schema_id} (key)")
        payload, indexes = _payload(key, self._type)
        try:
            decoded = self._readers[schema_id](payload, indexes)
        except InvalidEvent:
            raise
        except Exception as exc:  # the decoders raise many types
            name = type(exc).__name__
            raise _invalid(f"the key does not decode with schema {schema_id} ({name})") from None
        return self._user(decoded, schema_id)

    def _user(self, decoded: Any, schema_id: int) -> str:
        if isinstance(decoded, str):
            return decoded
        user = decoded.get(self._field) if isinstance(decoded, dict) else None
        if user is None and not isinstance(decoded, dict):
            user = getattr(decoded, self._field, None)
        if not isinstance(user, str) or not user:
            raise _invalid(f"the key of schema {schema_id} has no string field KEY_USER_FIELD")
        return user

    def _look_up(self, schema_id: int) -> None:
        schema = fetch_schema(self._client, schema_id)
        if schema is None:
            self._unknown.add(schema_id)
            return
        self._readers[schema_id] = self._reader(schema, schema_id)

    def _reader(self, schema: Schema, schema_id: int) -> KeyReader:
        found = effective_schema_type(schema.schema_type, schema.schema_str)
        if found != self._type:
            return _refusing(f"the key's schema {schema_id} is {found}, not {self._type}")
        try:
            if found == "AVRO":
                return _avro_reader(schema.schema_str or "")
            if found == "PROTOBUF":
                return _protobuf_reader(schema.schema_str or "")
        except Exception:  # a schema that does not parse
            return _refusing(f"the key's schema {schema_id} cannot be read")
        return lambda payload, _: json.loads(payload)


def _payload(key: bytes, schema_type: str) -> tuple[bytes, list[int] | None]:
    """The key's payload and Protobuf message indexes, read past the header by
    confluent-kafka's ``SchemaId``. Raises InvalidEvent invalid_key."""
    from confluent_kafka.schema_registry.common.serde import SchemaId

    header = SchemaId(schema_type)
    try:
        stream = header.from_bytes(io.BytesIO(key))
    except Exception:  # EOFError, struct.error: the header ends early
        raise _invalid("the key's registry header is truncated") from None
    return stream.read(), header.message_indexes


def _invalid(message: str) -> InvalidEvent:
    return InvalidEvent("invalid_key", message)


def _refusing(message: str) -> KeyReader:
    def refuse(payload: bytes, indexes: list[int] | None) -> Any:
        raise _invalid(message)

    return refuse


def _avro_reader(text: str) -> KeyReader:
    from fastavro import parse_schema, schemaless_reader

    writer = parse_schema(json.loads(text))
    return lambda payload, _: schemaless_reader(io.BytesIO(payload), writer, None)


def _protobuf_reader(text: str) -> KeyReader:
    """Messages of the schema's serialized descriptor, picked by the message indexes."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    file_proto = descriptor_pb2.FileDescriptorProto.FromString(
        base64.b64decode(text, validate=True)
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_proto)
    file = pool.FindFileByName(file_proto.name)

    def read(payload: bytes, indexes: list[int] | None) -> Any:
        path = indexes or [0]
        descriptor = file.message_types_by_name[file_proto.message_type[path[0]].name]
        for index in path[1:]:
            descriptor = descriptor.nested_types[index]
        return message_factory.GetMessageClass(descriptor).FromString(payload)

    return read

"""A schema's type when the registry does not say it.

Confluent's registry answers ``schemaType`` for every Protobuf and JSON Schema schema and
leaves it out for Avro, so confluent-kafka's client reports a missing ``schemaType`` as
``AVRO``. Apicurio Registry's Confluent-compatible API leaves it out for every type: a
Protobuf or JSON Schema schema then arrives as "AVRO". A schema reported as AVRO is
therefore checked against its text: an Avro schema is JSON (a record, enum, array, map,
fixed, a union or a primitive type's name); a Protobuf schema (``.proto`` text or a
base64 ``FileDescriptorProto``) is not JSON at all; a JSON Schema is a JSON object whose
``type`` is not an Avro type, or that has ``$schema``, ``properties`` or ``$id``.
"""

from __future__ import annotations

import json
from typing import Final

AVRO_TYPES: Final = frozenset(
    {
        "record", "enum", "array", "map", "fixed", "null", "boolean", "int", "long",
        "float", "double", "bytes", "string",
    }
)  # fmt: skip
JSON_SCHEMA_KEYS: Final = ("$schema", "properties", "$id")


def effective_schema_type(reported: str | None, schema_text: str | None) -> str:
    """``AVRO``, ``PROTOBUF`` or ``JSON``: ``reported`` unless it is AVRO (or missing)
    while the text is not an Avro schema. Pure; never raises."""
    if reported not in (None, "", "AVRO"):
        return str(reported)
    if not schema_text:
        return "AVRO"
    try:
        parsed = json.loads(schema_text)
    except ValueError:
        return "PROTOBUF"  # not JSON: .proto text or a serialized descriptor
    if isinstance(parsed, dict) and _is_json_schema(parsed):
        return "JSON"
    if isinstance(parsed, bool):
        return "JSON"  # `true`/`false` are JSON Schemas, never Avro
    return "AVRO"


def _is_json_schema(schema: dict[str, object]) -> bool:
    if any(key in schema for key in JSON_SCHEMA_KEYS):
        return True
    kind = schema.get("type")
    if isinstance(kind, str):
        return kind not in AVRO_TYPES
    if isinstance(kind, list):  # JSON Schema's ["object", "null"]; Avro unions hold schemas
        return any(isinstance(k, str) and k not in AVRO_TYPES for k in kind)
    return kind is None

"""A schema's type when the registry leaves ``schemaType`` out (Apicurio does for all)."""

from __future__ import annotations

import base64
import json

import pytest

from consumer.schema_registry.encoding import registry_schema
from consumer.schema_registry.schema_type import effective_schema_type


@pytest.mark.parametrize(
    ("input_format", "expected"),
    [("avro", "AVRO"), ("protobuf", "PROTOBUF"), ("json_schema", "JSON")],
)
def test_the_feature_event_schemas_are_told_apart_by_their_text(
    input_format: str, expected: str
) -> None:
    text, _ = registry_schema(input_format)
    assert effective_schema_type("AVRO", text) == expected  # what the client reports
    assert effective_schema_type(None, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"string"', "AVRO"),
        ('["null", "string"]', "AVRO"),
        ('{"type": {"type": "array", "items": "int"}}', "AVRO"),
        ('{"type": "enum", "name": "E", "symbols": ["A"]}', "AVRO"),
        ('{"type": "object"}', "JSON"),
        ('{"type": ["object", "null"]}', "JSON"),
        ('{"properties": {"a": {"type": "string"}}}', "JSON"),
        ("{}", "JSON"),
        ("true", "JSON"),
        ('syntax = "proto3";\nmessage M { string a = 1; }', "PROTOBUF"),
        (base64.b64encode(b"\n\x07a.proto").decode(), "PROTOBUF"),
        ("", "AVRO"),
    ],
)
def test_a_schema_reported_as_avro_is_checked_against_its_text(text: str, expected: str) -> None:
    assert effective_schema_type("AVRO", text) == expected


def test_a_type_the_registry_states_is_trusted() -> None:
    avro = json.dumps({"type": "record", "name": "R", "fields": []})
    assert effective_schema_type("PROTOBUF", avro) == "PROTOBUF"
    assert effective_schema_type("JSON", "not json") == "JSON"

"""The local Schema Registry (``moodstream registry``, Apicurio) as the tests use it: it
answers the Confluent API, enforces BACKWARD compatibility at registration, and leaves
``schemaType`` out, which the service's decoder makes up for."""

from __future__ import annotations

import json
import os

import pytest
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry.error import SchemaRegistryError

from consumer.schema_registry.encoding import registry_schema, subject_for
from consumer.schema_registry.schema_type import effective_schema_type
from schemas import registry_formats as formats
from tests.integration.harness import moodstream
from tests.integration.registry_tools import (
    REGISTRY_MARKS,
    avro_v2,
    avro_v3_incompatible,
    fresh_topic,
    registry_client,
)

pytestmark = REGISTRY_MARKS


def test_the_registry_runs_and_reports_backward_compatibility(schema_registry_url: str) -> None:
    client = registry_client(schema_registry_url)
    assert client.get_compatibility() == "BACKWARD"
    if os.environ.get("SCHEMA_REGISTRY_URL"):
        return  # not ours: no status to read
    done = moodstream("registry", "status", "--json", env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert status["running"] is True and status["url"] == schema_registry_url


def test_an_incompatible_v3_is_refused_at_registration(schema_registry_url: str) -> None:
    client = registry_client(schema_registry_url)
    subject = subject_for(fresh_topic("evolution"), "topic")
    v1_id = client.register_schema(subject, Schema(json.dumps(formats.avro_schema()), "AVRO"))
    v2_id = client.register_schema(subject, Schema(json.dumps(avro_v2()), "AVRO"))
    assert v1_id != v2_id and sorted(client.get_versions(subject)) == [1, 2]
    v3 = Schema(json.dumps(avro_v3_incompatible()), "AVRO")
    assert client.test_compatibility(subject, v3) is False
    with pytest.raises(SchemaRegistryError) as refused:
        client.register_schema(subject, v3)
    assert refused.value.http_status_code == 409
    assert sorted(client.get_versions(subject)) == [1, 2]  # nothing was added


@pytest.mark.parametrize("input_format", ["avro", "protobuf", "json_schema"])
def test_every_schema_type_is_told_apart_even_without_schema_type(
    schema_registry_url: str, input_format: str
) -> None:
    client = registry_client(schema_registry_url)
    text, stated = registry_schema(input_format)
    subject = subject_for(fresh_topic(f"type-{input_format}"), "topic")
    schema_id = client.register_schema(subject, Schema(text, stated))
    fetched = client.get_schema(schema_id)
    # Apicurio answers without schemaType: the client then says AVRO for every type.
    assert fetched.schema_type in ("AVRO", stated)
    assert effective_schema_type(fetched.schema_type, fetched.schema_str) == stated

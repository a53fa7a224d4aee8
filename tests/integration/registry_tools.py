"""Helpers of the tests that run against the real Schema Registry (``schema_registry_url``):
schema versions of the feature event, clients on a fresh subject, records to produce."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

from consumer.schema_registry.encoding import RegistryEncoder
from schemas import registry_formats as formats
from tests.fakes import event_dict

#: The marks of a module using the registry: the first test of a session on a fresh
#: machine also waits for the registry's one-time build (about 1.5 min; more when busy).
REGISTRY_MARKS = [pytest.mark.integration, pytest.mark.timeout(900)]


def registry_client(url: str) -> SchemaRegistryClient:
    """A fresh client (its own caches) of the registry at ``url``."""
    return SchemaRegistryClient({"url": url})


def fresh_topic(prefix: str = "registry") -> str:
    """A topic name no other test registers a subject for."""
    return f"moodstream.{prefix}.{uuid.uuid4().hex[:12]}"


def avro_v2() -> dict[str, Any]:
    """v2 of the Avro event: drops ``activity`` and adds an optional ``device`` (BACKWARD
    compatible with v1; the service's v1 reader schema reads both)."""
    schema = formats.avro_schema()
    schema["fields"] = [f for f in schema["fields"] if f["name"] != "activity"]
    schema["fields"].append({"name": "device", "type": ["null", "string"], "default": None})
    return schema


def avro_v3_incompatible() -> dict[str, Any]:
    """v3: a new required field without default (a v3 reader cannot read v1/v2 data)."""
    schema = avro_v2()
    schema["fields"].append({"name": "site", "type": "string"})
    return schema


def avro_without_user_id() -> dict[str, Any]:
    """A writer schema the service's reader cannot resolve (``user_id`` has no default)."""
    schema = formats.avro_schema()
    schema["fields"] = [f for f in schema["fields"] if f["name"] != "user_id"]
    return schema


def encoder(
    url: str, input_format: str, topic: str, schema: dict[str, Any] | None = None
) -> RegistryEncoder:
    text = json.dumps(schema) if schema is not None else None
    return RegistryEncoder(registry_client(url), input_format, topic, schema_text=text)


def keyed(value: bytes, seed: int) -> tuple[bytes, bytes]:
    return event_dict(seed=seed)["user_id"].encode(), value

"""``moodstream schemas register``: register the feature event's schema with the Schema
Registry of ``MOODSTREAM_SCHEMA_REGISTRY__URL``, under the usual subject name."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from consumer.errors import ConfigError, SchemaRegistryUnavailable
from consumer.schema_registry.encoding import Strategy, registry_schema, subject_for
from consumer.settings import Settings

if TYPE_CHECKING:
    from confluent_kafka.schema_registry import SchemaRegistryClient

REGISTRY_FORMATS = ("avro", "protobuf", "json_schema")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("schemas", help="the feature event's Schema Registry schemas")
    actions = parser.add_subparsers(dest="schemas_action", required=True, metavar="ACTION")
    reg = actions.add_parser("register", help="register the feature event's schema")
    reg.add_argument(
        "--format",
        choices=REGISTRY_FORMATS,
        default=None,
        help="schema format (default: PROCESSING__INPUT_FORMAT)",
    )
    reg.add_argument(
        "--strategy",
        choices=("topic", "record"),
        default="topic",
        help="subject name: topic = <TOPICS__FEATURES>-value (default), record = "
        "moodstream.v1.FeatureEvent",
    )
    reg.add_argument("--json", action="store_true", help="print subject, id and version as JSON")
    reg.set_defaults(handler=register_command)


def register_schema(
    client: SchemaRegistryClient, input_format: str, topic: str, strategy: Strategy
) -> dict[str, Any]:
    """Register the schema (idempotent: the same text gets the same id). Blocks on the
    registry; raises SchemaRegistryError when it refuses (e.g. incompatible with the
    subject's latest version under its compatibility setting)."""
    from confluent_kafka.schema_registry import Schema

    text, schema_type = registry_schema(input_format)
    subject = subject_for(topic, strategy)
    schema_id = client.register_schema(subject, Schema(text, schema_type))
    version = client.lookup_schema(subject, Schema(text, schema_type)).version
    return {"subject": subject, "id": schema_id, "version": version, "type": schema_type}


def register_command(args: argparse.Namespace, settings: Settings) -> int:
    """Blocks up to SCHEMA_REGISTRY__TIMEOUT_S per request. Raises ConfigError without a
    registry URL or a format, SchemaRegistryUnavailable when the registry refuses."""
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    from consumer.schema_registry.client import create_client

    fmt = args.format or settings.processing.input_format
    if fmt not in REGISTRY_FORMATS:
        raise ConfigError("say which schema to register: --format avro|protobuf|json_schema")
    if not settings.schema_registry.url:
        raise ConfigError("set MOODSTREAM_SCHEMA_REGISTRY__URL to the registry")
    client = create_client(settings.schema_registry)
    try:
        result = register_schema(client, fmt, settings.topics.features, args.strategy)
    except SchemaRegistryError as exc:
        raise SchemaRegistryUnavailable(
            f"the registry refused the schema (HTTP {exc.http_status_code}): {exc.error_message}"
        ) from None
    except Exception as exc:  # transport errors of the HTTP client
        raise SchemaRegistryUnavailable(
            f"the schema registry did not answer ({type(exc).__name__})"
        ) from None
    if args.json:
        print(json.dumps(result), flush=True)
    else:
        print(
            f"{result['subject']}: {result['type']} schema id {result['id']}, "
            f"version {result['version']}",
            flush=True,
        )
    return 0

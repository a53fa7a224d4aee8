"""One schema by id from the registry, with the outcomes a decoder tells apart: the
schema, none (the registry does not know the id: a dead letter), or a registry that does
not answer (``SchemaRegistryUnavailable``: the batch waits, nothing is dead-lettered).
The client caches each schema by id, so a known id costs no request."""

from __future__ import annotations

from typing import TYPE_CHECKING

from consumer.errors import SchemaRegistryUnavailable

if TYPE_CHECKING:
    from confluent_kafka.schema_registry import Schema, SchemaRegistryClient


def fetch_schema(client: SchemaRegistryClient, schema_id: int) -> Schema | None:
    """The schema of ``schema_id``; None when the registry answers 404. Blocks on the
    registry (up to its timeout) for an id not cached; raises SchemaRegistryUnavailable
    on any other answer or none."""
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    try:
        return client.get_schema(schema_id)
    except SchemaRegistryError as exc:
        if exc.http_status_code == 404:
            return None
        raise SchemaRegistryUnavailable(
            f"the schema registry answered HTTP {exc.http_status_code} for schema "
            f"{schema_id}: {exc.error_message}"
        ) from None
    except Exception as exc:  # httpx transport errors: refused, reset, timed out
        raise SchemaRegistryUnavailable(
            f"the schema registry did not answer ({type(exc).__name__})"
        ) from None

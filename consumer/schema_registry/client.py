"""confluent-kafka's ``SchemaRegistryClient`` configured from ``SchemaRegistrySettings``.

The client caches every schema it fetched by id (and ids by schema), so a schema costs
one HTTP request per process. Secrets reach only the client's configuration: they are
never logged, printed or put in an error message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from consumer.settings import SchemaRegistrySettings

if TYPE_CHECKING:
    from confluent_kafka.schema_registry import SchemaRegistryClient


def client_config(settings: SchemaRegistrySettings) -> dict[str, Any]:
    """The ``SchemaRegistryClient`` configuration (holds the secret: never print it). Pure.

    ``max.retries`` is 0: an unreachable registry is waited out by the caller, with its
    own backoff, never inside one call on the poll loop.
    """
    conf: dict[str, Any] = {
        "url": settings.url,
        "timeout": settings.timeout_s,
        "max.retries": 0,
    }
    if settings.basic_auth_user_info is not None:
        conf["basic.auth.user.info"] = settings.basic_auth_user_info.get_secret_value()
    optional = {
        "ssl.ca.location": settings.ssl_ca_location,
        "ssl.certificate.location": settings.ssl_certificate_location,
        "ssl.key.location": settings.ssl_key_location,
    }
    conf.update({key: value for key, value in optional.items() if value is not None})
    return conf


def create_client(settings: SchemaRegistrySettings) -> SchemaRegistryClient:
    """A new client (no request is made yet). Raises ValueError on a bad configuration."""
    from confluent_kafka.schema_registry import SchemaRegistryClient

    return SchemaRegistryClient(client_config(settings))

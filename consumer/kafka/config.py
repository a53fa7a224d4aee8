"""The librdkafka base configuration shared by every client.

``client_config`` returns a ``ClientConfig``: a plain dict for confluent-kafka whose
``repr``/``str`` mask secrets, so printing or logging it never shows a password. Copies
made with ``{**config}`` or ``dict(config)`` are ordinary dicts: mask them with
``redact`` before showing them anywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from consumer.errors import ConfigError
from consumer.settings import KafkaSettings, SecurityProtocol

ConfigValue = str | int | float | bool

MASK = "***"
_SECRET_HINTS = ("password", "secret", "token", "sasl.jaas.config", "sasl.oauthbearer.config")
_TLS_PROTOCOLS = frozenset({SecurityProtocol.SSL, SecurityProtocol.SASL_SSL})


def is_secret_key(key: str) -> bool:
    """Whether a librdkafka property holds a secret. Pure."""
    lowered = key.lower()
    return any(hint in lowered for hint in _SECRET_HINTS)


def redact(config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``config`` with every secret value replaced by ``***``. Pure."""
    return {key: (MASK if is_secret_key(key) else value) for key, value in config.items()}


class ClientConfig(dict[str, ConfigValue]):
    """A librdkafka config dict whose textual forms hide secrets."""

    def __repr__(self) -> str:
        return f"ClientConfig({redact(self)!r})"

    __str__ = __repr__


ClientT = TypeVar("ClientT")


def new_client(factory: Callable[[dict[str, Any]], ClientT], config: Mapping[str, Any]) -> ClientT:
    """``factory(dict(config))`` (a confluent-kafka client); a configuration librdkafka
    refuses (unknown property, bad value, unreadable TLS file) becomes ConfigError (exit 2)
    naming the property instead of a KafkaException traceback. Does not block."""
    from confluent_kafka import KafkaError, KafkaException

    try:
        return factory(dict(config))
    except KafkaException as exc:
        err = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
        if err is None or err.code() != KafkaError._INVALID_ARG:
            raise
        raise ConfigError(
            f"the Kafka client refused the settings: {err.str()} (check "
            "MOODSTREAM_KAFKA__EXTRA and the MOODSTREAM_KAFKA__* settings)"
        ) from None


def client_config(kafka: KafkaSettings, bootstrap: str) -> ClientConfig:
    """Build the connection part of a librdkafka config (no consumer/producer knobs), with
    the tuned timeouts of ``kafka.client``. Pure.

    ``kafka.extra`` is applied last, so it can override anything here.
    """
    conf = ClientConfig(
        {
            "bootstrap.servers": bootstrap,
            "client.id": kafka.client_id,
            "security.protocol": kafka.security_protocol.value,
            **kafka.client.librdkafka(),
        }
    )
    if kafka.sasl_mechanism is not None:
        conf["sasl.mechanism"] = kafka.sasl_mechanism
    if kafka.sasl_username is not None:
        conf["sasl.username"] = kafka.sasl_username
    if kafka.sasl_password is not None:
        conf["sasl.password"] = kafka.sasl_password.get_secret_value()
    conf.update(_ssl_options(kafka))
    conf.update(kafka.extra)
    return conf


def _ssl_options(kafka: KafkaSettings) -> dict[str, ConfigValue]:
    options: dict[str, ConfigValue] = {}
    if kafka.ssl_ca_location is not None:
        options["ssl.ca.location"] = kafka.ssl_ca_location
    if kafka.ssl_certificate_location is not None:
        options["ssl.certificate.location"] = kafka.ssl_certificate_location
    if kafka.ssl_key_location is not None:
        options["ssl.key.location"] = kafka.ssl_key_location
    if kafka.ssl_key_password is not None:
        options["ssl.key.password"] = kafka.ssl_key_password.get_secret_value()
    if kafka.security_protocol in _TLS_PROTOCOLS:
        options["ssl.endpoint.identification.algorithm"] = (
            kafka.ssl_endpoint_identification_algorithm
        )
    return options

"""The checks ``moodstream run`` makes before it touches Kafka, shared with
``moodstream config --check`` so that both refuse the same settings with the same message.

In ``run``'s order: the settings themselves (``cli.load_settings``), the user hash key,
the cluster address (``bootstrap_for``: the local broker when none is configured), the
models (``load_model_set``: manifest, checksums, formats, clinical validity), the metrics
port, then the Kafka clients' settings as librdkafka reads them (``KAFKA__EXTRA`` and the
``KAFKA__*`` options), which ``run``'s workers meet when they create their clients.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from consumer.errors import ConfigError
from consumer.settings import ObservabilitySettings, Settings

if TYPE_CHECKING:
    from consumer.models.registry import ModelSet

# Values that mean "not filled in" (deploy/k8s/secret.example.yaml ships REPLACE-ME): a key
# anyone can read pseudonymises nothing, so the service refuses them. The built-in
# development default is only warned about (the demo runs with it).
PLACEHOLDER_HASH_KEYS = frozenset({"replace-me", "replaceme", "changeme", "change-me", ""})


def refuse_placeholder_hash_key(settings: Settings) -> None:
    """Raises ConfigError when USER_HASH_KEY is a placeholder. Pure."""
    key = settings.observability.user_hash_key.get_secret_value().strip().lower()
    if key in PLACEHOLDER_HASH_KEYS:
        raise ConfigError(
            "MOODSTREAM_OBSERVABILITY__USER_HASH_KEY is a placeholder: set a secret of your "
            "own (for example `openssl rand -hex 32`)"
        )


def uses_default_hash_key(settings: Settings) -> bool:
    """Whether USER_HASH_KEY is the built-in development key (warned about). Pure."""
    return settings.observability.user_hash_key == ObservabilitySettings().user_hash_key


def port_taken(settings: Settings, exc: OSError) -> ConfigError:
    """The error for a metrics address that cannot be bound (``exc``). Pure."""
    obs = settings.observability
    return ConfigError(
        f"cannot serve metrics on {obs.host}:{obs.port} ({exc.strerror}): set "
        "MOODSTREAM_OBSERVABILITY__PORT to a free port"
    )


def check_metrics_port(settings: Settings) -> None:
    """Bind the metrics address as ``run`` does, and let it go. Does not block; raises
    ConfigError when it is taken or cannot be bound."""
    from consumer.observability.server import _listen

    obs = settings.observability
    try:
        _listen(obs.host, obs.port).close()
    except OSError as exc:
        raise port_taken(settings, exc) from None


def check_kafka_clients(settings: Settings, bootstrap: str) -> None:
    """Create the worker's consumer and producer from their full configs (``KAFKA__EXTRA``
    last) without a bootstrap address, so librdkafka checks every property and TLS file
    and connects nowhere, then close them. Does not block; raises ConfigError naming the
    property librdkafka refuses."""
    from confluent_kafka import Consumer, Producer

    from consumer.kafka.clients import consumer_config, producer_config
    from consumer.kafka.config import new_client

    quiet = {"log_level": 0}
    consumer_conf = {**consumer_config(settings, bootstrap), **quiet}
    producer_conf = {**producer_config(settings, bootstrap, 0, "check"), **quiet}
    for conf in (consumer_conf, producer_conf):
        conf.pop("bootstrap.servers", None)
    new_client(Consumer, consumer_conf).close()
    new_client(Producer, producer_conf).flush(0)


def run_checks(settings: Settings, done: Callable[[str], None]) -> ModelSet:
    """Every check ``run`` makes before Kafka, in its order; ``done(what)`` after each.
    Blocks while the models load (seconds). Raises what ``run`` raises: ConfigError,
    BrokerError, ModelLoadError. Returns the loaded models."""
    from consumer.commands import bootstrap_for
    from consumer.models.registry import load_model_set
    from consumer.models.threads import apply_thread_caps

    done("settings")
    refuse_placeholder_hash_key(settings)
    done(
        "user hash key" + (" (the development default)" if uses_default_hash_key(settings) else "")
    )
    bootstrap = bootstrap_for(settings)
    done(f"cluster address {bootstrap}")
    apply_thread_caps(settings.models)
    models = load_model_set(settings.models)
    names = ", ".join(info.name for info in models.infos)
    done(f"models in {settings.models.dir}: {names} (model set {models.digest[:12]})")
    check_metrics_port(settings)
    obs = settings.observability
    done(f"metrics address {obs.host}:{obs.port}")
    check_kafka_clients(settings, bootstrap)
    done("Kafka client settings (KAFKA__EXTRA and KAFKA__*)")
    return models

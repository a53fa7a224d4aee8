"""Shared test fixtures: a real Kafka broker, per-test topics and groups, ``settings_for``.

Broker, in this order (session-scoped ``kafka_bootstrap``):
1. ``KAFKA_BOOTSTRAP_SERVERS`` (or ``MOODSTREAM_KAFKA__BOOTSTRAP_SERVERS``) when set;
2. the project's local broker (``moodstream broker``): used if it runs, else started and
   stopped again at the end of the session (unless another test session still uses it);
3. a testcontainers ``KafkaContainer`` when a Docker engine answers.
With none of them the Kafka tests are skipped, or fail the run under ``CI=true``.
The Schema Registry (``schema_registry_url``) likewise: the project's local one.

Tests under ``tests/integration`` are marked ``integration``, under ``tests/e2e`` ``e2e``.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from consumer.errors import BrokerError, KafkaSetupError
from consumer.kafka.admin import create_topics, delete_topics, wait_for_topics
from consumer.localkafka.broker import LocalBroker
from consumer.localkafka.registry import LocalRegistry
from consumer.settings import KafkaSettings, Settings, TopicSettings

TESTS_DIR = Path(__file__).resolve().parent
DIR_MARKERS = {"integration": "integration", "e2e": "e2e", "cluster": "cluster"}
TOPIC_READY_TIMEOUT_S = 30.0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        try:
            top = Path(item.path).resolve().relative_to(TESTS_DIR).parts[0]
        except (ValueError, IndexError):
            continue
        if top in DIR_MARKERS:
            item.add_marker(getattr(pytest.mark, DIR_MARKERS[top]))


# -- the broker ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """The bootstrap address (PLAINTEXT) of a real broker for this test session."""
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "MOODSTREAM_KAFKA__BOOTSTRAP_SERVERS"):
        configured = os.environ.get(name, "").strip()
        if configured:
            yield configured
            return
    reasons: list[str] = []
    with contextlib.ExitStack() as stack:
        bootstrap = _local_broker(stack, reasons) or _container(stack, reasons)
        if bootstrap is None:
            _no_broker(reasons)
        yield str(bootstrap)


def _local_broker(stack: contextlib.ExitStack, reasons: list[str]) -> str | None:
    """Use (or start) the project's broker; the ExitStack releases it. Blocks <= ~2 min."""
    try:
        # With the SASL listener from the start, so the security tests never restart it.
        info = stack.enter_context(LocalBroker(Settings().broker).shared(sasl=True))
    except BrokerError as exc:  # ToolMissingError included
        reasons.append(f"local broker: {exc}")
        return None
    return info.bootstrap_servers


def _container(stack: contextlib.ExitStack, reasons: list[str]) -> str | None:
    """Start a testcontainers KafkaContainer if a Docker engine answers."""
    try:
        import docker
        from testcontainers.kafka import KafkaContainer
    except ImportError as exc:
        reasons.append(f"testcontainers: {exc}")
        return None
    try:
        docker.from_env(timeout=5).ping()
    except Exception as exc:  # any failure means no usable engine
        reasons.append(f"docker: no engine answers ({type(exc).__name__})")
        return None
    try:
        container = stack.enter_context(KafkaContainer())
    except Exception as exc:
        reasons.append(f"testcontainers: {type(exc).__name__}: {exc}")
        return None
    return str(container.get_bootstrap_server())


def _no_broker(reasons: list[str]) -> None:
    message = (
        "no Kafka broker for the integration tests (" + "; ".join(reasons) + "). Set "
        "KAFKA_BOOTSTRAP_SERVERS, install java 17+ and maven, or start a Docker engine."
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


# -- the schema registry ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def schema_registry_url() -> Iterator[str]:
    """The Confluent-API URL of a real Schema Registry for this test session:
    ``SCHEMA_REGISTRY_URL`` when set, else the project's local registry (``moodstream
    registry``: used if it runs, else built once, started, and stopped at the end unless
    another session still uses it). Without one the tests are skipped; under ``CI=true``
    they fail."""
    configured = os.environ.get("SCHEMA_REGISTRY_URL", "").strip()
    if configured:
        yield configured
        return
    settings = Settings()
    with contextlib.ExitStack() as stack:
        try:
            registry = LocalRegistry(settings.broker, settings.local_registry)
            url = stack.enter_context(registry.shared())
        except BrokerError as exc:  # ToolMissingError included
            message = f"no Schema Registry for the tests (local registry: {exc})"
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(message, pytrace=False)
            pytest.skip(message)
        yield url


# -- per-test names -------------------------------------------------------------------------


@pytest.fixture
def unique_topics(kafka_bootstrap: str) -> Iterator[TopicSettings]:
    """Five fresh topics (6 partitions each) created on the broker; deleted afterwards."""
    suffix = uuid.uuid4().hex[:12]
    defaults = TopicSettings()
    topics = TopicSettings(
        features=f"{defaults.features}.{suffix}",
        predictions=f"{defaults.predictions}.{suffix}",
        alerts=f"{defaults.alerts}.{suffix}",
        dlq=f"{defaults.dlq}.{suffix}",
        overflow=f"{defaults.overflow}.{suffix}",
        partitions=6,
        replication_factor=1,
    )
    admin_config = {"bootstrap.servers": kafka_bootstrap}
    create_topics(admin_config, topics.all(), topics.partitions, replication=1)
    wait_for_topics(admin_config, topics.all(), TOPIC_READY_TIMEOUT_S)
    yield topics
    with contextlib.suppress(KafkaSetupError):
        delete_topics(admin_config, topics.all())


@pytest.fixture
def unique_group() -> str:
    """A consumer group id no other test uses."""
    return f"moodstream-test-{uuid.uuid4().hex[:12]}"


# -- settings -----------------------------------------------------------------------------


class _IsolatedSettings(Settings):
    """``Settings`` built from its arguments only: the environment is not read."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def settings_for(bootstrap: str, topics: TopicSettings, group: str, **overrides: Any) -> Settings:
    """A validated ``Settings`` for a test, independent of the environment.

    ``overrides`` are top-level sections (``processing=ProcessingSettings(...)`` or a
    dict); a ``kafka`` override keeps its options but gets ``bootstrap``/``group``.
    """
    kafka = overrides.pop("kafka", KafkaSettings())
    fields = kafka.model_dump() if isinstance(kafka, KafkaSettings) else dict(kafka)
    fields |= {"bootstrap_servers": bootstrap, "group_id": group}
    return _IsolatedSettings(kafka=KafkaSettings(**fields), topics=topics, **overrides)

"""Fixtures for the integration tests (the broker, topic and group fixtures are in
tests/conftest.py)."""

from __future__ import annotations

import pytest

from consumer.settings import TopicSettings
from tests.integration.harness import Stream


@pytest.fixture
def stream(kafka_bootstrap: str, unique_topics: TopicSettings, unique_group: str) -> Stream:
    """This test's broker, fresh topics and consumer group in one object."""
    return Stream(kafka_bootstrap, unique_topics, unique_group)

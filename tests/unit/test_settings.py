"""The settings object and how it travels to child processes."""

from __future__ import annotations

import pytest

from consumer.settings import Settings, TopicSettings


def test_topic_settings_round_trip_through_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    topics = TopicSettings(features="f", predictions="p", alerts="a", dlq="d", overflow="o")
    for name, value in topics.as_env().items():
        monkeypatch.setenv(name, value)
    assert Settings().topics.all() == ("f", "p", "a", "d", "o")

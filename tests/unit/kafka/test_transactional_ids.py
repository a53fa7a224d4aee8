"""Transactional ids with and without a stable instance id (KAFKA__INSTANCE_ID), and when
a starting service has predecessors to fence (RELIABILITY.md, "A lost pod")."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from consumer.kafka.clients import producer_config, transactional_id
from consumer.kafka.fencing import fence_predecessors
from consumer.settings import Guarantee, KafkaSettings, ProcessingSettings, Settings


def _settings(instance_id: str = "", guarantee: Guarantee = Guarantee.EXACTLY_ONCE) -> Settings:
    return Settings(
        kafka=KafkaSettings(group_id="g", instance_id=instance_id),
        processing=ProcessingSettings(guarantee=guarantee),
    )


def test_a_stable_instance_id_gives_the_same_ids_after_a_restart() -> None:
    stable = _settings("moodstream-7f9c-x2")
    # each start of `moodstream run` passes its own random instance: ignored when stable
    assert transactional_id(stable, 0, "a1") == transactional_id(stable, 0, "b2")
    assert transactional_id(stable, 1, "a1") == "g-moodstream-7f9c-x2-1"
    assert producer_config(stable, "b:9092", 1, "c3")["transactional.id"] == (
        "g-moodstream-7f9c-x2-1"
    )


def test_without_one_each_start_has_its_own_ids() -> None:
    settings = _settings()
    assert transactional_id(settings, 0, "a1") != transactional_id(settings, 0, "b2")
    assert transactional_id(settings, 0, "a1").startswith("g-")
    assert transactional_id(settings, 0, "a1").endswith("-a1-0")


@pytest.mark.parametrize("bad", ["pod 0", "pod/0", "x" * 254])  # a pod name: <= 253
def test_an_instance_id_kafka_or_a_log_would_garble_is_refused(bad: str) -> None:
    with pytest.raises(ValidationError, match="instance_id"):
        KafkaSettings(instance_id=bad)


def test_nothing_to_fence_without_a_stable_id_or_under_at_least_once() -> None:
    # returns before any client is made: no broker is needed (or reached) here
    assert fence_predecessors(_settings(), "127.0.0.1:1", 2) == []
    at_least_once = _settings("pod-0", Guarantee.AT_LEAST_ONCE)
    assert fence_predecessors(at_least_once, "127.0.0.1:1", 2) == []

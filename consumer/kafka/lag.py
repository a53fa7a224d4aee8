"""Consumer-group lag: per partition, committed offset, end offset (high watermark), lag.

:func:`describe_lag` for ``moodstream lag`` asks the cluster directly, so it works while
no worker runs (it never joins the group). A worker's ``consumer_lag`` gauge is set by
``consumer.observability.lag_gauge`` from librdkafka's caches with :func:`compute_lag`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from consumer.errors import KafkaSetupError

if TYPE_CHECKING:
    from consumer.settings import Settings

TopicPartitionKey = tuple[str, int]


def compute_lag(committed: int | None, low: int, high: int) -> int:
    """Messages the group still has to read from one partition. Pure.

    ``committed`` is the group's next offset to read (None or negative: never
    committed, the group starts at ``low``, the earliest retained offset). A committed
    offset below ``low`` (retention deleted those messages) counts from ``low``.
    Never negative; unknown watermarks (negative) give 0.
    """
    if high < 0:
        return 0
    start = max(low, 0) if committed is None or committed < 0 else max(committed, low)
    return max(0, high - start)


@dataclass(frozen=True)
class Member:
    """The group member a partition is assigned to (like kafka-consumer-groups)."""

    consumer_id: str
    host: str
    client_id: str

    def as_dict(self) -> dict[str, str]:
        return {"consumer_id": self.consumer_id, "host": self.host, "client_id": self.client_id}


@dataclass(frozen=True)
class PartitionLag:
    """``lag`` of a never-committed partition (``committed`` None) counts from its
    earliest retained offset: where the group will start (auto.offset.reset=earliest)."""

    topic: str
    partition: int
    committed: int | None
    end: int
    lag: int
    member: Member | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "committed": self.committed,
            "end": self.end,
            "lag": self.lag,
            "consumer": None if self.member is None else self.member.as_dict(),
        }


@dataclass(frozen=True)
class LagReport:
    group: str
    partitions: tuple[PartitionLag, ...]

    @property
    def total_lag(self) -> int:
        """Every partition's lag, never-committed ones included (see ``PartitionLag``)."""
        return sum(p.lag for p in self.partitions)

    @property
    def never_committed_lag(self) -> int:
        """The part of ``total_lag`` on partitions the group never committed."""
        return sum(p.lag for p in self.partitions if p.committed is None)

    def as_dict(self) -> dict[str, Any]:
        """The ``moodstream lag --json`` document."""
        return {
            "group": self.group,
            "partitions": [p.as_dict() for p in self.partitions],
            "total_lag": self.total_lag,
            "never_committed_lag": self.never_committed_lag,
        }


def describe_lag(
    settings: Settings, bootstrap: str, *, timeout_s: float | None = None
) -> LagReport:
    """Lag of ``settings.kafka.group_id`` on ``settings.topics.features``.

    Blocks for at most about ``timeout_s`` (default ``KAFKA__CONNECT_TIMEOUT_S``).
    Raises KafkaSetupError when the cluster is unreachable or the topic does not exist.
    """
    from consumer.kafka.config import client_config

    config = client_config(settings.kafka, bootstrap)
    bound_s = settings.kafka.connect_timeout_s if timeout_s is None else timeout_s
    return describe_group_lag(config, settings.kafka.group_id, settings.topics.features, bound_s)


def describe_group_lag(
    config: Mapping[str, Any], group: str, topic: str, timeout_s: float
) -> LagReport:
    """Lag of ``group`` on every partition of ``topic``, from a throwaway consumer that
    reads the group's committed offsets and the watermarks without joining the group.

    Blocks for at most about ``timeout_s``. Raises KafkaSetupError (unreachable
    cluster, missing topic, authorization).
    """
    from consumer.kafka.admin import wait_for_cluster

    deadline = time.monotonic() + timeout_s
    metadata = wait_for_cluster(config, timeout_s)
    topic_md = metadata.topics.get(topic)
    if topic_md is None or topic_md.error is not None:
        raise KafkaSetupError(
            f"topic {topic} does not exist: run `moodstream topics create` "
            "or set MOODSTREAM_TOPICS__FEATURES"
        )
    tps = [TopicPartition(topic, p) for p in sorted(topic_md.partitions)]
    members = group_members(config, group, topic, _left(deadline))
    consumer = _throwaway_consumer(config, group)
    try:
        committed = consumer.committed(tps, timeout=_left(deadline))
        rows = []
        for tp in committed:
            if tp.error is not None:
                raise KafkaSetupError(f"cannot read offsets of group {group}: {tp.error}")
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, tp.partition), timeout=_left(deadline), cached=False
            )
            offset = tp.offset if tp.offset >= 0 else None
            lag = compute_lag(offset, low, high)
            rows.append(
                PartitionLag(topic, tp.partition, offset, high, lag, members.get(tp.partition))
            )
    except KafkaException as exc:
        raise KafkaSetupError(f"cannot read the lag of group {group} on {topic}: {exc}") from None
    finally:
        consumer.close()
    return LagReport(group, tuple(rows))


def group_members(
    config: Mapping[str, Any], group: str, topic: str, timeout_s: float
) -> dict[int, Member]:
    """Partition of ``topic`` -> the member of ``group`` it is assigned to, from the
    group coordinator. Blocks up to ``timeout_s``; empty when the group has no members
    or cannot be described (the lag itself does not depend on it). Raises nothing."""
    from confluent_kafka.admin import AdminClient

    from consumer.kafka.config import new_client

    quiet = logging.Logger("moodstream.lag.members")
    quiet.addHandler(logging.NullHandler())
    admin = new_client(lambda conf: AdminClient(conf, logger=quiet), config)
    try:
        future = admin.describe_consumer_groups([group], request_timeout=timeout_s)[group]
        description = future.result(timeout=timeout_s + 1)
    except (KafkaException, TimeoutError, ValueError):
        return {}
    found: dict[int, Member] = {}
    for m in description.members:
        assigned = m.assignment.topic_partitions if m.assignment is not None else []
        for tp in assigned:
            if tp.topic == topic:
                found[tp.partition] = Member(m.member_id, m.host, m.client_id)
    return found


def _left(deadline: float) -> float:
    return max(0.1, deadline - time.monotonic())


def _throwaway_consumer(config: Mapping[str, Any], group: str) -> Consumer:
    quiet = logging.Logger("moodstream.lag.librdkafka")  # private: not in the global tree
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    from consumer.kafka.config import new_client

    conf = {
        **config,
        "group.id": group,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "logger": quiet,
    }
    return new_client(Consumer, conf)

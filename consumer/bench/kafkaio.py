"""Kafka plumbing for the benchmark: fresh topics, a timed producer, a prediction reader.

Latency is measured on the broker's clock and the producer's: the input record's
CreateTime (set by librdkafka when the bench producer calls ``produce``) to the
prediction record's LogAppendTime (set by the broker when it appends the prediction,
i.e. when it is acknowledged). The predictions topic is created with
``message.timestamp.type=LogAppendTime`` for that. Both clocks are this machine's.
All calls block (bounded); errors from the cluster raise KafkaSetupError.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    ConsumerGroupState,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from consumer.errors import KafkaSetupError
from consumer.kafka.admin import delete_topics, wait_for_topics
from consumer.kafka.clients import produce_waiting
from consumer.settings import TopicSettings

Key = tuple[int, int]  # (partition, offset)
Record = tuple[bytes, bytes]  # (key, value)
PARTITIONS = 6
TOPIC_TIMEOUT_S = 30.0


class TopicRegistry:
    """Creates uniquely named topics for one bench run and deletes them all at the end."""

    def __init__(self, admin_config: dict[str, Any], run_id: str | None = None) -> None:
        self.admin_config = admin_config
        self.run_id = run_id or f"{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:6]}"
        self.created: list[str] = []

    def topic_set(self, label: str) -> TopicSettings:
        """Five service topics ``bench.<run>.<label>.*``; predictions stamped by the broker."""
        base = f"bench.{self.run_id}.{label}"
        topics = TopicSettings(
            features=f"{base}.features",
            predictions=f"{base}.predictions",
            alerts=f"{base}.alerts",
            dlq=f"{base}.dlq",
            overflow=f"{base}.overflow",
            partitions=PARTITIONS,
            replication_factor=1,
        )
        self.create(topics.all(), log_append=(topics.predictions,))
        return topics

    def create(self, names: Sequence[str], log_append: Sequence[str] = ()) -> None:
        """Create ``names`` (6 partitions each) and wait until they have leaders."""
        admin = AdminClient(dict(self.admin_config), logger=_quiet_logger())
        new = [
            NewTopic(
                name,
                num_partitions=PARTITIONS,
                replication_factor=1,
                config={"message.timestamp.type": "LogAppendTime"} if name in log_append else {},
            )
            for name in names
        ]
        futures = admin.create_topics(new, operation_timeout=TOPIC_TIMEOUT_S)
        for name, future in futures.items():
            try:
                future.result(timeout=TOPIC_TIMEOUT_S + 5)
            except Exception as exc:
                raise KafkaSetupError(f"cannot create bench topic {name}: {exc}") from None
            self.created.append(name)
        wait_for_topics(self.admin_config, names, TOPIC_TIMEOUT_S)

    def delete_all(self) -> None:
        """Delete every topic this registry created. Raises nothing."""
        if self.created:
            with contextlib.suppress(KafkaSetupError):
                delete_topics(self.admin_config, self.created)
            self.created = []


@dataclass
class DeliveryLog:
    """(partition, offset) → CreateTime in ms of each acknowledged record."""

    create_ms: dict[Key, int] = field(default_factory=dict)
    failed: int = 0

    def callback(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.failed += 1
            return
        self.create_ms[(msg.partition(), msg.offset())] = msg.timestamp()[1]


def timed_producer(client: dict[str, Any]) -> Producer:
    """The reference upstream producer's config (idempotent, linger 5 ms, lz4)."""
    conf = dict(client)
    conf.update({"enable.idempotence": True, "linger.ms": 5, "compression.type": "lz4"})
    return Producer(conf)


def produce_records(
    producer: Producer,
    topic: str,
    records: Iterator[Record],
    count: int,
    rate_per_s: float | None = None,
) -> DeliveryLog:
    """Send ``count`` records (paced at ``rate_per_s`` when given) and wait for every ack.

    Pacing produces whatever is due, then sleeps to the next due time. Blocks; raises
    KafkaSetupError when records stay unacknowledged after 60 s.
    """
    log = DeliveryLog()
    started = time.monotonic()
    sent = 0
    while sent < count:
        due = (
            count
            if rate_per_s is None
            else min(count, int((time.monotonic() - started) * rate_per_s) + 1)
        )
        while sent < due:
            key, value = next(records)
            produce_waiting(producer, topic, key=key, value=value, on_delivery=log.callback)
            sent += 1
        producer.poll(0)
        if rate_per_s is not None and sent < count:
            time.sleep(max(0.0, started + sent / rate_per_s - time.monotonic()))
    if producer.flush(60) > 0:
        raise KafkaSetupError(f"bench producer: records to {topic} unacknowledged after 60 s")
    return log


class PredictionReader:
    """Reads a predictions topic from the start: source (partition, offset) → LogAppendTime.

    Assigns every partition directly (no group rebalance). Not thread-safe.
    """

    def __init__(self, client: dict[str, Any], topic: str) -> None:
        conf = dict(client)
        conf.update(
            {
                "group.id": f"bench-reader-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 50,
            }
        )
        self._consumer = Consumer(conf)
        self._consumer.assign(
            [TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)]
        )
        self.append_ms: dict[Key, int] = {}
        self.duplicates = 0
        self.partial = 0  # distinct predictions with a model that should have scored and did not

    def poll(self, timeout_s: float) -> None:
        for msg in self._consumer.consume(num_messages=10_000, timeout=timeout_s):
            if msg.error() is not None:
                continue
            prediction = orjson.loads(msg.value() or b"{}")
            source = prediction.get("source")
            if not source:
                continue
            key = (int(source["partition"]), int(source["offset"]))
            if key in self.append_ms:
                self.duplicates += 1
                continue
            self.append_ms[key] = msg.timestamp()[1]
            self.partial += bool(prediction.get("partial"))

    def wait_for(
        self, keys: set[Key], timeout_s: float, alive: Callable[[], bool] = lambda: True
    ) -> int:
        """Read until every key has its prediction, the timeout, or ``alive()`` is false.
        Returns how many are still missing."""
        deadline = time.monotonic() + timeout_s
        missing = len(keys - self.append_ms.keys())
        while missing and time.monotonic() < deadline and alive():
            self.poll(0.5)
            missing = len(keys - self.append_ms.keys())
        return missing

    def close(self) -> None:
        self._consumer.close()


def wait_group_stable(
    client: dict[str, Any],
    group: str,
    members: int,
    topic: str,
    timeout_s: float,
    alive: Callable[[], bool] = lambda: True,
) -> float:
    """Block until ``group`` is STABLE with ``members`` members that each own at least one
    partition of ``topic`` and all of them are owned. Returns the seconds it took.

    A cooperative rebalance moves partitions over two rounds a heartbeat apart (~3 s each
    with librdkafka's defaults): measuring before it settles measures the rebalance.
    Raises KafkaSetupError on the timeout.
    """
    admin = AdminClient(dict(client), logger=_quiet_logger())
    started = time.monotonic()
    while time.monotonic() - started < timeout_s and alive():
        try:
            description = admin.describe_consumer_groups([group])[group].result(timeout=5)
        except Exception:  # the group may not exist yet
            description = None
        if description is not None and _settled(description, members, topic):
            return time.monotonic() - started
        time.sleep(0.2)
    raise KafkaSetupError(f"group {group} did not settle with {members} members in {timeout_s} s")


def _quiet_logger() -> logging.Logger:
    """A private logger that drops librdkafka's lines (an admin client's teardown notes)."""
    logger = logging.Logger("moodstream.bench.librdkafka")  # never registered globally
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    return logger


def _settled(description: Any, members: int, topic: str) -> bool:
    if description.state != ConsumerGroupState.STABLE or len(description.members) != members:
        return False
    owned = [
        [tp.partition for tp in member.assignment.topic_partitions if tp.topic == topic]
        for member in description.members
    ]
    return all(owned) and sum(len(parts) for parts in owned) == PARTITIONS


def cycle(records: Sequence[Record]) -> Iterator[Record]:
    """An endless iterator over a pool of pre-encoded records."""
    while True:
        yield from records

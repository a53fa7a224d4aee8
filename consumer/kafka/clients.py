"""Thin confluent-kafka adapters: the consumer and producer configs the service runs with.

Pure config builders plus small factory functions; nothing here is created at import.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol

from consumer.kafka.config import ClientConfig, client_config, new_client
from consumer.settings import Guarantee, Settings

if TYPE_CHECKING:
    from confluent_kafka import Consumer, Producer


def consumer_config(settings: Settings, bootstrap: str) -> ClientConfig:
    """At-least-once consumer: no auto-commit, no auto offset store; the classic protocol
    with cooperative-sticky, or KIP-848's ``group.protocol=consumer`` (whose session
    timeout, heartbeat and assignor are the broker's: librdkafka refuses them here)."""
    conf = client_config(settings.kafka, bootstrap)
    conf.update(
        {
            "group.id": settings.kafka.group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "max.poll.interval.ms": settings.kafka.max_poll_interval_ms,
            "message.max.bytes": max(settings.processing.max_message_bytes * 2, 1_000_000),
            "isolation.level": "read_committed",
        }
    )
    if settings.kafka.group_protocol == "consumer":
        conf["group.protocol"] = "consumer"
    else:
        conf.update(
            {
                "partition.assignment.strategy": "cooperative-sticky",
                "session.timeout.ms": settings.kafka.session_timeout_ms,
                # Rebalances finish within about one heartbeat: 1 s keeps a joining
                # worker's partitions unowned for about 1 s instead of 3.
                "heartbeat.interval.ms": min(1_000, settings.kafka.session_timeout_ms // 3),
            }
        )
    conf.update(settings.kafka.extra)
    return conf


def producer_config(
    settings: Settings, bootstrap: str, worker_index: int, instance: str = ""
) -> ClientConfig:
    """Idempotent producer; transactional (one id per service instance and worker slot)
    in exactly-once mode."""
    conf = client_config(settings.kafka, bootstrap)
    conf.update(
        {
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "lz4",
            "message.max.bytes": max(settings.processing.max_message_bytes * 2, 1_000_000),
        }
    )
    if settings.processing.guarantee is Guarantee.EXACTLY_ONCE:
        conf["transactional.id"] = transactional_id(settings, worker_index, instance)
        conf["transaction.timeout.ms"] = settings.kafka.client.transaction_timeout_ms
    conf.update(settings.kafka.extra)
    return conf


def transactional_id(settings: Settings, worker_index: int, instance: str = "") -> str:
    """One per service instance and worker slot. With ``KAFKA__INSTANCE_ID`` set (a pod's
    name): ``<group>-<instance id>-<worker>``, the same after a restart, so the restarted
    pod's ``init_transactions`` fences its dead predecessor and aborts its open transaction
    at once (RELIABILITY.md, "A lost pod"). Without it: ``<group>-<host>-<instance>-<worker>``
    (``instance``: chosen at random by each ``moodstream run``), so two services on one host
    never share an id (they would fence each other); a dead service's open transaction then
    waits for the broker's ``transaction.timeout.ms``. Either way a worker restarted by its
    supervisor reuses its slot's id. Zombies of a rebalance are fenced by the group
    generation sent with the offsets (KIP-447), whatever the id."""
    stable = settings.kafka.instance_id
    parts = [settings.kafka.group_id, *([stable] if stable else [socket.gethostname(), instance])]
    return "-".join(part for part in [*parts, str(worker_index)] if part)


#: confluent-kafka's ``produce`` arguments when passed by position (its C argument list and
#: its type stubs, ``cimpl.pyi``: topic, value, key, partition, callback, on_delivery,
#: timestamp, headers): a keyword dict per record costs ~0.5 µs of a ~2 µs call.
#: ``tests/integration/test_produce_args.py`` holds the order to the real client and broker.
PARTITIONER: Final = -1  # librdkafka's RD_KAFKA_PARTITION_UA: the partitioner picks by key
NOW: Final = 0  # no timestamp given: librdkafka stamps the record (CreateTime) itself


class QueueingProducer(Protocol):
    """What ``produce_waiting`` and at-least-once delivery ask of a producer (librdkafka's
    ``Producer`` satisfies it): ``produce``, called by position (``PARTITIONER``, ``NOW``),
    raises ``BufferError`` while the local queue is full; ``poll`` and ``flush`` serve
    delivery callbacks, blocking up to ``timeout``."""

    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        partition: int,
        callback: Callable[..., None],
        on_delivery: None,
        timestamp: int,
        headers: Any,
        /,
    ) -> None: ...
    def poll(self, timeout: float, /) -> int: ...
    def flush(self, timeout: float, /) -> int: ...


def produce_waiting(
    producer: QueueingProducer,
    topic: str,
    *,
    key: bytes | None,
    value: bytes | None,
    on_delivery: Callable[..., None],
    headers: list[tuple[str, bytes]] | None = None,
    partition: int | None = None,
) -> None:
    """Queue one record (to ``partition``, else where the partitioner puts its key); while
    librdkafka's local queue is full, serve delivery callbacks (``poll``) and retry. Blocks
    only as long as the queue stays full (backpressure)."""
    where = PARTITIONER if partition is None else partition
    while True:
        try:
            producer.produce(topic, value, key, where, on_delivery, None, NOW, headers)
            return
        except BufferError:
            producer.poll(0.05)


def create_consumer(settings: Settings, bootstrap: str) -> Consumer:
    from confluent_kafka import Consumer

    conf: dict[str, object] = dict(consumer_config(settings, bootstrap))
    conf["logger"] = logging.getLogger("moodstream.kafka.consumer")
    return new_client(Consumer, conf)


def create_producer(
    settings: Settings,
    bootstrap: str,
    worker_index: int,
    instance: str = "",
    defaults: Mapping[str, object] | None = None,
) -> Producer:
    """The producer of ``producer_config`` with ``defaults`` (``with_defaults``). Does not
    block."""
    from confluent_kafka import Producer

    conf = with_defaults(producer_config(settings, bootstrap, worker_index, instance), defaults)
    conf["logger"] = logging.getLogger("moodstream.kafka.producer")
    return new_client(Producer, conf)


def with_defaults(conf: ClientConfig, defaults: Mapping[str, object] | None) -> dict[str, object]:
    """``conf`` with more properties, each where ``conf`` (``KAFKA__EXTRA``) does not set
    it. Pure."""
    return {**(defaults or {}), **conf}

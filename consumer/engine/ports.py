"""The engine's seams, as protocols: what the poll loop and the at-least-once publisher ask
of their Kafka clients and of the health file. confluent-kafka's ``Consumer`` and
``Producer`` and the service's ``HealthReporter`` satisfy them, and so do the tests' small
fakes (``tests/fakes/kafka.py``) without a ``type: ignore``. The exactly-once publisher's
clients are ``txn_clients``; the publisher itself is ``delivery.Publisher``. Positional
parameters are positional-only, so a fake may name them as it likes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

from consumer.kafka.clients import QueueingProducer
from consumer.observability.lag_gauge import CachedOffsets

if TYPE_CHECKING:
    from confluent_kafka import Message, TopicPartition

__all__ = ["CommitConsumer", "Health", "LoopConsumer", "QueueingProducer", "Rebalance"]

#: A rebalance callback: (the consumer, the partitions). Runs inside ``consume``.
Rebalance = Callable[[Any, list["TopicPartition"]], None]


class LoopConsumer(CachedOffsets, Protocol):
    """The poll loop's consumer: it subscribes, fetches, pauses and resumes, reads the
    committed offsets at an assignment and the cached positions for the lag gauge. Every
    call may raise ``KafkaException``; ``consume`` and ``committed`` block up to their
    timeout, ``close`` until the group is left."""

    def subscribe(
        self,
        topics: list[str],
        /,
        *,
        on_assign: Rebalance,
        on_revoke: Rebalance,
        on_lost: Rebalance,
    ) -> None: ...
    def consume(self, *, num_messages: int, timeout: float) -> list[Message]: ...
    def pause(self, partitions: list[TopicPartition], /) -> None: ...
    def resume(self, partitions: list[TopicPartition], /) -> None: ...
    def committed(
        self, partitions: list[TopicPartition], /, *, timeout: float
    ) -> list[TopicPartition]: ...
    def close(self) -> None: ...


class CommitConsumer(Protocol):
    """What at-least-once delivery asks of the consumer: a synchronous commit of offsets
    (blocks until the broker answers; raises ``KafkaException``)."""

    def commit(self, *, offsets: list[TopicPartition], asynchronous: Literal[False]) -> object: ...


class Health(Protocol):
    """The worker's health file, as the loop reports to it (``HealthReporter``)."""

    def update(
        self,
        ready: bool,
        assigned: bool | None,
        stuck_models: Sequence[str] = (),
        detail: Mapping[str, Any] | str | None = None,
    ) -> bool:
        """Record the state; writes a small local file only when it changed. Never raises."""

    def remove(self) -> None:
        """Delete the file (clean exit). Never raises."""

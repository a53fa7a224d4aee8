"""Fakes of the engine's seams (``consumer.engine.ports``, ``delivery.Publisher``,
``txn_clients``): a consumer, producers, a publisher and a health file that type-check
against the protocols (no ``type: ignore``) and record what the engine asked of them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from confluent_kafka import TopicPartition

from consumer.engine.offsets import TopicPartitionKey

if TYPE_CHECKING:
    from confluent_kafka import Message

    from consumer.engine.batch_records import BatchResult, SourceResult
    from consumer.engine.ports import Rebalance


class FakeConsumer:
    """The loop's consumer (``LoopConsumer``) and the commit side (``CommitConsumer``).

    Records ``pause``/``resume`` in ``calls``, commits in ``commits``, fetches in
    ``consumed``; ``consume`` hands out ``messages``, then nothing. ``marks`` and
    ``positions`` (by partition) answer the lag gauge's reads."""

    def __init__(
        self,
        marks: Mapping[int, tuple[int, int] | None] | None = None,
        positions: Mapping[int, int] | None = None,
    ) -> None:
        self.calls: list[tuple[str, list[int]]] = []
        self.commits: list[list[tuple[str, int, int]]] = []
        self.consumed = 0
        self.messages: list[Message] = []
        self.marks = dict(marks or {})
        self.positions = dict(positions or {})
        self.cached: list[bool] = []
        self.callbacks: dict[str, Rebalance] = {}
        self.closed = False

    def subscribe(
        self,
        topics: list[str],
        /,
        *,
        on_assign: Rebalance,
        on_revoke: Rebalance,
        on_lost: Rebalance,
    ) -> None:
        self.callbacks = {"assign": on_assign, "revoke": on_revoke, "lost": on_lost}

    def consume(self, *, num_messages: int, timeout: float) -> list[Message]:
        self.consumed += 1
        taken, self.messages = self.messages[:num_messages], self.messages[num_messages:]
        return taken

    def pause(self, partitions: list[TopicPartition], /) -> None:
        self.calls.append(("pause", [tp.partition for tp in partitions]))

    def resume(self, partitions: list[TopicPartition], /) -> None:
        self.calls.append(("resume", [tp.partition for tp in partitions]))

    def committed(
        self, partitions: list[TopicPartition], /, *, timeout: float
    ) -> list[TopicPartition]:
        return []

    def commit(self, *, offsets: list[TopicPartition], asynchronous: bool) -> None:
        self.commits.append([(tp.topic, tp.partition, tp.offset) for tp in offsets])

    def close(self) -> None:
        self.closed = True

    def position(self, partitions: list[TopicPartition], /) -> list[TopicPartition]:
        return [
            TopicPartition(tp.topic, tp.partition, self.positions[tp.partition])
            for tp in partitions
        ]

    def get_watermark_offsets(
        self, partition: TopicPartition, /, *, cached: bool = False
    ) -> tuple[int, int] | None:
        self.cached.append(cached)
        return self.marks[partition.partition]


class FakeProducer:
    """A ``QueueingProducer`` whose records are delivered on ``deliver`` (or ``flush``)."""

    def __init__(self) -> None:
        self.pending: list[Callable[..., None]] = []

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
    ) -> None:
        self.pending.append(callback)

    def poll(self, timeout: float = 0, /) -> int:
        return 0

    def flush(self, timeout: float = 0, /) -> int:
        self.deliver()
        return 0

    def deliver(self) -> None:
        callbacks, self.pending = self.pending, []
        for callback in callbacks:
            callback(None, None)


class FakePublisher:
    """A ``Publisher`` that publishes nothing: ``count`` events in flight, the loop's
    waits for acks in ``waits``."""

    def __init__(self) -> None:
        self.count = 0
        self.waits: list[float] = []

    def begin(self, sources: list[SourceResult]) -> None:
        return None

    def publish(self, result: BatchResult) -> None:
        return None

    def end(self, sources: list[SourceResult]) -> None:
        return None

    def poll(self) -> None:
        return None

    def await_delivery(self, timeout_s: float) -> None:
        self.waits.append(timeout_s)

    def maybe_commit(self, now: float, *, force: bool = False) -> None:
        return None

    def on_revoke(self, partitions: set[TopicPartitionKey], timeout_s: float) -> None:
        return None

    def on_lost(self, partitions: set[TopicPartitionKey]) -> None:
        return None

    def close(self, timeout_s: float) -> None:
        return None

    def inflight(self) -> int:
        return self.count

    def oldest_pending(self) -> dict[TopicPartitionKey, int]:
        return {}


class FakeHealth:
    """The worker's health file (``ports.Health``): every report, (ready, assigned)."""

    def __init__(self) -> None:
        self.reports: list[tuple[bool, bool | None]] = []
        self.removed = False

    def update(
        self,
        ready: bool,
        assigned: bool | None,
        stuck_models: Sequence[str] = (),
        detail: Mapping[str, Any] | str | None = None,
    ) -> bool:
        self.reports.append((ready, assigned))
        return True

    def remove(self) -> None:
        self.removed = True

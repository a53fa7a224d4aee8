"""What the exactly-once publisher needs of its Kafka clients, as protocols: the
confluent-kafka ``Producer`` and ``Consumer`` satisfy them, and so do the tests' small
fakes (no ``type: ignore``). Parameters are positional-only: callers pass them by
position, so a fake may name them as it likes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from confluent_kafka import TopicPartition


class TxnProducer(Protocol):
    """A transactional producer (librdkafka's transactional API). Every call may block up
    to its timeout (``send_offsets_to_transaction`` past it: librdkafka #5456) and raises
    ``KafkaException``."""

    def init_transactions(self, timeout: float, /) -> None: ...
    def begin_transaction(self) -> None: ...
    def send_offsets_to_transaction(
        self, positions: list[TopicPartition], group_metadata: Any, timeout: float, /
    ) -> None: ...
    def commit_transaction(self, timeout: float, /) -> None: ...
    def abort_transaction(self, timeout: float, /) -> None: ...
    def poll(self, timeout: float, /) -> int: ...
    def flush(self, timeout: float, /) -> int: ...
    def purge(
        self, *, in_queue: bool = True, in_flight: bool = True, blocking: bool = True
    ) -> None:
        """Drop queued and in-flight records (``blocking=False``: without waiting)."""


class TxnConsumer(Protocol):
    """The consumer side: its group metadata for the transaction, and where to rewind."""

    def consumer_group_metadata(self) -> Any: ...
    def assignment(self) -> list[TopicPartition]: ...
    def committed(
        self, partitions: list[TopicPartition], timeout: float, /
    ) -> list[TopicPartition]:
        """The group's committed offsets; blocks up to ``timeout``."""

    def seek(self, partition: TopicPartition, /) -> None:
        """Set the next fetch position; raises ``KafkaException``."""

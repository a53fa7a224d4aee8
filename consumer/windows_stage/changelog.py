"""The windows store's changelog: every change of a partition's store as a record of the
compacted changelog topic (key: the store key, value: the bytes, a tombstone for a
delete), on the changelog partition of the same number as the input partition; and the
restore of a partition's store from it.

The changelog is the source of truth: on assignment a partition's local store is wiped
and rebuilt from it (only the assigned partitions), so a local store can never be ahead
of (or behind) what the changelog holds. Used from the poll loop's thread only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from consumer.engine.batch_records import OutRecord
from consumer.windows.store import Store

if TYPE_CHECKING:
    from confluent_kafka import Consumer

RESTORE_BATCH = 10_000
RESTORE_POLL_S = 0.2


class Recording:
    """A ``Store`` that remembers each change (key -> value, None: deleted) until taken."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self._changes: dict[bytes, bytes | None] = {}

    def get(self, key: bytes) -> bytes | None:
        return self.inner.get(key)

    def get_many(self, keys: list[bytes]) -> list[bytes | None]:
        return self.inner.get_many(keys)

    def put(self, key: bytes, value: bytes) -> None:
        self.inner.put(key, value)
        self._changes[key] = value

    def delete(self, key: bytes) -> None:
        self.inner.delete(key)
        self._changes[key] = None

    def write(self, puts: dict[bytes, bytes], deletes: set[bytes]) -> None:
        self.inner.write(puts, deletes)
        self._changes.update(puts)
        self._changes.update(dict.fromkeys(deletes))

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        return self.inner.scan(prefix)

    def close(self) -> None:
        self.inner.close()

    def take(self, topic: str, partition: int) -> list[OutRecord]:
        """The changes since the last ``take`` as changelog records; forgets them."""
        records = [
            OutRecord(topic, key, value, kind="changelog", partition=partition)
            for key, value in self._changes.items()
        ]
        self._changes.clear()
        return records

    def forget_changes(self) -> None:
        self._changes.clear()


def restore(
    consumer: Consumer,
    topic: str,
    partition: int,
    store: Store,
    progress: Callable[[int, int], None],
    timeout_s: float,
) -> int:
    """Read changelog partition ``partition`` from its start to its end (high watermark, as
    of the call) into ``store``; how many records. ``progress(done, total)`` is called after
    each batch. ``consumer`` is assigned to nothing else (no group). Blocks; raises
    ``TimeoutError`` when the end is not reached within ``timeout_s`` of silence, and the
    client's ``KafkaException``."""
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
    if high <= low:
        return 0
    consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
    done = position = 0
    silent_since = time.monotonic()
    try:
        while position < high:
            # consume() waits for all num_messages or the timeout: a short one, or the end
            # of a partition would cost the whole timeout
            messages = consumer.consume(num_messages=RESTORE_BATCH, timeout=RESTORE_POLL_S)
            if not messages:
                # the end may be a marker or compacted away: ask where the fetch stands
                position = max(position, _position(consumer, topic, partition))
                if position >= high:
                    break
                if time.monotonic() - silent_since > timeout_s:
                    raise TimeoutError(
                        f"changelog {topic}[{partition}] silent at {position}/{high}"
                    )
                continue
            silent_since = time.monotonic()
            puts: dict[bytes, bytes] = {}
            deletes: set[bytes] = set()
            for message in messages:
                if message.error() is not None:
                    continue
                key, value = message.key(), message.value()
                position = max(position, (message.offset() or 0) + 1)
                if key is None:
                    continue
                if value is None:
                    puts.pop(key, None)
                    deletes.add(key)
                else:
                    deletes.discard(key)
                    puts[key] = value
            store.write(puts, deletes)
            done += len(messages)
            progress(position - low, high - low)
    finally:
        consumer.unassign()
    return done


def _position(consumer: Consumer, topic: str, partition: int) -> int:
    """The next offset the consumer will fetch (past control records); 0 when unknown."""
    from confluent_kafka import TopicPartition

    [where] = consumer.position([TopicPartition(topic, partition)])
    return max(0, where.offset)

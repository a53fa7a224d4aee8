"""Fakes of the exactly-once publisher's clients (``consumer.engine.txn_clients``) and of
its bounded calls (``BoundedCalls``), on a fake clock: they type-check against the
protocols (no ``type: ignore``) and record what the publisher asked of them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from consumer.engine.txn_calls import CallStuck
from tests.fakes import FakeClock


class TxnProducer:
    def __init__(self, offsets_error: KafkaError | None = None) -> None:
        self.offsets_error = offsets_error
        self.pending: list[Callable[..., None]] = []
        self.calls: list[str] = []

    def init_transactions(self, _timeout: float) -> None:
        self.calls.append("init")

    def begin_transaction(self) -> None:
        self.calls.append("begin")

    def produce(self, topic: str, value: Any, key: Any, *where_when_how: Any) -> None:
        """Positional, as ``QueueingProducer.produce``: (partition, callback, on_delivery,
        timestamp, headers) follow the key."""
        self.pending.append(where_when_how[1])

    def poll(self, _timeout: float = 0) -> int:
        callbacks, self.pending = self.pending, []
        for callback in callbacks:  # delivered inside the transaction, committed or not
            callback(None, None)
        return 0

    def send_offsets_to_transaction(self, offsets: Any, _meta: Any, _timeout: float) -> None:
        self.poll()
        error, self.offsets_error = self.offsets_error, None
        if error is not None:
            raise KafkaException(error)

    def commit_transaction(self, _timeout: float) -> None:
        self.calls.append("commit")

    def abort_transaction(self, _timeout: float) -> None:
        self.calls.append("abort")

    def flush(self, _timeout: float) -> int:
        self.calls.append("flush")
        return self.poll(0)

    def purge(self, **_flags: bool) -> None:
        self.calls.append("purge")


class SeekingConsumer:
    def __init__(self) -> None:
        self.seeks: list[tuple[int, int]] = []

    def consumer_group_metadata(self) -> object:
        return object()

    def assignment(self) -> list[TopicPartition]:
        return []

    def committed(self, partitions: list[TopicPartition], _timeout: float) -> list[TopicPartition]:
        return partitions

    def seek(self, tp: Any) -> None:
        self.seeks.append((tp.partition, tp.offset))


def fail(
    code: int, *, fatal: bool = False, retriable: bool = False, txn_requires_abort: bool = False
) -> KafkaException:
    error = KafkaError(
        code, fatal=fatal, retriable=retriable, txn_requires_abort=txn_requires_abort
    )
    return KafkaException(error)


class ScriptedProducer(TxnProducer):
    """Raises the scripted error once per call name; each failing call takes its timeout
    on the fake clock (a timed-out call does)."""

    def __init__(self, clock: FakeClock, name: str, **script: list[KafkaException]) -> None:
        super().__init__()
        self.clock, self.name, self.script = clock, name, script
        self.purged = False

    def _step(self, call: str, timeout: float | None = None) -> None:
        self.calls.append(call)
        errors = self.script.get(call) or []
        if errors:
            if timeout is not None:
                self.clock.advance(timeout)
            raise errors.pop(0)

    def init_transactions(self, timeout: float) -> None:
        self._step("init", timeout)

    def begin_transaction(self) -> None:
        self._step("begin")

    def send_offsets_to_transaction(self, offsets: Any, meta: Any, timeout: float) -> None:
        self.poll()
        self._step("offsets", timeout)

    def commit_transaction(self, timeout: float) -> None:
        self._step("commit", timeout)

    def abort_transaction(self, timeout: float) -> None:
        self._step("abort", timeout)

    def purge(self, **_flags: bool) -> None:
        self.purged = True


class GroupConsumer:
    """Assigned partitions 0-2 of ``in``; ``committed`` answers from ``offsets`` after
    ``committed_failures`` timed-out attempts."""

    def __init__(self, clock: FakeClock, offsets: dict[int, int], committed_failures: int = 0):
        self.clock, self.offsets, self.failures = clock, offsets, committed_failures
        self.seeks: list[tuple[int, int]] = []
        self.committed_calls = 0

    def consumer_group_metadata(self) -> object:
        return object()

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition("in", p) for p in sorted(self.offsets)]

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        self.committed_calls += 1
        if self.failures:
            self.failures -= 1
            self.clock.advance(timeout)
            raise fail(KafkaError._TIMED_OUT)
        return [
            TopicPartition(tp.topic, tp.partition, self.offsets[tp.partition]) for tp in partitions
        ]

    def seek(self, tp: Any) -> None:
        self.seeks.append((tp.partition, tp.offset))


class Factory:
    def __init__(self, clock: FakeClock, **script: list[KafkaException]) -> None:
        self.clock, self.script = clock, script
        self.made: list[ScriptedProducer] = []

    def __call__(self) -> ScriptedProducer:
        producer = ScriptedProducer(self.clock, f"p{len(self.made) + 1}", **self.script)
        self.made.append(producer)
        return producer


class StuckCalls:
    """Every call is stuck: it takes its bound on the fake clock (saying alive once) and
    stays "running" until ``finish`` ends them."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.bounds: list[float] = []
        self.running = 0

    def __call__(self, call: Callable[[], None], bound_s: float, alive: Callable[[], None]) -> None:
        self.bounds.append(bound_s)
        alive()
        self.clock.advance(bound_s)
        self.running += 1
        raise CallStuck(f"no answer after {bound_s} s")

    def left(self) -> int:
        return self.running

    def finish(self) -> None:
        self.running = 0

"""A failed rewind never lets the exactly-once publisher go on past an aborted batch (fake
clients typed by the protocols, fake clock): a partition still owned whose seek fails is
sought again at the group's committed offset, or the worker restarts (RewindFailed); a
partition no longer owned is left to its new owner."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from consumer.engine.transactions import ExactlyOnce
from consumer.engine.txn_seek import RewindFailed
from consumer.errors import ConfigError, KafkaSetupError, MoodstreamError, PoisonFloodError
from tests.fakes import FakeClock
from tests.fakes.txn import Factory, ScriptedProducer, TxnProducer, fail
from tests.unit.engine.test_transactions import batch, run_batch

ILLEGAL = KafkaError(KafkaError.ILLEGAL_GENERATION, txn_requires_abort=True)


class RefusingSeeks:
    """Owns ``in`` partitions ``owned``; the seek of a partition in ``refuse`` fails its
    first ``times`` attempts; ``committed`` answers from ``offsets`` (or raises ``down``)."""

    def __init__(
        self,
        refuse: set[int],
        times: int = 1_000,
        owned: tuple[int, ...] = (0, 1, 2),
        down: KafkaException | None = None,
    ) -> None:
        self.refuse, self.times, self.owned, self.down = refuse, times, owned, down
        self.offsets = {0: 7, 1: 40, 2: 3}
        self.seeks: list[tuple[int, int, bool]] = []  # partition, offset, succeeded
        self.asked: list[list[int]] = []

    def consumer_group_metadata(self) -> object:
        return object()

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition("in", p) for p in self.owned]

    def committed(self, partitions: list[TopicPartition], _timeout: float) -> list[TopicPartition]:
        self.asked.append([tp.partition for tp in partitions])
        if self.down is not None:
            raise self.down
        return [TopicPartition("in", tp.partition, self.offsets[tp.partition]) for tp in partitions]

    def seek(self, tp: Any) -> None:
        failing = tp.partition in self.refuse and self.times > 0
        self.seeks.append((tp.partition, tp.offset, not failing))
        if failing:
            self.times -= 1
            raise KafkaException(KafkaError(KafkaError._STATE, "Erroneous state"))


def test_a_seek_failing_once_is_sought_again_at_the_committed_offset() -> None:
    producer, consumer = TxnProducer(ILLEGAL), RefusingSeeks({0}, times=1)
    publisher = ExactlyOnce(producer, consumer, FakeClock(), 5.0)
    run_batch(publisher, batch())  # aborted, rewound: must not raise
    assert consumer.seeks == [(0, 7, False), (2, 3, True), (0, 7, True)]
    assert consumer.asked == [[0]] and publisher.aborted == 1
    run_batch(publisher, batch())  # the batch, read again
    assert producer.calls[-1] == "commit"


def test_a_seek_that_keeps_failing_restarts_the_worker_and_commits_nothing_more() -> None:
    producer, consumer = TxnProducer(ILLEGAL), RefusingSeeks({0})
    publisher = ExactlyOnce(producer, consumer, FakeClock(), 5.0)
    with pytest.raises(RewindFailed, match=r"in\[0\]@7.*committed offsets"):
        run_batch(publisher, batch())
    assert producer.calls[-1] == "abort" and "commit" not in producer.calls
    assert [s for s in consumer.seeks if s[0] == 0] == [(0, 7, False), (0, 7, False)]


def test_committed_offsets_unread_after_a_failed_seek_restart_the_worker() -> None:
    denied = fail(KafkaError.GROUP_AUTHORIZATION_FAILED)  # not retried
    producer, consumer = TxnProducer(ILLEGAL), RefusingSeeks({2}, down=denied)
    publisher = ExactlyOnce(producer, consumer, FakeClock(), 5.0)
    with pytest.raises(RewindFailed, match="committed offsets unread"):
        run_batch(publisher, batch())
    assert "commit" not in producer.calls


def test_a_partition_no_longer_owned_is_left_to_its_new_owner() -> None:
    producer, consumer = TxnProducer(ILLEGAL), RefusingSeeks({2}, owned=(0, 1))
    publisher = ExactlyOnce(producer, consumer, FakeClock(), 5.0)
    run_batch(publisher, batch())  # must not raise
    assert consumer.seeks == [(0, 7, True), (2, 3, False)] and consumer.asked == []


def test_a_replacement_whose_rewind_keeps_failing_restarts_the_worker() -> None:
    clock = FakeClock()
    first = ScriptedProducer(clock, "p0", commit=[fail(KafkaError._FENCED, fatal=True)])
    consumer, factory = RefusingSeeks({1}), Factory(clock)
    publisher = ExactlyOnce(first, consumer, clock, 5.0, new_producer=factory)
    with pytest.raises(RewindFailed, match=r"in\[1\]@40"):
        run_batch(publisher, batch())
    assert len(factory.made) == 1 and "commit" not in factory.made[0].calls


def test_rewind_failed_is_a_restart_not_a_fatal_stop() -> None:
    assert issubclass(RewindFailed, MoodstreamError)  # run_worker: ExitCode.CRASHED
    assert not issubclass(RewindFailed, KafkaSetupError | ConfigError | PoisonFloodError)

"""Exactly-once recovery in place, with fake clients and a fake clock: a fenced, stuck or
timed-out producer is replaced (same transactional id) and the consumer rewound to the
group's committed offsets; the retry loop tells the hang detector the worker is alive."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException
from prometheus_client import CollectorRegistry

from consumer.engine.transactions import ExactlyOnce
from consumer.engine.txn_rewind import rewind_targets
from consumer.observability.metrics import Metrics
from tests.fakes import FakeClock
from tests.fakes.txn import Factory, GroupConsumer, ScriptedProducer, StuckCalls, fail
from tests.unit.engine.test_transactions import batch, run_batch


def publisher_with(
    first: ScriptedProducer,
    consumer: GroupConsumer,
    clock: FakeClock,
    factory: Factory,
    **kwargs: Any,
) -> ExactlyOnce:
    return ExactlyOnce(first, consumer, clock, 5.0, new_producer=factory, **kwargs)


# batch(): partition 0 offsets 7 and 8, partition 2 offset 3; committed before it: 7 and 3.
NOT_COMMITTED = {0: 7, 1: 40, 2: 3}


def test_a_fenced_producer_is_replaced_and_the_consumer_rewound_to_the_committed_offsets() -> None:
    clock, registry = FakeClock(), CollectorRegistry()
    fenced = fail(KafkaError._FENCED, fatal=True)
    first = ScriptedProducer(clock, "p0", commit=[fenced])
    consumer, factory = GroupConsumer(clock, dict(NOT_COMMITTED)), Factory(clock)
    publisher = publisher_with(first, consumer, clock, factory, metrics=Metrics(registry))
    run_batch(publisher, batch())  # must not raise: no worker restart
    assert first.purged and "abort" not in first.calls  # fatal: nothing to abort on it
    assert len(factory.made) == 1 and factory.made[0].calls == ["init"]
    assert consumer.seeks == [(0, 7), (1, 40), (2, 3)]  # every assigned partition
    assert publisher.recreated == 1
    assert registry.get_sample_value("moodstream_producer_recreated_total") == 1.0
    run_batch(publisher, batch())  # the rewound batch, on the new producer
    assert factory.made[0].calls[-1] == "commit"


def test_a_transaction_that_committed_unseen_is_not_published_again() -> None:
    clock = FakeClock()
    first = ScriptedProducer(clock, "p0", commit=[fail(KafkaError._FENCED, fatal=True)])
    consumer = GroupConsumer(clock, {0: 9, 1: 40, 2: 4})  # the batch's offsets are committed
    publisher = publisher_with(first, consumer, clock, Factory(clock))
    run_batch(publisher, batch())
    assert consumer.seeks == [(0, 9), (1, 40), (2, 4)]  # past the batch: no second copy


def test_a_commit_still_timing_out_at_the_deadline_replaces_the_producer_without_an_abort() -> None:
    clock = FakeClock()
    timeouts = [fail(KafkaError._TIMED_OUT, retriable=True) for _ in range(5)]
    first = ScriptedProducer(clock, "p0", commit=timeouts)
    consumer, factory = GroupConsumer(clock, dict(NOT_COMMITTED)), Factory(clock)
    publisher = publisher_with(first, consumer, clock, factory)
    run_batch(publisher, batch())
    # resumed through the phase's 7.5 s and the commit's 7.5 s more: 5 + 5 + 4.8 s
    assert first.calls.count("commit") == 3 and "abort" not in first.calls
    assert len(factory.made) == 1 and consumer.seeks == [(0, 7), (1, 40), (2, 3)]


def test_a_commit_timing_out_past_its_phase_retries_is_resumed_until_it_answers() -> None:
    # Session 30's split outcome: a commit that timed out had committed the predictions on
    # one coordinator; a replacement's init_transactions aborted the offsets on another.
    # Resumed, the same commit completes on whichever coordinator answers.
    clock = FakeClock()
    timeouts = [fail(KafkaError._TIMED_OUT, retriable=True) for _ in range(2)]  # 10 s > 7.5 s
    first = ScriptedProducer(clock, "p0", commit=timeouts)
    consumer, factory = GroupConsumer(clock, dict(NOT_COMMITTED)), Factory(clock)
    publisher = publisher_with(first, consumer, clock, factory)
    run_batch(publisher, batch())
    assert clock.monotonic() > 7.5  # past the phase's retries
    assert first.calls.count("commit") == 3 and "abort" not in first.calls
    assert factory.made == [] and consumer.seeks == []  # committed: nothing replaced


def test_an_aborted_transaction_ends_its_epoch_before_the_batch_is_read_again() -> None:
    """A write of the aborted transaction still in flight (a produce that timed out) must
    not join the next transaction under the same epoch: the abort is followed by a new
    producer (same transactional id, next epoch) and a rewind to the committed offsets."""
    clock = FakeClock()
    abortable = fail(KafkaError.ILLEGAL_GENERATION, txn_requires_abort=True)
    first = ScriptedProducer(clock, "p0", offsets=[abortable])
    consumer, factory = GroupConsumer(clock, dict(NOT_COMMITTED)), Factory(clock)
    publisher = publisher_with(first, consumer, clock, factory)
    run_batch(publisher, batch())  # must not raise
    assert first.calls[-1] == "abort"  # aborted first, while its coordinator answers
    assert len(factory.made) == 1 and factory.made[0].calls == ["init"]
    assert consumer.seeks == [(0, 7), (1, 40), (2, 3)] and publisher.aborted == 1
    run_batch(publisher, batch())  # the batch again, on the new epoch
    assert factory.made[0].calls[-1] == "commit" and first.calls.count("begin") == 1


def test_a_failed_abort_replaces_the_producer() -> None:
    clock = FakeClock()
    abortable = fail(KafkaError.ILLEGAL_GENERATION, txn_requires_abort=True)
    state = fail(KafkaError._STATE)
    first = ScriptedProducer(clock, "p0", offsets=[abortable], abort=[state])
    consumer, factory = GroupConsumer(clock, dict(NOT_COMMITTED)), Factory(clock)
    publisher = publisher_with(first, consumer, clock, factory)
    run_batch(publisher, batch())
    assert first.calls[-1] == "abort" and len(factory.made) == 1
    assert consumer.seeks == [(0, 7), (1, 40), (2, 3)]


def test_an_invalid_state_at_the_end_replaces_the_producer() -> None:
    clock = FakeClock()
    first = ScriptedProducer(clock, "p0", commit=[fail(KafkaError.INVALID_TXN_STATE)])
    consumer, factory = GroupConsumer(clock, dict(NOT_COMMITTED)), Factory(clock)
    publisher = publisher_with(first, consumer, clock, factory)
    run_batch(publisher, batch())
    assert "abort" not in first.calls and len(factory.made) == 1


def test_a_producer_refusing_to_begin_is_replaced_without_a_rewind() -> None:
    clock = FakeClock()
    first = ScriptedProducer(clock, "p0", begin=[fail(KafkaError.INVALID_TXN_STATE)])
    consumer, factory = GroupConsumer(clock, dict(NOT_COMMITTED)), Factory(clock)
    publisher = publisher_with(first, consumer, clock, factory)
    run_batch(publisher, batch())
    assert factory.made[0].calls == ["init", "begin", "offsets", "commit"]
    assert consumer.seeks == [] and consumer.committed_calls == 0  # nothing was published


def test_a_stuck_send_offsets_replaces_the_producer() -> None:
    clock = FakeClock()
    stuck = StuckCalls(clock)
    waits: list[str] = []
    first = ScriptedProducer(clock, "p0")
    consumer, factory = GroupConsumer(clock, dict(NOT_COMMITTED)), Factory(clock)
    publisher = publisher_with(first, consumer, clock, factory, bounded=stuck, waiting=waits.append)
    run_batch(publisher, batch())
    assert stuck.bounds == [2.5 + 0.5]  # its timeout plus the grace: 1/18 and 1/90 of 9 x 5 s
    assert "commit" not in first.calls and len(factory.made) == 1
    assert consumer.seeks == [(0, 7), (1, 40), (2, 3)]
    assert "send_offsets_to_transaction" in waits and "init_transactions" in waits


def test_committed_offsets_are_retried_while_the_group_coordinator_moves() -> None:
    clock = FakeClock()
    first = ScriptedProducer(clock, "p0", commit=[fail(KafkaError._FENCED, fatal=True)])
    consumer = GroupConsumer(clock, dict(NOT_COMMITTED), committed_failures=1)
    publisher = publisher_with(first, consumer, clock, Factory(clock))
    run_batch(publisher, batch())
    assert consumer.committed_calls == 2 and consumer.seeks == [(0, 7), (1, 40), (2, 3)]


def test_committed_offsets_are_waited_for_through_a_longer_outage_than_one_retry_bound() -> None:
    clock = FakeClock()
    first = ScriptedProducer(clock, "p0", commit=[fail(KafkaError._FENCED, fatal=True)])
    consumer = GroupConsumer(clock, dict(NOT_COMMITTED), committed_failures=3)  # 15 s > 7.5 s
    publisher = publisher_with(first, consumer, clock, Factory(clock))
    run_batch(publisher, batch())  # a 45 s half-open group coordinator crashed a worker here
    assert consumer.committed_calls == 4 and consumer.seeks == [(0, 7), (1, 40), (2, 3)]


def test_committed_offsets_that_never_answer_are_raised_within_their_bound() -> None:
    clock = FakeClock()
    first = ScriptedProducer(clock, "p0", commit=[fail(KafkaError._FENCED, fatal=True)])
    consumer = GroupConsumer(clock, dict(NOT_COMMITTED), committed_failures=100)
    publisher = publisher_with(first, consumer, clock, Factory(clock))
    with pytest.raises(KafkaException):
        run_batch(publisher, batch())
    assert consumer.seeks == [] and clock.t - 1_000.0 <= 4.5 * 5.0 + 5.0 + 5.0


def test_a_replacement_that_cannot_initialise_is_raised() -> None:
    clock = FakeClock()
    first = ScriptedProducer(clock, "p0", commit=[fail(KafkaError._FENCED, fatal=True)])
    denied = fail(KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    consumer, factory = GroupConsumer(clock, dict(NOT_COMMITTED)), Factory(clock, init=[denied])
    publisher = publisher_with(first, consumer, clock, factory)
    with pytest.raises(KafkaException):  # the worker restarts, as before
        run_batch(publisher, batch())
    assert consumer.seeks == []


def test_a_replacement_waits_for_its_coordinator_through_a_longer_outage_than_one_retry_bound() -> (
    None
):
    clock = FakeClock()
    first = ScriptedProducer(clock, "p0", commit=[fail(KafkaError._FENCED, fatal=True)])
    away = [fail(KafkaError._TIMED_OUT, retriable=True) for _ in range(3)]  # 15 s > 7.5 s
    consumer, factory = GroupConsumer(clock, dict(NOT_COMMITTED)), Factory(clock, init=away)
    publisher = publisher_with(first, consumer, clock, factory)
    run_batch(publisher, batch())  # a 45 s half-open transaction coordinator crashed a worker
    assert factory.made[0].calls.count("init") == 4 and publisher.recreated == 1
    assert consumer.seeks == [(0, 7), (1, 40), (2, 3)]


def test_a_replacement_and_the_committed_reads_after_it_share_one_deadline() -> None:
    clock = FakeClock()
    first = ScriptedProducer(clock, "p0", commit=[fail(KafkaError._FENCED, fatal=True)])
    away = [fail(KafkaError._TIMED_OUT, retriable=True) for _ in range(4)]  # 20 s of its 30 s
    consumer = GroupConsumer(clock, dict(NOT_COMMITTED), committed_failures=100)
    publisher = publisher_with(first, consumer, clock, Factory(clock, init=away))
    with pytest.raises(KafkaException):
        run_batch(publisher, batch())
    assert consumer.committed_calls >= 1 and consumer.seeks == []
    assert clock.t - 1_000.0 <= (1.5 + 4.5) * 5.0 + 5.0  # not 20 s of init + 22.5 s of reads


def test_the_retry_loop_tells_the_hang_detector_the_worker_is_alive() -> None:
    clock, waits = FakeClock(), list[str]()
    first = ScriptedProducer(clock, "p0", commit=[fail(KafkaError.NOT_COORDINATOR, retriable=True)])
    consumer = GroupConsumer(clock, dict(NOT_COMMITTED))
    publisher = publisher_with(first, consumer, clock, Factory(clock), waiting=waits.append)
    run_batch(publisher, batch())
    assert waits == ["commit_transaction"]  # a heartbeat between the attempts
    assert first.calls.count("commit") == 2 and consumer.seeks == []


def test_rewind_targets_use_the_batch_start_where_nothing_is_committed() -> None:
    committed = {("in", 0): -1001, ("in", 1): 40, ("in", 2): 5}
    first = {("in", 0): 7, ("in", 3): 9}  # partition 3 is no longer assigned
    assert rewind_targets(committed, first) == [("in", 0, 7), ("in", 1, 40), ("in", 2, 5)]
    assert rewind_targets({("in", 1): -1001}, first) == []  # nothing consumed, nothing set


def test_a_conflicting_commit_replaces_the_producer_without_a_doomed_abort() -> None:
    clock = FakeClock()
    conflict = fail(KafkaError._CONFLICT, retriable=True)  # an earlier call still runs
    first = ScriptedProducer(clock, "p0", commit=[conflict])
    consumer, factory = GroupConsumer(clock, dict(NOT_COMMITTED)), Factory(clock)
    publisher = publisher_with(first, consumer, clock, factory)
    run_batch(publisher, batch())
    assert "abort" not in first.calls and len(factory.made) == 1
    assert consumer.seeks == [(0, 7), (1, 40), (2, 3)]

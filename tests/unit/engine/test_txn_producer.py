"""The one owner of the exactly-once producer's life (fake clients and calls, fake clock):
replacements, and the calls left stuck with a gauge and a /readyz reason while any is
left, cleared once they end."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import KafkaError, KafkaException
from prometheus_client import CollectorRegistry

from consumer.engine.transactions import ExactlyOnce
from consumer.engine.txn_producer import ProducerLife
from consumer.observability.health import HealthReporter, HealthView, health_file
from consumer.observability.metrics import Metrics
from tests.fakes import FakeClock
from tests.fakes.txn import Factory, GroupConsumer, StuckCalls, TxnProducer
from tests.unit.engine.test_transactions import batch, run_batch
from tests.unit.engine.test_txn_recovery import NOT_COMMITTED

STUCK = "moodstream_txn_stuck_calls"


def test_a_stuck_call_is_counted_reported_and_cleared_once_it_ends() -> None:
    clock, registry, reasons = FakeClock(), CollectorRegistry(), list[str | None]()
    stuck = StuckCalls(clock)
    consumer, factory = GroupConsumer(clock, dict(NOT_COMMITTED)), Factory(clock)
    publisher = ExactlyOnce(TxnProducer(), consumer, clock, 5.0, Metrics(registry),
                            new_producer=factory, bounded=stuck, report=reasons.append)  # fmt: skip
    run_batch(publisher, batch())  # send_offsets stuck: the producer replaced
    assert publisher.recreated == 1 and publisher.stuck_calls == 1
    assert registry.get_sample_value(STUCK) == 1.0
    assert len(reasons) == 1 and "1 transactional call(s) stuck" in str(reasons[0])
    publisher.poll()  # still running: nothing changes
    assert len(reasons) == 1
    stuck.finish()  # the stuck call returned at last (its producer goes with it)
    publisher.poll()
    assert registry.get_sample_value(STUCK) == 0.0 and reasons[-1] is None
    assert publisher.stuck_calls == 0


def test_the_health_reason_makes_the_worker_not_ready_until_it_is_cleared(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    reporter = HealthReporter(health_file(tmp_path, 0), clock)
    view = HealthView(tmp_path, clock, stale_after_s=30.0)
    reporter.update(ready=True, assigned=True)
    assert view.readyz()[0]
    reporter.not_ready_because("txn_stuck_calls", "1 transactional call(s) stuck")
    reporter.update(ready=True, assigned=True)  # the loop's next heartbeat writes it
    ready, body = view.readyz()
    assert not ready and body["workers"]["0"]["problems"] == ["1 transactional call(s) stuck"]
    reporter.not_ready_because("txn_stuck_calls", None)
    reporter.update(ready=True, assigned=True)
    assert view.readyz()[0]


def test_a_replacement_purges_the_old_producer_and_initialises_the_new_one() -> None:
    clock, registry = FakeClock(), CollectorRegistry()
    first, made = TxnProducer(), list[TxnProducer]()

    def make() -> TxnProducer:
        made.append(TxnProducer())
        return made[-1]

    life = ProducerLife(first, clock, make=make, metrics=Metrics(registry))
    initialised: list[object] = []
    assert life.replace("fenced", initialised.append) is made[0]
    assert life.producer is made[0] and initialised == made
    assert first.calls == ["purge"] and life.recreated == 1
    assert registry.get_sample_value("moodstream_producer_recreated_total") == 1.0


def test_a_replacement_that_cannot_initialise_is_raised_and_not_counted() -> None:
    life = ProducerLife(TxnProducer(), FakeClock(), make=TxnProducer)

    def refuse(_producer: object) -> None:
        raise KafkaException(KafkaError(KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED))

    with pytest.raises(KafkaException):
        life.replace("fenced", refuse)
    assert life.recreated == 0 and life.replaceable

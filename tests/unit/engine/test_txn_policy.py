"""The exactly-once decision table, every row: (phase x error kind) -> action, written out
here as a grid so a change to the table must change this test too; and how librdkafka's
error flags and codes map to the kinds."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException

from consumer.engine.txn_calls import CallStuck
from consumer.engine.txn_policy import TABLE, Action, ErrorKind, Phase, classify, decide
from consumer.engine.txn_retry import TxnCallFailed

R, AR, RP, RW = (
    Action.RETRY,
    Action.ABORT_AND_REWIND,
    Action.REPLACE_PRODUCER,
    Action.RESTART_WORKER,
)
PHASES = [Phase.BEGIN, Phase.PRODUCE, Phase.SEND_OFFSETS, Phase.COMMIT, Phase.ABORT,
          Phase.INIT, Phase.COMMITTED]  # fmt: skip
# fmt: off
GRID: dict[ErrorKind, tuple[Action, ...]] = {
    #                          begin produce send_offsets commit abort init committed
    ErrorKind.RETRIABLE:       (RP,   RW,     R,           R,     R,    R,   R),
    ErrorKind.RETRIES_SPENT:   (RP,   RW,     AR,          AR,    RP,   RW,  RW),
    ErrorKind.TIMED_OUT:       (RP,   RW,     R,           R,     R,    R,   R),
    ErrorKind.OUTCOME_UNKNOWN: (RP,   RW,     RP,          RP,    RP,   RW,  RW),
    ErrorKind.CONFLICT:        (RP,   RW,     RP,          RP,    RP,   RW,  RW),
    ErrorKind.ABORTABLE:       (RP,   RW,     AR,          AR,    RP,   RW,  RW),
    ErrorKind.FENCED:          (RP,   RW,     RP,          RP,    RP,   RW,  RW),
    ErrorKind.INVALID_STATE:   (RP,   RW,     RP,          RP,    RP,   RW,  RW),
    ErrorKind.FATAL:           (RP,   RW,     RP,          RP,    RP,   RW,  RW),
    ErrorKind.STUCK:           (RP,   RW,     RP,          RP,    RP,   RW,  RW),
    ErrorKind.REFUSED:         (RP,   RW,     RP,          RP,    RP,   RW,  RW),
}
# fmt: on
ROWS = [
    (phase, kind, actions[column])
    for kind, actions in GRID.items()
    for column, phase in enumerate(PHASES)
]


def test_the_grid_covers_every_pair_once() -> None:
    assert set(GRID) == set(ErrorKind) and set(PHASES) == set(Phase)
    assert len(ROWS) == len(TABLE) == len(Phase) * len(ErrorKind)


@pytest.mark.parametrize(("phase", "kind", "action"), ROWS, ids=lambda v: str(v))
def test_every_row(phase: Phase, kind: ErrorKind, action: Action) -> None:
    assert decide(phase, kind) is action


def error(
    code: int, *, fatal: bool = False, retriable: bool = False, abortable: bool = False
) -> KafkaError:
    return KafkaError(code, fatal=fatal, retriable=retriable, txn_requires_abort=abortable)


@pytest.mark.parametrize(
    ("err", "late", "kind"),
    [
        (error(KafkaError.NOT_COORDINATOR, retriable=True), False, ErrorKind.RETRIABLE),
        (error(KafkaError.NOT_COORDINATOR, retriable=True), True, ErrorKind.RETRIES_SPENT),
        (error(KafkaError._TIMED_OUT, retriable=True), False, ErrorKind.TIMED_OUT),
        (error(KafkaError._TIMED_OUT, retriable=True), True, ErrorKind.OUTCOME_UNKNOWN),
        (error(KafkaError._TIMED_OUT), False, ErrorKind.OUTCOME_UNKNOWN),  # not resumable
        (error(KafkaError._CONFLICT, retriable=True), False, ErrorKind.CONFLICT),
        (error(KafkaError.ILLEGAL_GENERATION, abortable=True), False, ErrorKind.ABORTABLE),
        (error(KafkaError._FENCED, fatal=True), False, ErrorKind.FENCED),
        (error(KafkaError.PRODUCER_FENCED), False, ErrorKind.FENCED),
        (error(KafkaError.INVALID_PRODUCER_EPOCH, fatal=True), False, ErrorKind.FENCED),
        (error(KafkaError.INVALID_TXN_STATE), False, ErrorKind.INVALID_STATE),
        (error(KafkaError._STATE), False, ErrorKind.INVALID_STATE),
        (error(KafkaError._FATAL, fatal=True), False, ErrorKind.FATAL),
        (error(KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED), False, ErrorKind.REFUSED),
    ],
    ids=lambda v: str(v),
)
def test_errors_are_classified_by_their_flags_and_codes(
    err: KafkaError, late: bool, kind: ErrorKind
) -> None:
    assert classify(err, late=late) is kind


def test_a_phase_may_retry_codes_librdkafka_does_not_flag_retriable() -> None:
    moving = error(KafkaError.COORDINATOR_LOAD_IN_PROGRESS)
    assert classify(moving, late=False) is ErrorKind.REFUSED
    codes = frozenset({KafkaError.COORDINATOR_LOAD_IN_PROGRESS})
    assert classify(moving, late=False, retriable=codes) is ErrorKind.RETRIABLE


def test_a_failure_carries_its_cause_and_the_tables_action() -> None:
    fenced = KafkaException(error(KafkaError._FENCED, fatal=True))
    failed = TxnCallFailed.of(Phase.COMMIT, fenced)
    assert failed.action is RP and failed.cause is fenced and failed.kind is ErrorKind.FENCED
    stuck = TxnCallFailed(Phase.SEND_OFFSETS, ErrorKind.STUCK, CallStuck("no answer"))
    assert stuck.action is RP and stuck.why == "no answer"
    assert TxnCallFailed.of(Phase.ABORT, RuntimeError("odd")).kind is ErrorKind.REFUSED

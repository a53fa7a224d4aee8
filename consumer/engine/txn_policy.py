"""What the exactly-once publisher does when a transactional call fails: one pure table,
(error kind x phase) -> action, read by every place that handles a failure. Pure.

Actions: ``retry`` the call (with a back-off, within the phase's deadline; a timed-out
call is resumed by calling it again, as librdkafka asks); ``abort_and_rewind`` (abort
the transaction; its events are read and published again: after a replacement, below,
when there is a producer factory, so the aborted epoch ends with it, else by a seek back
to the batch's first offsets); ``replace_producer`` (a new producer with the same transactional id,
whose ``init_transactions`` fences the old one and ends its transaction, then a rewind
to the group's committed offsets: a transaction whose outcome is unknown may have
committed); ``restart_worker`` (raise: the supervisor restarts the worker, whose new
consumer resumes at the committed offsets). Without a producer factory,
``replace_producer`` restarts the worker too.

Why the rows read as they do:

- A retriable error past its deadline aborts (the coordinator was away too long; the
  batch is published again), but a call still timing out at its deadline may have
  committed: the producer is replaced and nothing aborted (aborting could not know).
- ``_CONFLICT`` (an earlier timed-out call still runs) replaces at once: an abort would
  conflict with the same call (retrying it spun at 25,000 calls a second).
- A stuck ``send_offsets_to_transaction`` (librdkafka #5456: it waited past its timeout
  for over 90 s) replaces the producer it holds.
- An abort that fails replaces the producer (its ``init_transactions`` ends the open
  transaction instead); a replacement that cannot initialise, or committed offsets that
  do not answer, restart the worker (nothing else knows where to go on).
- A record that cannot be queued (``produce``) restarts the worker after an abort.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from confluent_kafka import KafkaError


class Phase(StrEnum):
    """A transactional call (the value is librdkafka's name, used in logs and health)."""

    BEGIN = "begin_transaction"
    PRODUCE = "produce"
    SEND_OFFSETS = "send_offsets_to_transaction"
    COMMIT = "commit_transaction"
    ABORT = "abort_transaction"
    INIT = "init_transactions"  # a replacement producer's
    COMMITTED = "committed"  # the group's committed offsets, to rewind to


class ErrorKind(StrEnum):
    RETRIABLE = "retriable"  # retriable, before the phase's deadline
    RETRIES_SPENT = "retries_spent"  # retriable, at or past the deadline
    TIMED_OUT = "timed_out"  # _TIMED_OUT, resumable, before the deadline
    OUTCOME_UNKNOWN = "outcome_unknown"  # _TIMED_OUT at the deadline (or not resumable)
    CONFLICT = "conflict"  # _CONFLICT: an earlier timed-out call is still in progress
    ABORTABLE = "abortable"  # txn_requires_abort (a rebalance: ILLEGAL_GENERATION...)
    FENCED = "fenced"  # _FENCED, PRODUCER_FENCED, INVALID_PRODUCER_EPOCH
    INVALID_STATE = "invalid_state"  # INVALID_TXN_STATE, _STATE
    FATAL = "fatal"  # any other fatal error
    STUCK = "stuck"  # the call outlived its bound (consumer.engine.txn_calls)
    REFUSED = "refused"  # anything else: not retriable (authorization, a bad request)


class Action(StrEnum):
    RETRY = "retry"
    ABORT_AND_REWIND = "abort_and_rewind"
    REPLACE_PRODUCER = "replace_producer"
    RESTART_WORKER = "restart_worker"


_K, _A = ErrorKind, Action
#: A call that may be retried: what is not listed replaces the producer.
_ENDING = {
    _K.RETRIABLE: _A.RETRY,
    _K.RETRIES_SPENT: _A.ABORT_AND_REWIND,
    _K.TIMED_OUT: _A.RETRY,
    _K.ABORTABLE: _A.ABORT_AND_REWIND,
}
_RETRIED = {_K.RETRIABLE: _A.RETRY, _K.TIMED_OUT: _A.RETRY}

#: (phase, kind) -> action; every pair is present.
TABLE: dict[tuple[Phase, ErrorKind], Action] = {
    (phase, kind): rows.get(kind, otherwise)
    for phase, rows, otherwise in (
        (Phase.BEGIN, {}, _A.REPLACE_PRODUCER),
        (Phase.PRODUCE, {}, _A.RESTART_WORKER),
        (Phase.SEND_OFFSETS, _ENDING, _A.REPLACE_PRODUCER),
        (Phase.COMMIT, _ENDING, _A.REPLACE_PRODUCER),
        (Phase.ABORT, _RETRIED, _A.REPLACE_PRODUCER),
        (Phase.INIT, _RETRIED, _A.RESTART_WORKER),
        (Phase.COMMITTED, _RETRIED, _A.RESTART_WORKER),
    )
    for kind in ErrorKind
}


def decide(phase: Phase, kind: ErrorKind) -> Action:
    """The table's action for a failure of ``phase``."""
    return TABLE[(phase, kind)]


def classify(
    error: KafkaError, *, late: bool, retriable: frozenset[int] = frozenset()
) -> ErrorKind:
    """The kind of a librdkafka error; ``late``: the phase's deadline has passed;
    ``retriable``: codes this phase retries though librdkafka does not flag them so."""
    from confluent_kafka import KafkaError

    code = error.code()
    if code in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH):
        return ErrorKind.FENCED
    if error.fatal():
        return ErrorKind.FATAL
    if error.txn_requires_abort():
        return ErrorKind.ABORTABLE
    if code == KafkaError._CONFLICT:
        return ErrorKind.CONFLICT
    if code in (KafkaError.INVALID_TXN_STATE, KafkaError._STATE):
        return ErrorKind.INVALID_STATE
    resumable = error.retriable() or code in retriable
    if code == KafkaError._TIMED_OUT:
        return ErrorKind.TIMED_OUT if resumable and not late else ErrorKind.OUTCOME_UNKNOWN
    if resumable:
        return ErrorKind.RETRIES_SPENT if late else ErrorKind.RETRIABLE
    return ErrorKind.REFUSED

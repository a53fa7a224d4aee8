"""How the exactly-once publisher calls librdkafka's transactional APIs: again while the
decision table (``consumer.engine.txn_policy``) says ``retry``, with a back-off, within a
deadline, saying "alive, waiting on Kafka" to the hang detector between attempts; any
other failure is raised as ``TxnCallFailed``, holding the table's action.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from consumer.clock import Clock
from consumer.engine.txn_calls import CallStuck
from consumer.engine.txn_policy import Action, ErrorKind, Phase, classify, decide
from consumer.errors import MoodstreamError
from consumer.logs import log_event

_log = logging.getLogger("moodstream.delivery")
BACKOFF_MIN_S = 0.1
BACKOFF_MAX_S = 1.0


class TxnCallFailed(MoodstreamError):
    """A transactional call failed for good (``cause``: what it raised, a KafkaException
    or CallStuck), with what the decision table says to do (``consumer.engine.txn_policy``)."""

    def __init__(self, phase: Phase, kind: ErrorKind, cause: Exception) -> None:
        from confluent_kafka import KafkaException

        kafka = isinstance(cause, KafkaException)
        self.why: str = cause.args[0].str() if kafka else str(cause)
        super().__init__(f"{phase}: {self.why}")
        self.phase, self.kind, self.cause = phase, kind, cause
        self.action = decide(phase, kind)

    @classmethod
    def of(cls, phase: Phase, cause: Exception, *, late: bool = False) -> TxnCallFailed:
        """Classify what ``phase``'s call raised (a KafkaException; anything else is
        ``refused``)."""
        from confluent_kafka import KafkaException

        if isinstance(cause, KafkaException):
            return cls(phase, classify(cause.args[0], late=late), cause)
        return cls(phase, ErrorKind.REFUSED, cause)


class Retrying:
    """Retry a transactional call while its error is retriable and its deadline (monotonic)
    has not passed, serving delivery reports (``serve(timeout_s)``) for a growing back-off
    in between and telling ``waiting(what)`` (the hang detector) the worker is alive. Not
    thread-safe (the poll loop's thread)."""

    def __init__(
        self,
        clock: Clock,
        timeout_s: float,
        serve: Callable[[float], object],
        waiting: Callable[[str], None] | None = None,
    ) -> None:
        self._clock = clock
        self._timeout_s = timeout_s
        self._serve = serve
        self._waiting = waiting

    def alive(self, what: str) -> None:
        if self._waiting is not None:
            self._waiting(what)

    def call_timeout_s(self, deadline: float) -> float:
        """One call's timeout: its bound, or what is left before ``deadline`` (≥ 1 s)."""
        return max(1.0, min(self._timeout_s, deadline - self._clock.monotonic()))

    def run(
        self,
        phase: Phase,
        call: Callable[[float], None],
        deadline: float,
        retriable: frozenset[int] = frozenset(),
    ) -> None:
        """``call(timeout_s)``, again while the decision table says ``retry`` for its
        error (``retriable``: codes this phase retries too) before ``deadline``. Blocks up
        to the deadline plus one call; raises TxnCallFailed (holding the table's action)
        for any other KafkaException, or a CallStuck."""
        from confluent_kafka import KafkaException

        backoff_s = BACKOFF_MIN_S
        while True:
            try:
                call(self.call_timeout_s(deadline))
                return
            except CallStuck as exc:
                raise TxnCallFailed(phase, ErrorKind.STUCK, exc) from exc
            except KafkaException as exc:
                error = exc.args[0]
                late = self._clock.monotonic() >= deadline
                kind = classify(error, late=late, retriable=retriable)
                if decide(phase, kind) is not Action.RETRY:
                    raise TxnCallFailed(phase, kind, exc) from exc
                log_event(_log, "transaction_retry", level=logging.WARNING, call=str(phase),
                          error=error.str())  # fmt: skip
                self.alive(phase)
                self._serve(backoff_s)
                backoff_s = min(BACKOFF_MAX_S, 2 * backoff_s)

    def run_or_raise(
        self,
        phase: Phase,
        call: Callable[[float], None],
        deadline: float,
        retriable: frozenset[int] = frozenset(),
    ) -> None:
        """``run`` a call whose failure (past the table's retries) restarts the worker:
        raises what the call raised (KafkaException)."""
        try:
            self.run(phase, call, deadline, retriable)
        except TxnCallFailed as failed:
            assert failed.action is Action.RESTART_WORKER, failed.action
            raise failed.cause from None

"""How the exactly-once publisher calls librdkafka's transactional APIs: retried with a
back-off while the error is retriable, within a deadline, saying "alive, waiting on Kafka"
to the hang detector between attempts; and, for the one call that can block past its own
timeout, on a helper thread with a bound.

Why a thread: ``send_offsets_to_transaction`` waits without limit for its coordinator
request when the group coordinator dies (librdkafka #5456: the request's timeout is
never checked; #5511: a decommissioned coordinator is never re-looked-up). A worker was
seen in it for over 90 s, the 20 s timeout passed to it notwithstanding (py-spy:
``rd_kafka_send_offsets_to_transaction`` → ``rd_kafka_txn_op_req0`` → ``cnd_wait``), until
the supervisor killed it as hung. A Python thread cannot be cancelled, so the call is left
running on its thread (which holds the producer it was given) and ``CallStuck`` is raised:
the caller replaces that producer (same transactional id, which fences the stuck one).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from consumer.clock import Clock
from consumer.engine.txn_policy import Action, ErrorKind, Phase, classify, decide
from consumer.errors import MoodstreamError
from consumer.logs import log_event

if TYPE_CHECKING:
    pass

_log = logging.getLogger("moodstream.delivery")
#: How often a wait on a bounded call tells the hang detector the worker is alive, once
#: it has waited ``ALIVE_AFTER_S`` (a normal call answers in milliseconds: no file write).
ALIVE_EVERY_S = 1.0
ALIVE_AFTER_S = 5.0
BACKOFF_MIN_S = 0.1
BACKOFF_MAX_S = 1.0
#: Calls left running on their threads (each holding a replaced producer: its librdkafka
#: threads, sockets and buffers) that a worker tolerates before it restarts to free them.
MAX_STUCK_CALLS = 4


class CallStuck(MoodstreamError):
    """A librdkafka call did not return within its bound (it still runs on its thread)."""


class TooManyStuckCalls(MoodstreamError):
    """``MAX_STUCK_CALLS`` calls still run on their threads: only a restart frees them."""


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


#: ``bounded(call, bound_s, alive)``: run ``call()``; raise what it raises, or ``CallStuck``
#: after ``bound_s`` (calling ``alive()`` while it waits).
BoundedCall = Callable[[Callable[[], None], float, Callable[[], None]], None]


def on_thread(clock: Clock, max_stuck: int = MAX_STUCK_CALLS) -> BoundedCall:
    """A ``BoundedCall`` that runs the call on a daemon thread and waits for it, calling
    ``alive()`` every ``ALIVE_EVERY_S`` after the first ``ALIVE_AFTER_S``. Blocks up to
    ``bound_s``; the thread is left running when the call outlives it. A call made while
    ``max_stuck`` earlier ones still run raises ``TooManyStuckCalls`` without starting (the
    worker restarts: a stuck call cannot be cancelled, and each holds a producer). Not
    thread-safe (the poll loop's thread)."""
    stuck: list[threading.Thread] = []

    def bounded(call: Callable[[], None], bound_s: float, alive: Callable[[], None]) -> None:
        stuck[:] = [thread for thread in stuck if thread.is_alive()]
        if len(stuck) >= max_stuck:
            raise TooManyStuckCalls(
                f"{len(stuck)} librdkafka transactional calls are still stuck on their threads "
                "(librdkafka #5456), each holding a replaced producer: restarting the worker "
                "to free them"
            )
        done = threading.Event()
        failure: list[BaseException] = []

        def target() -> None:
            try:
                call()
            except BaseException as exc:  # handed to the waiting thread
                failure.append(exc)
            finally:
                done.set()

        thread = threading.Thread(target=target, name="txn-call", daemon=True)
        thread.start()
        started = clock.monotonic()
        deadline = started + bound_s
        while not done.wait(max(0.0, min(ALIVE_EVERY_S, deadline - clock.monotonic()))):
            now = clock.monotonic()
            if now >= deadline:
                stuck.append(thread)
                log_event(_log, "txn_call_left_running", level=logging.WARNING,
                          after_s=round(bound_s, 1), still_running=len(stuck))  # fmt: skip
                raise CallStuck(f"no answer after {bound_s:.1f} s")
            if now - started >= ALIVE_AFTER_S:
                alive()
        if failure:
            raise failure[0]

    return bounded


def inline(call: Callable[[], None], _bound_s: float, _alive: Callable[[], None]) -> None:
    """A ``BoundedCall`` that just calls (tests, and calls that honour their timeout)."""
    call()


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

"""How the exactly-once publisher runs the one librdkafka call that can block past its own
timeout: on a helper thread, with a bound (the retries around it: ``txn_retry``).

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
from typing import Protocol

from consumer.clock import Clock
from consumer.errors import MoodstreamError
from consumer.logs import log_event

_log = logging.getLogger("moodstream.delivery")
#: How often a wait on a bounded call tells the hang detector the worker is alive, once
#: it has waited ``ALIVE_AFTER_S`` (a normal call answers in milliseconds: no file write).
ALIVE_EVERY_S = 1.0
ALIVE_AFTER_S = 5.0
#: Calls left running on their threads (each holding a replaced producer: its librdkafka
#: threads, sockets and buffers) that a worker tolerates before it restarts to free them.
MAX_STUCK_CALLS = 4


class CallStuck(MoodstreamError):
    """A librdkafka call did not return within its bound (it still runs on its thread)."""


class TooManyStuckCalls(MoodstreamError):
    """``MAX_STUCK_CALLS`` calls still run on their threads: only a restart frees them."""


class BoundedCalls(Protocol):
    """Runs calls that may block past their own timeout, each with a bound."""

    def __call__(self, call: Callable[[], None], bound_s: float, alive: Callable[[], None]) -> None:
        """Run ``call()``; raise what it raises, or ``CallStuck`` after ``bound_s`` (calling
        ``alive()`` while it waits); ``TooManyStuckCalls`` when too many are left running."""

    def left(self) -> int:
        """How many calls still run past their bound (each holding a replaced producer)."""


class InlineCalls:
    """``BoundedCalls`` that just call (tests, and calls that honour their timeout)."""

    def __call__(self, call: Callable[[], None], bound_s: float, alive: Callable[[], None]) -> None:
        call()

    def left(self) -> int:
        return 0


class OnThread:
    """``BoundedCalls`` on daemon threads: waits for each call, calling ``alive()`` every
    ``ALIVE_EVERY_S`` after the first ``ALIVE_AFTER_S``; blocks up to ``bound_s``, and
    leaves the thread running when the call outlives it. A call made while ``max_stuck``
    earlier ones still run raises ``TooManyStuckCalls`` without starting (the worker
    restarts: a stuck call cannot be cancelled, and each holds a producer). Not
    thread-safe (the poll loop's thread)."""

    def __init__(self, clock: Clock, max_stuck: int = MAX_STUCK_CALLS) -> None:
        self._clock = clock
        self._max_stuck = max_stuck
        self._stuck: list[threading.Thread] = []

    def left(self) -> int:
        if self._stuck:  # asked at every loop step: nothing to do in the usual case
            self._stuck = [thread for thread in self._stuck if thread.is_alive()]
        return len(self._stuck)

    def __call__(self, call: Callable[[], None], bound_s: float, alive: Callable[[], None]) -> None:
        if self.left() >= self._max_stuck:
            raise TooManyStuckCalls(
                f"{len(self._stuck)} librdkafka transactional calls are still stuck on their "
                "threads (librdkafka #5456), each holding a replaced producer: restarting the "
                "worker to free them"
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
        self._wait(thread, done, bound_s, alive)
        if failure:
            raise failure[0]

    def _wait(
        self,
        thread: threading.Thread,
        done: threading.Event,
        bound_s: float,
        alive: Callable[[], None],
    ) -> None:
        """Wait for ``done`` up to ``bound_s``; after it, keep ``thread`` as stuck and raise
        CallStuck."""
        clock = self._clock
        started = clock.monotonic()
        deadline = started + bound_s
        while not done.wait(max(0.0, min(ALIVE_EVERY_S, deadline - clock.monotonic()))):
            now = clock.monotonic()
            if now >= deadline:
                self._stuck.append(thread)
                log_event(_log, "txn_call_left_running", level=logging.WARNING,
                          after_s=round(bound_s, 1), still_running=len(self._stuck))  # fmt: skip
                raise CallStuck(f"no answer after {bound_s:.1f} s")
            if now - started >= ALIVE_AFTER_S:
                alive()


def on_thread(clock: Clock, max_stuck: int = MAX_STUCK_CALLS) -> OnThread:
    """The service's ``BoundedCalls`` (``OnThread``)."""
    return OnThread(clock, max_stuck)

"""Every wait of the exactly-once recovery, derived from one budget. Pure.

A batch's ``end`` blocks the poll loop (no ``consume``) through its recovery; the longest
path is: the commit phase's retries (``send_offsets_to_transaction`` and
``commit_transaction`` together) and the commit's resumption past them, an abort's
retries that fail, a replacement producer's ``init_transactions``, and the group's
committed offsets read (again after a failed seek: both reads share one deadline). The
budget is ``BUDGET_CALLS`` x one call's timeout (``KAFKA__CONNECT_TIMEOUT_S``: 20 s gives
210 s), and each wait is a share of it:

=========================== ======= ====== ===========================================
wait                        share   at 20  why
=========================== ======= ====== ===========================================
one phase's retries         1/7     30 s   a coordinator moving answers within it
a commit's resumption past  1/7     30 s   a commit still timing out may have committed
its phase's retries                        on some partitions: replacing the producer
                                           then may abort the rest (RELIABILITY.md, the
                                           split outcome of session 30)
committed-offset reads      3/7     90 s   a 45 s half-open group coordinator crashed a
                                           worker at 30 s
a replacement: its init and 4/7     120 s  a 45 s half-open (or restarting) transaction
the committed reads after it               coordinator crashed a worker at 30 s of init
send_offsets' own timeout   1/21    10 s   it answers in milliseconds when it answers
its grace before "stuck"    1/105   2 s    librdkafka #5456: 20 + 5 s cost a 25.6 s gap
=========================== ======= ====== ===========================================

A replacement's ``init_transactions`` may use the whole of its share (until its
coordinator answers: a restarted worker would wait on the same coordinator), the reads
after it what is left, at most their own share. Two phases, the commit's resumption and
a replacement fill the budget; each phase may overrun its deadline by its last call's
minimum timeout and the stuck grace. Settings validation refuses an exactly-once
configuration whose worst case reaches ``KAFKA__MAX_POLL_INTERVAL_MS``: the
group would drop the worker in the middle of its recovery.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The whole recovery, in call timeouts (210 s at the default 20 s).
BUDGET_CALLS = 10.5
RETRY_SHARE = 1 / 7
COMMIT_RESUME_SHARE = 1 / 7
COMMITTED_SHARE = 3 / 7
SEND_OFFSETS_SHARE = 1 / 21
STUCK_GRACE_SHARE = 1 / 105
#: A call's shortest timeout (``Retrying.call_timeout_s``): the most a phase may overrun.
MIN_CALL_S = 1.0
#: The phases that may run one after another in a recovery (commit, abort, init, reads).
PHASES_IN_A_ROW = 4


@dataclass(frozen=True)
class TxnBudget:
    """The recovery waits of a worker whose Kafka calls time out after ``call_s``."""

    call_s: float

    @property
    def total_s(self) -> float:
        return BUDGET_CALLS * self.call_s

    @property
    def retry_s(self) -> float:
        """How long one phase (commit, abort, a replacement's init) retries."""
        return RETRY_SHARE * self.total_s

    @property
    def commit_resume_s(self) -> float:
        """How much longer than its phase's retries ``commit_transaction`` is resumed while
        it times out or fails retriably: its outcome is unknown then, and a replacement
        producer's ``init_transactions`` could abort partitions a coordinator committed."""
        return COMMIT_RESUME_SHARE * self.total_s

    @property
    def committed_s(self) -> float:
        """How long one recovery reads the group's committed offsets, all reads together."""
        return COMMITTED_SHARE * self.total_s

    @property
    def replacement_s(self) -> float:
        """How long a replacement producer's ``init_transactions`` and the committed-offset
        reads after it take together (one deadline; the reads at most ``committed_s``)."""
        return self.retry_s + self.committed_s

    @property
    def send_offsets_s(self) -> float:
        """``send_offsets_to_transaction``'s timeout at most."""
        return SEND_OFFSETS_SHARE * self.total_s

    @property
    def stuck_grace_s(self) -> float:
        """How much longer than its timeout a bounded call may take before it is stuck."""
        return STUCK_GRACE_SHARE * self.total_s

    def worst_s(self) -> float:
        """The longest one batch's ``end`` may hold the poll loop."""
        slack = PHASES_IN_A_ROW * MIN_CALL_S + self.stuck_grace_s
        return 2 * self.retry_s + self.commit_resume_s + self.replacement_s + slack

    def problem(self, max_poll_interval_ms: int) -> str | None:
        """Why this budget does not fit ``max.poll.interval.ms`` (None: it fits)."""
        if self.worst_s() < max_poll_interval_ms / 1000.0:
            return None
        return (
            "with PROCESSING__GUARANTEE=exactly_once a transaction's recovery may hold the "
            f"poll loop {self.worst_s():.0f} s "
            f"({BUDGET_CALLS:g} x KAFKA__CONNECT_TIMEOUT_S={self.call_s:g} s, plus "
            f"{self.worst_s() - self.total_s:.0f} s of slack), not less than "
            f"KAFKA__MAX_POLL_INTERVAL_MS={max_poll_interval_ms}: the group would drop the "
            "worker mid-recovery; lower KAFKA__CONNECT_TIMEOUT_S or raise "
            "KAFKA__MAX_POLL_INTERVAL_MS"
        )

"""Has the consumer group settled? Start-up readiness waits for it.

A worker that joins a group does not own its share at once: with the cooperative-sticky
assignor a new member first gets nothing while the others revoke, and only a second
round hands the revoked partitions over (about a second on the local broker). Records
produced in between wait in Kafka for an owner. So a worker reports ready only once the
group is *settled*: its state is ``STABLE`` and every partition of the input topic is
assigned to some member (of this instance or any other).

``GroupSettle`` asks the cluster with ``describe_consumer_groups`` (one request in flight
at a time, polled without blocking) and remembers the first yes: readiness is a start-up
gate, later rebalances do not take it back. It gives up waiting after ``max_wait_s``
(a group another client keeps rebalancing, an ACL without DESCRIBE): it then reports
settled and logs why, so a misbehaving neighbour never keeps the service unready.

Used from one thread (the poll loop). Not thread-safe.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Any

from consumer.logs import log_event

_log = logging.getLogger("moodstream.group")
#: How often the group's state is asked for while it is not settled.
ASK_EVERY_S = 0.2


def group_covers(
    state: str, assignments: Iterable[Iterable[Any]], topic: str, partitions: int
) -> bool:
    """True when the group is stable and its members' assignments (each a list of topic
    partitions with ``.topic`` and ``.partition``) cover all ``partitions`` of ``topic``.
    Pure."""
    if state.upper() != "STABLE":
        return False
    owned = {tp.partition for members in assignments for tp in members if tp.topic == topic}
    return owned >= set(range(partitions))


Describe = Callable[[str], "Future[Any]"]


class GroupSettle:
    """Polls the group's description until it is settled (see the module docstring)."""

    def __init__(
        self,
        describe: Describe,
        group: str,
        topic: str,
        partitions: int,
        started_at: float,
        max_wait_s: float,
    ) -> None:
        self._describe = describe
        self._group = group
        self._topic = topic
        self._partitions = partitions
        self._give_up_at = started_at + max_wait_s
        self._pending: Future[Any] | None = None
        self._next_ask = started_at
        self.settled = False

    def check(self, now: float) -> bool:
        """Non-blocking: collect an answer if one came, ask again when due. Returns
        ``settled``. Never raises (a failed request is asked again)."""
        if self.settled:
            return True
        if self._pending is not None and self._pending.done():
            self.settled = self._answer(self._pending)
            self._pending = None
        if not self.settled and now >= self._give_up_at:
            log_event(
                _log,
                "group_not_settled",
                level=logging.WARNING,
                group=self._group,
                action="reporting ready anyway",
            )
            self.settled = True
        if not self.settled and self._pending is None and now >= self._next_ask:
            self._next_ask = now + ASK_EVERY_S
            self._pending = self._ask()
        return self.settled

    def _ask(self) -> Future[Any] | None:
        try:
            return self._describe(self._group)
        except Exception as exc:  # asked again at the next check
            log_event(_log, "group_describe_failed", level=logging.WARNING, error=str(exc))
            return None

    def _answer(self, future: Future[Any]) -> bool:
        try:
            description = future.result()
        except Exception as exc:  # asked again at the next check
            log_event(_log, "group_describe_failed", level=logging.WARNING, error=str(exc))
            return False
        state = getattr(description.state, "name", str(description.state))
        assignments = [
            m.assignment.topic_partitions if m.assignment else [] for m in description.members
        ]
        return group_covers(state, assignments, self._topic, self._partitions)


def admin_describe(config: dict[str, Any]) -> Describe:
    """A ``describe`` callable over a new AdminClient (dropped with the callable).
    Worker-only (a Kafka client: never before a fork). Does not block."""
    from confluent_kafka.admin import AdminClient

    from consumer.kafka.config import new_client

    admin = new_client(AdminClient, config)

    def describe(group: str) -> Future[Any]:
        return admin.describe_consumer_groups([group], request_timeout=5)[group]

    return describe

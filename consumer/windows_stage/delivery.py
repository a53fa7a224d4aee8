"""How the windows stage publishes a batch in each guarantee.

- at-least-once (``Ordered``): the events and dead letters acknowledged, then the store's
  changelog, then the offsets may be committed (``engine.stage.OrderedAtLeastOnce``); a
  timer's events and changelog are sent the same way, outside any offset.
- exactly-once (``Transactional``): one transaction per batch holding the events, the
  dead letters, the changelog and the input offsets (``engine.transactions.ExactlyOnce``).
  A timer's events and changelog get a transaction of their own (without offsets). When a
  transaction is aborted and its batch rewound (or the producer replaced), the local
  state is ahead of what was committed: ``batch`` returns True and the caller rebuilds
  every store from the changelog (read_committed) before going on.

Used from the poll loop's thread only; every call blocks on Kafka.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from consumer.engine.batch_records import BatchResult, OutRecord, SourceResult
from consumer.engine.delivery import Publisher
from consumer.engine.stage import OrderedAtLeastOnce
from consumer.engine.transactions import ExactlyOnce

ACK_TIMEOUT_S = 60.0


class Delivery(Protocol):
    @property
    def publisher(self) -> Publisher: ...

    def batch(self, sources: list[SourceResult], changelog: list[OutRecord]) -> bool:
        """Publish a batch; True when it was rewound (rebuild the state)."""
        ...

    def timers(self, events: list[OutRecord], changelog: list[OutRecord]) -> bool:
        """Publish a timer's records; True when they were not (rebuild the state)."""
        ...


@dataclass
class Ordered:
    publisher: OrderedAtLeastOnce

    def batch(self, sources: list[SourceResult], changelog: list[OutRecord]) -> bool:
        self.publisher.publish_ordered(sources, changelog, ACK_TIMEOUT_S)
        return False

    def timers(self, events: list[OutRecord], changelog: list[OutRecord]) -> bool:
        self.publisher.publish_untracked(events, changelog, ACK_TIMEOUT_S)
        return False


@dataclass
class Transactional:
    publisher: ExactlyOnce

    def batch(self, sources: list[SourceResult], changelog: list[OutRecord]) -> bool:
        if not sources:
            return False
        first = sources[0]
        carrier = SourceResult(first.tp, first.offset, first.polled_at, changelog)
        return self._transaction(sources, [*sources, carrier])

    def timers(self, events: list[OutRecord], changelog: list[OutRecord]) -> bool:
        if not events and not changelog:
            return False
        carrier = SourceResult(("", -1), -1, 0.0, [*events, *changelog])
        return self._transaction([], [carrier])  # no offsets: librdkafka sends none

    def _transaction(self, sources: list[SourceResult], parts: list[SourceResult]) -> bool:
        before = (self.publisher.aborted, self.publisher.recreated)
        self.publisher.begin(sources)
        self.publisher.publish(BatchResult(parts))
        self.publisher.end(sources)
        return (self.publisher.aborted, self.publisher.recreated) != before

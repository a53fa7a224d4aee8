"""The features-only backlog every system of ``moodstream bench --peers`` drains, and the
engine-cost tools with it: seeded, so the same events every run. Pure but for the clock."""

from __future__ import annotations

from datetime import UTC, datetime

from consumer.bench.kafkaio import Record
from consumer.producer.synthetic_events import SyntheticEvents

SEED = 25


def backlog_records(events: int) -> list[Record]:
    """``events`` distinct features-only events (seeded: the same every run). Blocks
    (about 0.3 ms an event)."""
    source = SyntheticEvents(SEED, users=200, activity_share=0.0)
    now = datetime.now(UTC)
    return [(r.key, r.value) for r in (source.next_record(now) for _ in range(events))]

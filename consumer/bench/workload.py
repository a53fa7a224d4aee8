"""The two benchmark workloads, as pools of pre-encoded synthetic events.

Exactly the configured share of events carries a week of activity, spread evenly (half
of those also carry features, as in ``moodstream produce``). Events are generated once
(the generator costs ~0.3 ms an event, more than the service spends on one) and cycled;
predictions are matched to inputs by source offset, so a repeated event id does not
matter. Not thread-safe.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from consumer.bench.kafkaio import Record
from consumer.producer.synthetic_events import SyntheticEvents

ACTIVITY_SHARES: Final = {
    "features_only": 0.0,
    "mixed": 0.1,
    "activity_backlog": 1.0,
    "mixed_half": 0.5,
}
SEED: Final = 6


@dataclass(frozen=True)
class Workload:
    name: str
    records: tuple[Record, ...]
    activity: tuple[bool, ...]  # per record: carries a week of activity
    features: tuple[bool, ...]  # per record: carries the 36 features

    @property
    def activity_share(self) -> float:
        return sum(self.activity) / len(self.records)

    @property
    def feature_share(self) -> float:
        return sum(self.features) / len(self.records)

    def values_where(self, *, activity: bool) -> list[bytes]:
        return [
            value
            for (_, value), has in zip(self.records, self.activity, strict=True)
            if has == activity
        ]

    def describe(self) -> dict[str, Any]:
        sizes = [len(value) for _, value in self.records]
        return {
            "activity_share_configured": ACTIVITY_SHARES[self.name],
            "activity_share": round(self.activity_share, 4),
            "feature_share": round(self.feature_share, 4),
            "pool_events": len(self.records),
            "mean_event_bytes": round(sum(sizes) / len(sizes), 1),
        }


def build_workload(name: str, pool_size: int) -> Workload:
    """Generate ``pool_size`` events of workload ``name`` (seeded: the same every run)."""
    share = ACTIVITY_SHARES[name]
    plain = SyntheticEvents(SEED, users=200, activity_share=0.0)
    weekly = SyntheticEvents(SEED + 1, users=200, activity_share=1.0)
    now = datetime.now(UTC)
    records, activity, features = [], [], []
    for index in range(pool_size):
        # exactly ``share`` of the events carry activity, evenly spread
        with_activity = int((index + 1) * share) > int(index * share)
        record = (weekly if with_activity else plain).next_record(now)
        records.append((record.key, record.value))
        activity.append(record.has_activity)
        features.append(b'"features"' in record.value)
    return Workload(name, tuple(records), tuple(activity), tuple(features))

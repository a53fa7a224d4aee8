"""The reference upstream producer's events: plausible, reproducible FeatureEvents.

Each synthetic user keeps stable per-person baselines (MN, SD) across days while the daily
Z-scores move, as in real data; a share of events carry a synthetic week of minute activity
with a daily rhythm. Same seed → same events (ids included). NOT real data.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import orjson

from consumer.models.synthetic import synthetic_baselines, synthetic_features, synthetic_week
from schemas import FEATURE_NAMES


@dataclass(frozen=True)
class SyntheticRecord:
    key: bytes
    value: bytes
    event_id: str
    has_activity: bool


class SyntheticEvents:
    """An endless, deterministic stream of encoded events. Not thread-safe."""

    def __init__(
        self, seed: int, *, users: int = 200, activity_share: float = 0.0, start: date | None = None
    ) -> None:
        if not 0.0 <= activity_share <= 1.0:
            raise ValueError("activity share must be within [0, 1]")
        if users < 1:
            raise ValueError("users must be >= 1")
        self._rng = np.random.default_rng(seed)
        self._users = [f"user-{seed}-{i:05d}" for i in range(users)]
        self._mn, self._sd = synthetic_baselines(self._rng, users)
        self._activity_share = activity_share
        self._start = start or date(2026, 1, 1)
        self._day_of_user = [0] * users

    def __iter__(self) -> Iterator[SyntheticRecord]:
        while True:
            yield self.next_record(datetime.now().astimezone())

    def next_record(self, emitted_at: datetime) -> SyntheticRecord:
        rng = self._rng
        user = int(rng.integers(len(self._users)))
        day = self._day_of_user[user]
        self._day_of_user[user] = day + 1
        event_id = str(uuid.UUID(bytes=rng.bytes(16), version=4))
        event: dict[str, object] = {
            "schema_version": 1,
            "event_id": event_id,
            "user_id": self._users[user],
            "as_of": (self._start + timedelta(days=day)).isoformat(),
            "emitted_at": emitted_at.isoformat(),
        }
        with_activity = bool(rng.random() < self._activity_share)
        if with_activity:
            event["activity"] = synthetic_week(rng, disrupted=bool(rng.random() < 0.3))
        if not with_activity or rng.random() < 0.5:
            row = synthetic_features(rng, 1, mn=self._mn[user], sd=self._sd[user])[0]
            event["features"] = {
                name: (None if np.isnan(v) else round(float(v), 5))
                for name, v in zip(FEATURE_NAMES, row, strict=True)
            }
        value = orjson.dumps(event, option=orjson.OPT_SERIALIZE_NUMPY)
        return SyntheticRecord(self._users[user].encode(), value, event_id, with_activity)

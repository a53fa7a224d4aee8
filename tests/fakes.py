"""Small fakes shared by unit tests: a fake clock and event builders (no Kafka, no models)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from schemas import ACTIVITY_MINUTES, FEATURE_NAMES, FeatureEvent


@dataclass
class FakeClock:
    """Monotonic and wall time that only move when the test says so."""

    t: float = 1_000.0
    start: datetime = field(default_factory=lambda: datetime(2026, 11, 27, 10, 0, tzinfo=UTC))

    def monotonic(self) -> float:
        return self.t

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.t - 1_000.0)

    def advance(self, seconds: float) -> None:
        self.t += seconds


def feature_values(seed: int = 0) -> dict[str, float | None]:
    values: dict[str, float | None] = {}
    for i, name in enumerate(FEATURE_NAMES):
        if name.endswith("_Zscore"):
            values[name] = ((i * 7 + seed) % 11 - 5) / 3.0
        elif name.startswith("Sleep_percentage"):
            values[name] = 0.3 + 0.01 * ((i + seed) % 10)
        else:
            values[name] = 1.0 + ((i * 3 + seed) % 7)
    return values


def event_dict(
    *, features: bool = True, activity: bool = False, seed: int = 0, **overrides: Any
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "schema_version": 1,
        "event_id": str(uuid.UUID(int=seed + 1)),
        "user_id": f"user-{seed % 50}",
        "as_of": "2026-11-26",
        "emitted_at": "2026-11-27T09:59:00Z",
    }
    if features:
        event["features"] = feature_values(seed)
    if activity:
        event["activity"] = [float((m % 1440) // 60) for m in range(ACTIVITY_MINUTES)]
    event.update(overrides)
    return event


def event_bytes(**kwargs: Any) -> bytes:
    return orjson.dumps(event_dict(**kwargs))


def make_event(**kwargs: Any) -> FeatureEvent:
    return FeatureEvent.model_validate_json(event_bytes(**kwargs))

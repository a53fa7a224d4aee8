"""The reference producer's activity samples (issue 26): minute-level synthetic users.

Each user lives in one of a few zones (one crossing a daylight-saving change in the
default span: ``America/New_York`` on 2026-03-08), and has ``days`` local days of minute
activity (``models.synthetic.synthetic_week``'s rhythm), sent as records the way
wearable pipelines send them:

- per local day either one daily record (split at gaps and at 1,440 values) or hourly
  ones; ``missing`` of the minutes never sent (gaps of 10 minutes): ``whole`` of the
  user-days have no gap (their weeks close as complete), the others miss
  ``missing / (1 - whole)``; ``sparse`` users send only every other day (their weeks
  fall below the coverage floor);
- ``duplicates`` of the records sent twice; ``conflicts`` of them re-sent with a value
  changed, as late as the lateness allows (after the original and its duplicate: the
  re-send is the truth; a week that already closed as complete is revised);
- shuffled within ``lateness_s``: a record is sent before any record ending more than
  ``lateness_s`` after it ends (so a day is whole once the stream passes its end plus
  that lateness, and a re-send never reaches a week whose oldest day left the retention);
- each user-day's features (``FeatureEvent`` with features only) for the other topic, in
  day order (every user's first day, then every user's second, ...).

``truth`` holds the generator's own minutes (epoch minute -> value, after the conflicting
re-sends) so a test can build the reference week itself. Same seed, same records.
Pure; not thread-safe.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import orjson

from consumer.models.synthetic import synthetic_baselines, synthetic_features, synthetic_week
from schemas import FEATURE_NAMES

F64 = npt.NDArray[np.float64]
ZONES: Final = ("America/New_York", "Asia/Kolkata", "UTC")
_GAP: Final = 10  # minutes per missing gap
_MAX_VALUES: Final = 1_440


@dataclass(frozen=True)
class SamplesPlan:
    users: int = 20
    days: int = 9
    first_day: date = date(2026, 3, 3)  # New York springs forward on 2026-03-08
    zones: tuple[str, ...] = ZONES
    missing: float = 0.03
    whole: float = 0.4
    duplicates: float = 0.05
    conflicts: float = 0.01
    sparse: float = 0.1
    hourly: float = 0.5
    lateness_s: float = 25 * 3_600.0
    features: bool = True


@dataclass(frozen=True)
class SampleRecord:
    key: bytes
    value: bytes
    end_minute: int


@dataclass
class SyntheticSamples:
    """The records of a ``SamplesPlan`` (see the module doc)."""

    seed: int
    plan: SamplesPlan = field(default_factory=SamplesPlan)
    truth: dict[str, dict[int, float]] = field(init=False, default_factory=dict)
    zone_of: dict[str, str] = field(init=False, default_factory=dict)
    samples: list[SampleRecord] = field(init=False, default_factory=list)
    day_features: list[tuple[bytes, bytes]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        plan = self.plan
        mn, sd = synthetic_baselines(rng, plan.users)
        records: list[SampleRecord] = []
        features: list[tuple[date, tuple[bytes, bytes]]] = []
        for i in range(plan.users):
            user = f"user-{self.seed}-{i:05d}"
            self.zone_of[user] = plan.zones[i % len(plan.zones)]
            self.truth[user] = {}
            sparse = rng.random() < plan.sparse
            weeks = -(-(plan.days + 1) // 7)  # a spare day for a 1,500-minute day
            rhythm = np.concatenate(
                [synthetic_week(rng, disrupted=bool(rng.random() < 0.3)) for _ in range(weeks)]
            )
            for d in range(plan.days):
                day = plan.first_day + timedelta(days=d)
                if not (sparse and d % 2):
                    records += self._day(rng, user, day, rhythm[d * 1_440 :])
                if plan.features:
                    features.append((day, self._features(rng, user, day, mn[i], sd[i])))
        self.samples = self._arrange(rng, records)
        # Day by day, as a feature pipeline sends them: a user's first day's features must
        # not queue behind every other user's whole span (the stage reads both topics at
        # once, and features of a day past the retention are refused as too_old).
        self.day_features = [pair for _, pair in sorted(features, key=lambda f: f[0])]

    def _day(
        self, rng: np.random.Generator, user: str, day: date, rhythm: npt.NDArray[np.float32]
    ) -> list[SampleRecord]:
        """The records of one local day, its minutes from ``rhythm`` (from its midnight)."""
        tz = self.zone_of[user]
        start, end = _local_day(day, tz)
        values = rhythm[: end - start].astype(float)
        plan = self.plan
        missing = 0.0 if rng.random() < plan.whole else plan.missing / (1 - plan.whole)
        present = rng.random((end - start + _GAP - 1) // _GAP) >= missing
        present = np.repeat(present, _GAP)[: end - start]
        size = 60 if rng.random() < self.plan.hourly else _MAX_VALUES
        out = []
        for first, stop in _runs(present, size):
            chunk: list[float] = values[first:stop].tolist()
            self.truth[user].update(zip(range(start + first, start + stop), chunk, strict=True))
            out.append(self._record(user, start + first, chunk))
        return out

    def _record(self, user: str, start: int, values: list[float]) -> SampleRecord:
        body = {
            "schema_version": 1,
            "user_id": user,
            "start": datetime.fromtimestamp(start * 60, UTC).isoformat(),
            "interval_s": 60,
            "values": values,
            "tz": self.zone_of[user],
        }
        return SampleRecord(user.encode(), orjson.dumps(body), start + len(values))

    def _features(
        self, rng: np.random.Generator, user: str, day: date, mn: F64, sd: F64
    ) -> tuple[bytes, bytes]:
        row = synthetic_features(rng, 1, mn=mn, sd=sd)[0]
        event = {
            "schema_version": 1,
            "event_id": str(_uuid(rng)),
            "user_id": user,
            "as_of": day.isoformat(),
            "emitted_at": datetime(2026, 1, 1, tzinfo=UTC).isoformat(),
            "features": {
                name: (None if np.isnan(v) else round(float(v), 5))
                for name, v in zip(FEATURE_NAMES, row, strict=True)
            },
        }
        return user.encode(), orjson.dumps(event)

    def _arrange(self, rng: np.random.Generator, records: list[SampleRecord]) -> list[SampleRecord]:
        """Duplicates and conflicting re-sends, shuffled within the lateness."""
        late_min = self.plan.lateness_s / 60
        origin = list(range(len(records)))
        origin += [i for i in origin if rng.random() < self.plan.duplicates]
        keys = [records[i].end_minute + rng.random() * late_min for i in origin]
        sent = [records[i] for i in origin]
        for record in records:
            if rng.random() < self.plan.conflicts:  # a re-poll as late as the lateness allows
                sent.append(self._conflict(rng, record))
                keys.append(record.end_minute + late_min)  # after every copy
        return [sent[i] for i in np.argsort(keys, kind="stable")]

    def _conflict(self, rng: np.random.Generator, record: SampleRecord) -> SampleRecord:
        body = orjson.loads(record.value)
        values = [float(v) for v in body["values"]]
        position = int(rng.integers(len(values)))
        values[position] += 1.0 + float(rng.integers(50))
        start = record.end_minute - len(values)
        user = str(body["user_id"])
        for k, v in enumerate(values):
            self.truth[user][start + k] = v
        return self._record(user, start, values)

    def __iter__(self) -> Iterator[SampleRecord]:
        return iter(self.samples)


def _local_day(day: date, tz: str) -> tuple[int, int]:
    """[first, end) real minutes of local ``day`` (computed here, apart from the stage)."""
    zone = ZoneInfo(tz)
    first = datetime(day.year, day.month, day.day, tzinfo=zone)
    nxt = day + timedelta(days=1)
    last = datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone)
    return int(first.timestamp()) // 60, int(last.timestamp()) // 60


def _runs(present: npt.NDArray[np.bool_], size: int) -> Iterator[tuple[int, int]]:
    """[first, stop) runs of present minutes, each at most ``size`` long."""
    edges = np.diff(np.concatenate([[0], present.astype(np.int8), [0]]))
    for first, stop in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
        for i in range(int(first), int(stop), size):
            yield i, min(i + size, int(stop))


def _uuid(rng: np.random.Generator) -> str:
    import uuid

    return str(uuid.UUID(bytes=rng.bytes(16), version=4))

"""The windows stage bench's input and its logic-only figure (issue 26, item 7).

``day_chunks``: each user's ``DAYS`` UTC days (the last one today) of minute activity
(``synthetic_week``'s rhythm), one record of 1,440 values per user-day, all users' first
day, then their second, ... (a backfill). ``minute_records``: one-minute records (one
value each), every user's minute in turn, from yesterday's midnight. Both are iterators
of encoded ``(key, value)`` (memory stays small whatever the count); same seed, same
records. ``logic_rates`` feeds such records to one partition's windower over a RocksDB
store in a temporary directory, without Kafka: decode + windower + store, process CPU
time. Blocks; raises nothing of its own.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson

from consumer.bench.kafkaio import Record
from consumer.clock import SystemClock
from consumer.models.synthetic import synthetic_week
from consumer.settings import Settings
from consumer.windows.intake import decode_minutes
from consumer.windows.rocks import RocksMemory, RocksStore
from consumer.windows_stage.processor import PartitionWindows

DAYS = 8
DAY_MINUTES = 1_440
#: Records between two flushes of the cache into the store in ``logic_rates`` (a batch).
LOGIC_BATCH = 500


def _midnight(days_ago: int) -> datetime:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_ago)


def _record(user: str, start: datetime, values: list[int]) -> Record:
    body = {
        "schema_version": 1,
        "user_id": user,
        "start": start.isoformat(),
        "interval_s": 60,
        "values": values,
        "tz": "UTC",
    }
    return user.encode(), orjson.dumps(body)


def day_chunks(users: int, seed: int = 26) -> Iterator[Record]:
    """``users * DAYS`` records of a day's 1,440 minute values (see the module doc)."""
    rng = np.random.default_rng(seed)
    weeks = [synthetic_week(rng, disrupted=bool(i % 3 == 0)) for i in range(min(users, 64))]
    first = _midnight(DAYS - 1)
    for day in range(DAYS):
        start = first + timedelta(days=day)
        offset = (day % 7) * DAY_MINUTES
        for i in range(users):
            week = weeks[i % len(weeks)]
            values = week[offset : offset + DAY_MINUTES].astype(np.int64).tolist()
            yield _record(f"bench-user-{i:06d}", start, values)


def minute_records(users: int, minutes: int, seed: int = 26) -> Iterator[Record]:
    """``users * minutes`` one-minute records (see the module doc)."""
    rng = np.random.default_rng(seed)
    first = _midnight(1)
    values = rng.integers(0, 300, size=minutes).tolist()
    for minute in range(minutes):
        start = first + timedelta(minutes=minute)
        for i in range(users):
            yield _record(f"bench-minute-{i:06d}", start, [values[minute]])


def logic_rates(
    settings: Settings, users: int, minute_users: int, minutes: int
) -> dict[str, float | None]:
    """Minute values per CPU-s of ``day_chunks(users)`` and records per CPU-s of
    ``minute_records``, each through a fresh partition (decode, windower, RocksDB)."""
    day_cpu = _logic_cpu_s(settings, day_chunks(users))
    minute_cpu = _logic_cpu_s(settings, minute_records(minute_users, minutes))
    values = users * DAYS * DAY_MINUTES
    records = minute_users * minutes
    return {
        "minute_values_per_cpu_s": round(values / day_cpu, 1) if day_cpu > 0 else None,
        "records_per_cpu_s": round(records / minute_cpu, 1) if minute_cpu > 0 else None,
    }


def _logic_cpu_s(settings: Settings, records: Iterator[Record]) -> float:
    encoded = list(records)  # encoded before the clock starts: the producer's work
    processing, windows = settings.processing, settings.windows
    topic = settings.topics.windows_changelog
    with tempfile.TemporaryDirectory(prefix="moodstream-bench-windows-") as tmp:
        memory = RocksMemory.of(windows.store_cache_mb, windows.store_write_buffer_mb)
        store = RocksStore(Path(tmp) / "p0", memory)
        part = PartitionWindows.over(0, store, settings, SystemClock())
        started = time.process_time()
        for n, (_key, value) in enumerate(encoded, 1):
            record = decode_minutes(
                value,
                max_bytes=processing.max_message_bytes,
                strict_fields=processing.strict_fields,
            )
            part.windower.on_samples(record)
            if n % LOGIC_BATCH == 0:
                part.state.flush()
                part.recording.take(topic, 0)
        part.state.flush()
        part.recording.take(topic, 0)
        spent = time.process_time() - started
        store.close()
    return spent

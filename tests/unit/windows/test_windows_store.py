"""The store: the ``Store`` protocol in memory and on RocksDB (a temp dir), the typed view
(users, days, features, timers), and the windows logic over a store far larger than its
memory caps giving the same weeks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pytest

from consumer.settings import Settings, WindowsSettings
from consumer.windows.cache import WriteBack
from consumer.windows.daystate import DayMinutes
from consumer.windows.rocks import RocksMemory, RocksStore
from consumer.windows.store import DayStatus, MemoryStore, Store, UserMeta, WindowState
from consumer.windows.windower import Windower
from schemas import ActivitySamples
from tests.fakes import FakeClock


@pytest.fixture(params=["memory", "rocks"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made: Store = MemoryStore() if request.param == "memory" else RocksStore(tmp_path / "db")
    yield made
    made.close()


def test_a_store_gets_puts_deletes_and_scans_a_prefix_in_key_order(store: Store) -> None:
    for key in (b"m\0b", b"m\0a\0x", b"m\0a", b"u\0a", b"l"):
        store.put(key, key.upper())
    assert store.get(b"m\0a") == b"M\0A" and store.get(b"nope") is None
    assert [k for k, _ in store.scan(b"m\0")] == [b"m\0a", b"m\0a\0x", b"m\0b"]
    store.delete(b"m\0a")
    store.delete(b"never there")
    assert [v for _, v in store.scan(b"m\0")] == [b"M\0A\0X", b"M\0B"]
    assert list(store.scan(b"z")) == []


def test_a_store_gets_many_keys_in_one_read_in_their_order(store: Store) -> None:
    store.write({b"m\0a": b"A", b"m\0c": b"C"}, set())
    assert store.get_many([b"m\0c", b"m\0b", b"m\0a", b"m\0c"]) == [b"C", None, b"A", b"C"]
    assert store.get_many([]) == []


def test_a_user_record_keeps_its_stored_bytes() -> None:
    """The record's bytes are what earlier versions wrote and read (store, changelog)."""
    meta = UserMeta(tz="UTC", stream_minute=5, seen_s=1.5, timer_s=7)
    meta.days[date(2026, 3, 8)] = DayStatus(closed=True, revision=2, digest="2:ab")
    meta.days[date(2026, 2, 28)] = DayStatus()
    raw = (
        b'{"tz":"UTC","s":5,"w":1.5,"t":7,'
        b'"d":{"2026-03-08":[true,2,"2:ab"],"2026-02-28":[false,-1,""]}}'
    )
    assert meta.encode() == raw
    assert UserMeta.decode(raw) == meta


def test_a_week_s_days_are_peeked_held_waiting_or_stored(store: Store) -> None:
    state = WindowState(store, cache_bytes=1 << 20)
    days = [date(2026, 3, d) for d in range(1, 8)]

    def minutes(value: float) -> DayMinutes:
        day = DayMinutes.empty(1_440)
        day.merge(0, np.full(1_440, value, np.float32))
        return day

    state.put_day("u", days[0], minutes(1.0))  # held decoded
    state.put_day("u", days[1], minutes(2.0), hold=False)  # encoded, waiting for flush
    store.put(b"m\0u\0" + days[2].isoformat().encode(), minutes(3.0).encode())  # stored
    found = state.peek_days("u", days)
    assert sorted(found) == days[:3]  # the absent days are not found
    assert isinstance(found[days[0]].source, DayMinutes)  # the held object, not re-read
    assert all(isinstance(found[d].source, bytes) for d in days[1:3])
    assert [found[d].minutes().values[0] for d in days[:3]] == [1.0, 2.0, 3.0]
    assert state.peek_days("v", days) == {}


def test_the_typed_view_keeps_users_days_features_and_timers(store: Store) -> None:
    state = WindowState(store)
    meta = UserMeta(tz="Asia/Kolkata", stream_minute=29_000_000, seen_s=1.7e9)
    meta.days[date(2026, 3, 8)] = DayStatus(closed=True, revision=2, digest="ab" * 16)
    state.set_timer("u:1", meta, 1_800_000_000)
    state.put_meta("u:1", meta)
    assert state.meta("u:1") == meta and state.meta("u:2") is None
    day = DayMinutes.empty(1_380)
    day.merge(3, np.array([4.0, 5.0], np.float32))
    state.put_day("u:1", date(2026, 3, 8), day)
    state.put_features("u:1", date(2026, 3, 8), {"ST_long_MN": 7.5, "WT_long_MN": None})
    back = state.day("u:1", date(2026, 3, 8))
    assert back is not None and back.values[3:5].tolist() == [4.0, 5.0] and back.minutes == 1_380
    assert state.features("u:1", date(2026, 3, 8)) == {"ST_long_MN": 7.5, "WT_long_MN": None}
    assert [user for user, _ in state.users()] == ["u:1"]
    other = UserMeta()
    state.set_timer("u:0", other, 1_700_000_000)
    assert state.due(1_750_000_000) == [("u:0", 1_700_000_000)]
    assert [u for u, _ in state.due(1_800_000_000)] == ["u:0", "u:1"]  # earliest first
    state.set_timer("u:0", other, 1_900_000_000)  # moved: the old timer is gone
    assert state.due(1_800_000_000) == [("u:1", 1_800_000_000)]
    state.take_timer("u:1", meta, 1_800_000_000)
    assert meta.timer_s == 0 and state.due(1_800_000_000) == []
    state.drop_day("u:1", date(2026, 3, 8))
    assert state.day("u:1", date(2026, 3, 8)) is None
    state.forget("u:1", meta)
    assert state.meta("u:1") is None and state.due(1_850_000_000) == []


class Counted:
    def __init__(self, text: str) -> None:
        self.text = text

    def encode(self) -> bytes:
        return self.text.encode()

    @property
    def footprint(self) -> int:
        return len(self.text)


def test_the_write_back_cache_decodes_once_and_writes_in_batches() -> None:
    store = MemoryStore()
    cache = WriteBack(store, capacity_bytes=3)  # footprint: the text's length
    decoded: list[bytes] = []

    def decode(raw: bytes) -> Counted:
        decoded.append(raw)
        return Counted(raw.decode())

    store.put(b"a", b"A")
    first = cache.get(b"a", decode)
    assert first is cache.get(b"a", decode) and decoded == [b"A"]  # decoded once
    cache.put(b"b", Counted("B"))
    assert store.get(b"b") is None and cache.dirty == 1  # not written yet
    assert cache.flush() == 1 and store.get(b"b") == b"B" and cache.flush() == 0
    cache.put(b"b", Counted("B2"))
    cache.put(b"c", Counted("C"))  # evicts a (clean), keeps b and c
    cache.put(b"d", Counted("D"))  # evicts b: dirty, so written now
    assert store.get(b"b") == b"B2" and store.get(b"c") is None and cache.held_bytes == 2
    cache.forget(b"c")
    assert cache.flush() == 1 and store.get(b"c") is None and store.get(b"d") == b"D"
    cache.put(b"e", Counted("E"))
    cache.clear()
    assert cache.flush() == 0 and store.get(b"e") is None and cache.get(b"e", decode) is None
    unbuffered = WriteBack(store, capacity_bytes=0)
    unbuffered.put(b"f", Counted("F"))
    assert store.get(b"f") == b"F"


def test_an_object_not_held_waits_encoded_for_the_flush() -> None:
    """``put(hold=False)`` (a complete day): encoded now, written with the next flush in
    its batch, readable meanwhile, taking no room from the held objects."""
    store = MemoryStore()
    cache = WriteBack(store, capacity_bytes=10)
    cache.put(b"a", Counted("A"), hold=False)
    assert store.get(b"a") is None and cache.held(b"a") is None and cache.held_bytes == 0
    read = cache.get(b"a", lambda raw: Counted(raw.decode()))
    assert cache.raw(b"a") == b"A" and read is not None and read.text == "A"
    cache.put(b"b", Counted("B"), hold=False)
    cache.forget(b"b")  # deleted before the flush: never written
    cache.put(b"c", Counted("C"), hold=False)
    cache.put(b"c", Counted("C2"))  # held and changed again: the newer one is written
    assert cache.dirty == 2
    assert cache.flush() == 2 and cache.flush() == 0
    assert (store.get(b"a"), store.get(b"b"), store.get(b"c")) == (b"A", None, b"C2")
    cache.put(b"d", Counted("D"), hold=False)
    cache.clear()  # after a failure: forgotten
    assert cache.flush() == 0 and store.get(b"d") is None
    WriteBack(store, capacity_bytes=0).put(b"e", Counted("E"), hold=False)
    assert store.get(b"e") == b"E"  # no cache: written at once


def test_the_cache_holds_a_bounded_number_of_bytes_whatever_the_users() -> None:
    store = MemoryStore()
    state = WindowState(store, cache_bytes=100_000)
    for i in range(200):
        minutes = DayMinutes.empty(1_440)
        minutes.merge(0, np.full(1_440, i, np.float32))
        state.put_day(f"user-{i}", date(2026, 3, 1), minutes)
        assert state.cached_bytes <= 100_000
    assert state.cached_bytes > 100_000 - 2 * minutes.footprint  # it fills up to its cap
    evicted = sum(1 for _ in store.scan(b"m\0"))
    assert evicted == 200 - state.cached_bytes // minutes.footprint  # written when evicted
    state.flush()
    for i in range(200):
        day = state.day(f"user-{i}", date(2026, 3, 1))
        assert day is not None and day.values[0] == i


def test_a_rocks_store_survives_a_reopen_writes_atomically_and_can_be_wiped(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db"
    first = RocksStore(path)
    first.write({b"a": b"1", b"b": b"2"}, {b"c"})
    first.put(b"d", b"4" * 1_000)
    # no write-ahead log (a restore from the changelog rebuilds a store): its file stays empty
    assert [f.stat().st_size for f in path.glob("*.log")] == [0]
    first.close()  # the memtable is flushed on close
    again = RocksStore(path)
    assert again.get(b"a") == b"1" and again.get(b"b") == b"2" and again.get(b"d") is not None
    again.close()
    RocksStore.destroy(path)
    wiped = RocksStore(path)
    assert wiped.get(b"a") is None
    wiped.close()


def test_the_state_settings_have_defaults_and_bounds() -> None:
    settings = Settings().windows
    assert settings.state_dir.name == "windows-state" and settings.store_cache_mb == 16
    assert settings.cache_mb == 2.0 and settings.fetch_queue_mb == 4
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        WindowsSettings(cache_mb=-1)
    with pytest.raises(ValueError, match="unknown time zone 'Nowhere/Land'"):
        WindowsSettings(default_tz="Nowhere/Land")
    with pytest.raises(ValueError, match="less than or equal to 1"):
        WindowsSettings(min_coverage=1.5)


def full_days(user: str, first: date, count: int, seed: int) -> list[ActivitySamples]:
    rng = np.random.default_rng(seed)
    records = []
    for i in range(count):
        start = datetime.combine(first + timedelta(days=i), time(0), UTC)
        values = rng.uniform(0, 5_000, 1_440).astype(np.float32).astype(float).tolist()
        records.append(
            ActivitySamples.model_validate(
                {
                    "schema_version": 1,
                    "user_id": user,
                    "start": start,
                    "interval_s": 60,
                    "values": values,
                }
            )
        )
    return records


def test_weeks_come_out_right_from_a_store_far_larger_than_its_memory(tmp_path: Path) -> None:
    """About 7 MB of incompressible minutes through 512 KiB (256 KiB of it buffers)."""
    store = RocksStore(tmp_path / "db", RocksMemory(512 << 10, 256 << 10))
    clock = FakeClock(start=datetime(2026, 3, 20, tzinfo=UTC))
    state = WindowState(store, cache_bytes=120_000)  # 16 decoded days
    windower = Windower(state, WindowsSettings(), clock)
    users = [f"user-{i}" for i in range(200)]
    weeks: dict[str, list[float]] = {}
    for user in users:
        for record in full_days(user, date(2026, 3, 1), 7, seed=len(weeks)):
            for emission in windower.on_samples(record):
                weeks[user] = emission.event.activity or []
    state.flush()
    store.flush()
    assert store.disk_bytes() > 10 * (512 << 10)
    for seed, user in enumerate(users):
        expected = [v for r in full_days(user, date(2026, 3, 1), 7, seed) for v in r.values]
        assert weeks[user] == expected, user
    store.close()

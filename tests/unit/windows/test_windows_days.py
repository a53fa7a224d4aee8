"""Local days, the DST rule for PAT's 1,440 slots, and one user-day's compact encoding."""

from __future__ import annotations

import zlib
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from consumer.windows.days import (
    RecentDay,
    day_length,
    day_of,
    day_start,
    split_by_day,
    to_wall,
)
from consumer.windows.daystate import CorruptDay, DayMinutes, whole_counts
from consumer.windows.store import LazyDay

NY = "America/New_York"
SPRING = date(2026, 3, 8)  # 02:00 EST -> 03:00 EDT: 23 hours
AUTUMN = date(2026, 11, 1)  # 02:00 EDT -> 01:00 EST: 25 hours


def minute(year: int, month: int, day: int, hour: int, mins: int, tz: str = "UTC") -> int:
    return int(datetime(year, month, day, hour, mins, tzinfo=ZoneInfo(tz)).timestamp()) // 60


@pytest.mark.parametrize(
    ("day", "tz", "length"),
    [
        (SPRING, NY, 1_380),
        (AUTUMN, NY, 1_500),
        (date(2026, 3, 9), NY, 1_440),
        (SPRING, "UTC", 1_440),
        (date(2026, 3, 29), "Europe/London", 1_380),
        (date(2026, 10, 25), "Europe/London", 1_500),
        (SPRING, "Asia/Kolkata", 1_440),
    ],
)
def test_a_local_day_lasts_its_real_minutes(day: date, tz: str, length: int) -> None:
    assert day_length(day, tz) == length


def test_a_day_starts_at_local_midnight() -> None:
    assert day_start(SPRING, NY) == minute(2026, 3, 8, 5, 0)
    assert day_start(SPRING, "Asia/Kolkata") == minute(2026, 3, 7, 18, 30)
    assert day_of(minute(2026, 3, 8, 4, 59), NY) == date(2026, 3, 7)
    assert day_of(minute(2026, 3, 8, 5, 0), NY) == SPRING


def test_minutes_are_cut_at_local_midnight() -> None:
    start = minute(2026, 3, 8, 23, 0, tz=NY)  # 23:00 EDT, three hours run into March 9
    parts = split_by_day(start, 180, NY)
    assert parts == [(SPRING, 1_380 - 60, 0, 60), (date(2026, 3, 9), 0, 60, 180)]
    assert split_by_day(minute(2026, 3, 9, 4, 0), 10, NY) == [(date(2026, 3, 9), 0, 0, 10)]


def full(day: date, tz: str) -> DayMinutes:
    minutes = DayMinutes.empty(day_length(day, tz))
    minutes.merge(0, np.arange(1, minutes.minutes + 1, dtype=np.float32))
    return minutes


def test_a_23_hour_day_has_its_skipped_hour_present_as_zero() -> None:
    day = full(SPRING, NY)
    wall, present = to_wall(day.values, day.present, SPRING, NY)
    assert len(wall) == 1_440 and present.all()  # complete: the skipped hour counts present
    assert (wall[120:180] == 0).all()  # 02:00-02:59 never happened
    assert wall[119] == 120 and wall[180] == 121  # 01:59 EST, then 03:00 EDT
    day.present[125] = False  # 03:05 EDT missing
    wall, present = to_wall(day.values, day.present, SPRING, NY)
    assert not present[185] and wall[185] == 0 and present.sum() == 1_439


def test_a_25_hour_day_sums_its_repeated_hour() -> None:
    day = full(AUTUMN, NY)
    wall, present = to_wall(day.values, day.present, AUTUMN, NY)
    assert len(wall) == 1_440 and present.all()
    assert wall[60] == 61 + 121  # 01:00 EDT (real minute 60) + 01:00 EST (real minute 120)
    assert wall[120] == 181 and wall[1_439] == 1_500  # 02:00 EST and 23:59
    assert wall.sum() == day.values.sum()  # the day's activity is kept whole
    day.present[60:120] = False  # the first 01:xx hour missing: the second still fills it
    wall, present = to_wall(day.values, day.present, AUTUMN, NY)
    assert present[60:120].all() and wall[60] == 121


def test_a_plain_day_maps_minute_to_slot() -> None:
    day = full(date(2026, 6, 1), NY)
    day.present[10] = False
    wall, present = to_wall(day.values, day.present, date(2026, 6, 1), NY)
    assert wall[9] == 10 and wall[10] == 0 and not present[10] and present.sum() == 1_439


def test_merge_is_idempotent_and_a_conflicting_minute_replaces() -> None:
    day = DayMinutes.empty(1_440)
    assert day.merge(100, np.array([1.0, 2.0], np.float32))
    assert not day.merge(100, np.array([1.0, 2.0], np.float32))  # duplicate
    assert day.merge(101, np.array([5.0], np.float32))  # conflicting re-send
    assert day.values[100:102].tolist() == [1.0, 5.0] and day.present_count == 2
    assert not day.complete
    with pytest.raises(ValueError, match="outside a day of 1440"):
        day.merge(1_439, np.zeros(2, np.float32))


def test_a_day_encodes_compactly_and_back() -> None:
    rng = np.random.default_rng(7)
    dense = DayMinutes.empty(1_500)
    dense.merge(0, rng.uniform(1, 5_000, 1_500).astype(np.float32))
    sparse = DayMinutes.empty(1_440)
    sparse.merge(480, rng.integers(0, 120, 600).astype(np.float32))
    for day in (dense, sparse, DayMinutes.empty(1_380)):
        back = DayMinutes.decode(day.encode())
        assert np.array_equal(back.values, day.values)
        assert np.array_equal(back.present, day.present)
    assert len(dense.encode()) <= 4 + 188 + 4 * 1_500  # never more than raw
    assert len(sparse.encode()) < 2_000  # zeros and small counts compress


def test_a_day_keeps_every_value_exactly_and_whole_counts_in_two_bytes() -> None:
    day = DayMinutes.empty(1_440)
    day.merge(0, np.arange(1_440, dtype=np.float32) * 40)  # up to 57,560: whole, < 2^16
    whole = day.encode()
    assert len(whole) == 4 + 2 * 1_440  # every minute present, most non-zero: dense
    quiet = DayMinutes.empty(1_440)
    quiet.merge(0, np.where(np.arange(1_440) % 3 == 0, np.float32(40), np.float32(0)))
    assert len(quiet.encode()) == 4 + 180 + 2 * 480  # most zero: the non-zero ones alone
    odd = DayMinutes.empty(1_380)
    odd.merge(10, np.array([-0.0, 0.5, 70_000.0, 1e7, 3.0], np.float32))
    negative = DayMinutes.empty(1_440)  # not the contract's, but kept exactly all the same
    negative.merge(0, np.where(np.arange(1_440) % 2 == 0, np.float32(-3), np.float32(5)))
    for day_ in (day, quiet, odd, negative):
        back = DayMinutes.decode(day_.encode())
        assert back.values.tobytes() == day_.values.tobytes()  # -0.0 too
        assert np.array_equal(back.present, day_.present)


def test_present_minutes_are_counted_from_the_bitmap_alone() -> None:
    rng = np.random.default_rng(3)
    partial = DayMinutes.empty(1_380)  # 1,380 = 172.5 bytes of bitmap: padding bits
    partial.merge(3, rng.integers(0, 9, 1_377).astype(np.float32))
    full = DayMinutes.empty(1_500)
    full.merge(0, np.ones(1_500, np.float32))
    for day in (partial, full, DayMinutes.empty(1_440)):
        assert DayMinutes.count_present(day.encode()) == day.present_count
    padded = bytearray(partial.encode())
    padded[4 + 172] |= 0x0F  # set padding bits: not minutes
    assert DayMinutes.count_present(bytes(padded)) == 1_377
    with pytest.raises(CorruptDay):
        DayMinutes.count_present(partial.encode()[:50])


def test_a_day_an_earlier_version_wrote_still_decodes() -> None:
    """Format 1 (zlib'd bitmap and float32 values, or raw): the store and changelog
    records of earlier versions restore unchanged."""
    present = np.zeros(1_440, np.bool_)
    present[100:160] = True
    values = np.where(present, np.float32(7.5), np.float32(0))
    body = np.packbits(present).tobytes() + values.astype("<f4").tobytes()
    for flags, payload in ((1, zlib.compress(body, 1)), (0, body)):
        raw = bytes([1, flags]) + (1_440).to_bytes(2, "little") + payload
        back = DayMinutes.decode(raw)
        assert np.array_equal(back.values, values) and np.array_equal(back.present, present)
        assert DayMinutes.count_present(raw) == 60


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\x01", "shorter than its header"),
        (b"\x03\x00\xa0\x05", "format 3"),
        (b"\x02\x00\xa0\x05", "of 0 bytes for 1440 minutes"),
        (b"\x02\x02\xa0\x05" + b"\xff" * 180 + bytes(7), "of 187 bytes for 1440 minutes"),
        (b"\x01\x01\xa0\x05garbage", "does not decompress"),
        (b"\x01\x00\xa0\x05" + bytes(10), "of 10 bytes for 1440 minutes"),
    ],
)
def test_bytes_that_are_not_a_day_are_refused(raw: bytes, reason: str) -> None:
    with pytest.raises(CorruptDay, match=reason):
        DayMinutes.decode(raw)


def test_instants_in_three_zones_fall_on_their_own_local_days() -> None:
    instant = int(datetime(2026, 6, 1, 20, 0, tzinfo=UTC).timestamp()) // 60
    assert day_of(instant, "UTC") == date(2026, 6, 1)
    assert day_of(instant, NY) == date(2026, 6, 1)
    assert day_of(instant, "Asia/Kolkata") == date(2026, 6, 2)  # 01:30 IST
    assert day_of(instant + int(timedelta(hours=8).total_seconds()) // 60, NY) == date(2026, 6, 2)


@pytest.mark.parametrize(
    "tz",
    ["UTC", NY, "Asia/Kolkata", "Pacific/Kiritimati", "Pacific/Pago_Pago", "Australia/Lord_Howe"],
)
def test_every_minute_falls_in_the_local_day_whose_range_holds_it(tz: str) -> None:
    first = minute(2026, 1, 1, 0, 0)
    for instant in range(first, first + 366 * 1_440, 97):  # every hour of the day, DST too
        day = day_of(instant, tz)
        assert day_start(day, tz) <= instant < day_start(day + timedelta(days=1), tz)


def test_the_remembered_day_gives_what_the_lookups_give() -> None:
    rng = np.random.default_rng(26)
    recent = RecentDay()
    around = minute(2026, 11, 1, 0, 0, NY)  # a 25-hour day and its neighbours
    for _ in range(3_000):
        tz = [NY, "UTC", "Asia/Kolkata"][int(rng.integers(0, 3))]
        start = around + int(rng.integers(-3_000, 3_000))
        count = int(rng.choice([1, 1, 60, 1_440]))
        assert recent.split(start, count, tz) == split_by_day(start, count, tz)
        assert recent.of(start, tz) == day_of(start, tz)
        assert recent.split(start, 1, tz) == split_by_day(start, 1, tz)  # the same day again


def test_a_lazy_day_counts_from_its_bytes_and_decodes_once() -> None:
    day = DayMinutes.empty(1_440)
    day.merge(7, np.arange(1, 101, dtype=np.float32))
    stored = LazyDay(day.encode())
    assert stored.present_count == 100
    decoded = stored.minutes()
    assert stored.minutes() is decoded and np.array_equal(decoded.values, day.values)
    held = LazyDay(day)
    assert held.present_count == 100 and held.minutes() is day
    with pytest.raises(CorruptDay):
        LazyDay(day.encode()[:50]).minutes()


def _days_of_every_kind() -> list[DayMinutes]:
    rng = np.random.default_rng(11)
    busy = DayMinutes.empty(1_440)  # whole counts, most non-zero: dense, all present
    busy.merge(0, rng.integers(1, 60_000, 1_440).astype(np.float32))
    gappy = DayMinutes.empty(1_440)  # dense with a presence bitmap
    gappy.merge(10, rng.integers(1, 300, 1_000).astype(np.float32))
    gappy.merge(1_100, rng.integers(1, 300, 300).astype(np.float32))
    quiet = DayMinutes.empty(1_440)  # mostly zero: sparse
    quiet.merge(0, (rng.random(1_440) < 0.1).astype(np.float32) * 7)
    fractions = DayMinutes.empty(1_440)  # not whole: sparse float32, -0.0 kept
    fractions.merge(0, rng.uniform(0, 9, 1_440).astype(np.float32))
    fractions.merge(5, np.array([-0.0, 70_000.0], np.float32))
    return [busy, gappy, quiet, fractions, DayMinutes.empty(1_440)]


def test_a_day_decoded_in_place_equals_its_decoded_arrays() -> None:
    """``decode_into`` (what a week's assembly uses) gives what ``decode`` gives, absent
    minutes 0, for every way a day is stored, format 1 included."""
    days = _days_of_every_kind()
    stored = [day.encode() for day in days]
    assert [raw[1] & 8 for raw in stored] == [8, 8, 0, 0, 0]  # dense: the first two
    body = np.packbits(days[1].present).tobytes() + days[1].values.astype("<f4").tobytes()
    stored.append(bytes([1, 0]) + (1_440).to_bytes(2, "little") + body)  # format 1
    for raw in stored:
        values = np.full(1_440, np.float32(99))
        present = np.zeros(1_440, np.bool_)
        DayMinutes.decode_into(raw, values, present)
        expected = DayMinutes.decode(raw)
        assert np.array_equal(present, expected.present)
        assert values.tobytes() == np.where(expected.present, expected.values, 0).tobytes()


def test_a_day_is_decoded_in_place_only_into_views_of_its_length() -> None:
    raw = _days_of_every_kind()[0].encode()
    with pytest.raises(ValueError, match="a day of 1440 minutes into 1380"):
        DayMinutes.decode_into(raw, np.zeros(1_380, np.float32), np.zeros(1_380, np.bool_))
    with pytest.raises(CorruptDay):
        DayMinutes.decode_into(raw[:-1], np.zeros(1_440, np.float32), np.zeros(1_440, np.bool_))


def _format_2_as_first_written(day: DayMinutes) -> bytes:
    """Format 2 as session 29 wrote it (the reference the stored bytes must keep)."""
    flags, parts = 0, [b""]
    if day.complete:
        flags |= 2
    else:
        parts.append(np.packbits(day.present).tobytes())
    values = day.values

    def whole(v: np.ndarray) -> np.ndarray | None:
        if v.size and (v.max() >= 65_536 or np.signbit(v).any()):
            return None
        w = v.astype("<u2")
        return w if np.array_equal(w, v) else None

    def planes(v: np.ndarray) -> bytes:
        return v.view(np.uint8).reshape(-1, v.itemsize).T.tobytes()

    nonzero = (values != 0) | np.signbit(values)
    if 2 * np.count_nonzero(nonzero) >= len(values):
        dense = whole(values)
        if dense is not None:
            parts[0] = bytes([2, flags | 8]) + day.minutes.to_bytes(2, "little")
            return b"".join((*parts, planes(dense)))
    parts.append(np.packbits(nonzero).tobytes())
    kept = values[nonzero]
    counts = whole(kept)
    if counts is not None:
        flags |= 4
    parts.append(planes(counts if counts is not None else kept.astype("<f4")))
    parts[0] = bytes([2, flags]) + day.minutes.to_bytes(2, "little")
    return b"".join(parts)


def test_a_day_s_stored_bytes_are_format_2_as_first_written() -> None:
    rng = np.random.default_rng(29)
    for trial in range(400):
        minutes = [1_440, 1_380, 1_500][trial % 3]
        day = DayMinutes.empty(minutes)
        count = int(rng.integers(1, minutes + 1))
        offset = int(rng.integers(0, minutes - count + 1))
        kind = trial % 8
        values = rng.integers(0, [2, 300, 70_000, 3][kind % 4], count).astype(np.float32)
        if kind == 4:
            values += 0.5
        elif kind == 5:
            values[int(rng.integers(0, count))] = -0.0
        elif kind == 6:
            values = -values
        elif kind == 7:
            values[:] = 0
        day.merge(offset, values)
        assert day.encode() == _format_2_as_first_written(day), (trial, kind)


@pytest.mark.parametrize("kind", ["active", "quiet", "big", "fractional"])
def test_a_whole_day_with_its_counts_known_is_the_day_a_merge_makes(kind: str) -> None:
    """``whole_day`` (a day-sized record read as counts) holds, encodes and decodes as the
    empty day merged with the same values; a later merge forgets the counts."""
    rng = np.random.default_rng(len(kind))
    values = rng.integers(0, 120, 1_440).astype(np.float32)
    values[rng.random(1_440) < (0.2 if kind == "active" else 0.9)] = 0
    if kind == "big":
        values[7] = 70_000
    if kind == "fractional":
        values[7] = 0.5
    counts = whole_counts(values)
    assert (counts is None) == (kind in ("big", "fractional"))
    merged = DayMinutes.empty(1_440)
    assert merged.merge(0, values)
    day = DayMinutes.whole_day(values, counts)
    assert day.values is not values  # its own copy
    assert day.values.tobytes() == merged.values.tobytes()
    assert day.present.tobytes() == merged.present.tobytes()
    assert day.complete and day.whole == merged.whole == (counts is not None)
    assert day.encode() == merged.encode()
    changed = values.copy()
    changed[100] += 3
    assert day.merge(100, changed[100:101]) and day.counts is None
    assert merged.merge(100, changed[100:101])
    assert day.encode() == merged.encode()
    assert DayMinutes.decode(day.encode()).values.tobytes() == changed.tobytes()


def test_a_whole_day_has_a_day_s_length() -> None:
    with pytest.raises(ValueError, match="a day of 0 minutes"):
        DayMinutes.whole_day(np.zeros(0, np.float32), None)

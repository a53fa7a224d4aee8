"""Day-sized samples without a list of floats (``fast_samples``): what it accepts equals
the contract's full validation, and everything else goes the full way, refusals with the
same reason and message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pytest

from consumer.errors import InvalidEvent
from consumer.windows.daystate import whole_counts
from consumer.windows.fast_samples import MinuteRecord, fast_minutes
from consumer.windows.intake import decode_minutes, decode_samples

START = datetime(2026, 3, 10, tzinfo=UTC)
MAX_BYTES = 1 << 20


def record(values: Any = None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schema_version": 1,
        "user_id": "u-1",
        "start": START.isoformat(),
        "interval_s": 60,
        "values": [0, 12, 3] if values is None else values,
        "tz": "Europe/Paris",
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None or k == "values"}


def outcome(raw: bytes, decoder: Any) -> tuple[str, Any]:
    try:
        got = decoder(raw)
    except InvalidEvent as exc:
        return "refused", (exc.reason, str(exc))
    return "accepted", got


def full(raw: bytes) -> MinuteRecord:
    return MinuteRecord.of(decode_samples(raw, max_bytes=MAX_BYTES, strict_fields=False).samples)


def fast_or_full(raw: bytes) -> MinuteRecord:
    got = decode_minutes(raw, max_bytes=MAX_BYTES, strict_fields=False)
    return got if isinstance(got, MinuteRecord) else MinuteRecord.of(got)


def assert_same(raw: bytes) -> None:
    kind, want = outcome(raw, full)
    got_kind, got = outcome(raw, fast_or_full)
    assert got_kind == kind, raw[:120]
    if kind == "refused":
        assert got == want
        return
    assert (got.user_id, got.start, got.tz) == (want.user_id, want.start, want.tz)
    assert got.minutes.dtype == np.float32 and got.minutes.tobytes() == want.minutes.tobytes()


def test_compact_whole_counts_take_the_fast_way_and_equal_the_full_one() -> None:
    rng = np.random.default_rng(26)
    for i in range(300):
        count = int(rng.integers(1, 1_441))
        top = [1, 9, 300, 70_000, 10_000_000][i % 5]
        values = rng.integers(0, top + 1, count).tolist()
        if i % 7 == 0:
            values[int(rng.integers(0, count))] = 10_000_000  # the largest value
        start = START + timedelta(minutes=int(rng.integers(-5_000, 5_000)))
        tz = None if i % 3 == 0 else "America/New_York"
        raw = orjson.dumps(record(values, start=start.isoformat(), tz=tz))
        fast = fast_minutes(raw)
        assert fast is not None, raw[:120]
        assert_same(raw)


def _text(values_text: bytes, **fields: Any) -> bytes:
    head = orjson.dumps(record([7], **fields))
    return head.replace(b'"values":[7]', b'"values":' + values_text)


DECLINED = [
    _text(b"[]"),  # too few
    _text(b"[01,2]"),  # a leading zero: not JSON
    _text(b"[1,02]"),
    _text(b"[7,00]"),
    _text(b"[0,0,3,0001]"),
    _text(b"[100000000]"),  # nine digits: more than the largest value has
    _text(b"[4294967296]"),  # 2^32: read as 0 by a uint32 parse, the text tells
    _text(b"[4294967297,1]"),
    _text(b"[[1],2]"),
    _text(b"[1,,2]"),
    _text(b"[1,2,]"),
    _text(b"[,1]"),
    _text(b"[1,2"),  # never closed
    _text(b"[1, 2]"),  # a space: the full way
    _text(b"[1.5,2]"),
    _text(b"[1.0,2]"),
    _text(b"[1e3,2]"),
    _text(b"[-1,2]"),
    _text(b"[10000001]"),  # above the largest value
    _text(b"[9223372036854775808]"),  # past int64
    _text(b"[18446744073709551616]"),  # past uint64 (orjson: a float)
    _text(b"[" + b"9" * 400 + b"]"),
    _text(b"[1,[2]]"),
    _text(b'[1,"2"]'),
    _text(b"[null]"),
    _text(b"[true]"),
    _text(b"[" + b",".join([b"1"] * 1_441) + b"]"),  # more than a day
    _text(b"[1,2]", interval_s=120),  # resampled: the full way
    _text(b"[1,2]", interval_s=61),
    _text(b"[1,2]", tz="Mars/Olympus"),
    _text(b"[1,2]", start="2026-03-10T00:00:30+00:00"),
    _text(b"[1,2]", user_id="has space"),
    _text(b"[1,2]", schema_version=2),
    _text(b"[1,2]", extra="ignored by default"),  # unknown field: ignored, the full way
    _text(b"[1,2]", extra={"values": [3]}),  # a second "values", nested
    _text(b"[1,2]")[:-1] + b',"values":[3]}',  # a repeated key
    _text(b"[1,2]")[:-1] + b',"user_id":"u-2"}',  # a repeated key
    _text(b"[1,2]").replace(b'"values":', b'"values" :'),
    b'{"values":[1,2]}',  # the rest missing
    b"[1,2]",
    b'{"values":[1,2]',
]


@pytest.mark.parametrize(
    "raw",
    [
        _text(b"[1,2]").replace(b'"tz"', b'"t\\u007a"'),  # an escaped key: the same record
        _text(b"[1,2]").replace(b'"u-1"', b'"u\\u002d1"'),  # an escaped character
        _text(b"[1,2]", tz=None),
        _text(b"[0]"),
        b" " + _text(b"[1,2]") + b"\n",
    ],
)
def test_other_spellings_of_a_valid_record_read_the_same_either_way(raw: bytes) -> None:
    assert_same(raw)


@pytest.mark.parametrize("raw", DECLINED)
def test_anything_else_goes_the_full_way_with_its_reason(raw: bytes) -> None:
    assert fast_minutes(raw) is None
    assert_same(raw)


def test_refusals_of_the_full_way_are_unchanged() -> None:
    reasons = {}
    for raw in DECLINED:
        kind, got = outcome(raw, fast_or_full)
        if kind == "refused":
            reasons[got[0]] = raw
    assert {"too_many_values", "out_of_range", "wrong_type", "duplicate_key"} <= set(reasons)
    assert {"wrong_interval", "unknown_time_zone", "not_whole_minute"} <= set(reasons)
    for empty in (b"", None):
        with pytest.raises(InvalidEvent, match="empty"):
            decode_minutes(empty, max_bytes=MAX_BYTES, strict_fields=False)
    with pytest.raises(InvalidEvent) as large:
        decode_minutes(_text(b"[1,2]"), max_bytes=10, strict_fields=False)
    assert large.value.reason == "too_large"


def test_a_fast_read_gives_the_counts_as_they_are_stored() -> None:
    """``counts``: the values as uint16 exactly when ``whole_counts`` would make them (every
    value below 65,536), so the day's stored form is not worked out again."""
    rng = np.random.default_rng(27)
    for i in range(60):
        top = [5, 300, 65_535, 65_536, 10_000_000][i % 5]
        values = rng.integers(0, top + 1, int(rng.integers(1, 1_441))).tolist()
        values[0] = top  # the largest value, on its bound
        fast = fast_minutes(orjson.dumps(record(values)))
        assert fast is not None
        want = whole_counts(fast.minutes)
        if want is None:
            assert fast.counts is None and top >= 65_536
        else:
            assert fast.counts is not None and fast.counts.dtype == np.dtype("<u2")
            assert fast.counts.tobytes() == want.tobytes()
    assert fast_or_full(orjson.dumps(record([0.5, 1]))).counts is None  # the full way

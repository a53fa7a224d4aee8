"""Activity samples from bytes or RADAR records, or a dead letter with its reason."""

from __future__ import annotations

import json
from typing import Any

import pytest

from consumer.errors import InvalidEvent
from consumer.windows.intake import REASONS, decode_radar_steps, decode_samples

GOOD: dict[str, Any] = {
    "schema_version": 1,
    "user_id": "user-1",
    "start": "2026-03-08T00:00:00-05:00",
    "interval_s": 60,
    "values": [0.0, 3.0],
    "tz": "America/New_York",
}


def raw(**changes: Any) -> bytes:
    return json.dumps({**GOOD, **changes}).encode()


def reason(value: bytes, *, strict_fields: bool = False) -> str:
    with pytest.raises(InvalidEvent) as refused:
        decode_samples(value, max_bytes=65_536, strict_fields=strict_fields)
    assert refused.value.reason in REASONS
    return refused.value.reason


def test_a_good_record_decodes() -> None:
    decoded = decode_samples(raw(), max_bytes=65_536, strict_fields=True)
    assert decoded.samples.values == [0.0, 3.0] and decoded.ignored_fields == ()
    assert decode_samples(raw(tz=None), max_bytes=65_536, strict_fields=True).samples.tz is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"", "empty"),
        (b"x" * 65_537, "too_large"),
        (b"{not json", "invalid_json"),
        (raw(interval_s=90), "wrong_interval"),
        (raw(interval_s=30), "wrong_interval"),
        (raw(interval_s="60"), "wrong_interval"),
        (raw(values=[1.0] * 1_441), "too_many_values"),
        (raw(interval_s=120, values=[1.0] * 721), "too_many_values"),
        (raw(values=[-1.0]), "out_of_range"),
        (raw(values=[]), "out_of_range"),
        (raw(values=["1"]), "wrong_type"),
        (raw().replace(b"3.0", b"NaN"), "not_finite"),
        (raw(tz="Mars/Base"), "unknown_time_zone"),
        (raw(start="2026-03-08T00:00:30Z"), "not_whole_minute"),
        (raw(start="2026-03-08T00:00:00"), "invalid_value"),
        (raw(user_id="a b"), "invalid_value"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "values"}).encode(), "missing_field"),
        (
            raw().replace(b'"interval_s": 60', b'"interval_s": 60, "interval_s": 60'),
            "duplicate_key",
        ),
    ],
)
def test_a_bad_record_is_refused_with_its_reason(value: bytes, expected: str) -> None:
    assert reason(value) == expected


def test_unknown_fields_are_ignored_and_named_unless_strict() -> None:
    value = raw(device="watch", **{"odd key!": 1})
    decoded = decode_samples(value, max_bytes=65_536, strict_fields=False)
    assert decoded.samples.values == [0.0, 3.0]
    assert sorted(decoded.ignored_fields) == ["device", "other"]
    assert reason(value, strict_fields=True) == "unknown_field"
    repeated = raw(device="w").replace(b'"values"', b'"values": [1.0], "values"')
    assert reason(repeated) == "duplicate_key"


def test_a_message_never_echoes_input_values() -> None:
    with pytest.raises(InvalidEvent) as refused:
        decode_samples(raw(values=[-123.25]), max_bytes=65_536, strict_fields=True)
    assert "values.0" in str(refused.value) and "-123.25" not in str(refused.value)


KEY: dict[str, Any] = {"projectId": "p", "userId": "5c8a-11ee", "sourceId": "fitbit"}
STEPS: dict[str, Any] = {
    "time": 1_772_946_000.0,
    "timeReceived": 1.0,
    "timeInterval": 60,
    "steps": 9,
}


def test_radar_records_decode_or_are_refused_with_their_reason() -> None:
    assert decode_radar_steps(KEY, STEPS).values == [9.0]
    cases: list[tuple[dict[str, Any], dict[str, Any], str]] = [
        (KEY, {**STEPS, "timeInterval": 45}, "wrong_interval"),
        (KEY, {**STEPS, "steps": -2}, "out_of_range"),
        (KEY, {**STEPS, "time": 1_772_946_001.0}, "not_whole_minute"),
        ({"projectId": "p", "sourceId": "s"}, STEPS, "missing_field"),
        (KEY, {**STEPS, "steps": "9"}, "wrong_type"),
    ]
    for key, value, expected in cases:
        with pytest.raises(InvalidEvent) as refused:
            decode_radar_steps(key, value)
        assert refused.value.reason == expected, (value, str(refused.value))

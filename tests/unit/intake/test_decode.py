from __future__ import annotations

import orjson
import pytest

from consumer.errors import InvalidEvent
from consumer.intake.decode import REASONS, decode, decode_event, field_label
from schemas import FEATURE_NAMES
from tests.fakes import event_bytes, event_dict

MAX = 262_144


def reason_of(value: bytes | None) -> str:
    with pytest.raises(InvalidEvent) as info:
        decode_event(value, max_bytes=MAX)
    assert info.value.reason in REASONS
    return info.value.reason


def test_valid_features_event_decodes() -> None:
    event = decode_event(event_bytes(seed=3), max_bytes=MAX)
    assert event.features is not None and set(event.features) == set(FEATURE_NAMES)
    assert event.activity is None


def test_feature_map_order_is_irrelevant() -> None:
    raw = event_dict()
    reversed_map = dict(reversed(list(raw["features"].items())))
    a = decode_event(orjson.dumps(raw), max_bytes=MAX)
    b = decode_event(orjson.dumps({**raw, "features": reversed_map}), max_bytes=MAX)
    assert a.features == b.features


def test_activity_only_event_decodes() -> None:
    event = decode_event(event_bytes(features=False, activity=True), max_bytes=MAX)
    assert event.features is None and event.activity is not None and len(event.activity) == 10_080


def test_null_feature_is_missing_not_invalid() -> None:
    raw = event_dict()
    raw["features"]["ST_long_SD"] = None
    event = decode_event(orjson.dumps(raw), max_bytes=MAX)
    assert event.features is not None and event.features["ST_long_SD"] is None


def with_feature(name: str, value: object) -> bytes:
    raw = event_dict()
    raw["features"][name] = value
    return orjson.dumps(raw)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "empty"),
        (b"", "empty"),
        (b"\xff\xfe{}", "invalid_utf8"),
        (b"{not json", "invalid_json"),
        (b"[]", "wrong_type"),
        (orjson.dumps({"schema_version": 1}), "missing_field"),
        (orjson.dumps({**event_dict(), "extra": 1}), "unknown_field"),
        (with_feature("ST_long_MN", "8.1"), "wrong_type"),
        (with_feature("ST_long_MN", True), "wrong_type"),
        (with_feature("ST_long_MN", 25.0), "out_of_range"),
        (with_feature("Sleep_percentage_MN", 1.5), "out_of_range"),
        (with_feature("LongSleepWindow_number_MN", -1.0), "out_of_range"),
        (with_feature("Not_a_feature", 1.0), "unknown_field"),
        (
            event_bytes().replace(b'"ST_long_Zscore":', b'"ST_long_Zscore":NaN,"x":', 1),
            "not_finite",
        ),
        (orjson.dumps({**event_dict(), "user_id": "bad user!"}), "invalid_value"),
        (orjson.dumps({**event_dict(), "schema_version": 2}), "invalid_value"),
        (orjson.dumps({**event_dict(), "emitted_at": "2026-11-27T10:00:00"}), "invalid_value"),
        (orjson.dumps(event_dict(features=False)), "invalid_value"),
        (orjson.dumps({**event_dict(features=False), "activity": [1.0] * 10}), "out_of_range"),
        (orjson.dumps({**event_dict(features=False), "activity": [-1.0] * 10_080}), "out_of_range"),
    ],
)
def test_invalid_events_get_a_reason(value: bytes | None, reason: str) -> None:
    assert reason_of(value) == reason


def test_missing_feature_name_is_named() -> None:
    raw = event_dict()
    del raw["features"]["Circadian_phase_SD"]
    with pytest.raises(InvalidEvent) as info:
        decode_event(orjson.dumps(raw), max_bytes=MAX)
    assert info.value.reason == "missing_field"
    assert "Circadian_phase_SD" in str(info.value)


def test_oversized_message_is_refused_before_parsing() -> None:
    assert reason_of(b"{" + b" " * MAX + b"}") == "too_large"


def test_messages_never_echo_values() -> None:
    raw = event_dict()
    raw["features"]["ST_long_MN"] = 23.456789
    raw["user_id"] = "secret person"
    with pytest.raises(InvalidEvent) as info:
        decode_event(orjson.dumps(raw), max_bytes=MAX)
    assert "secret person" not in str(info.value)
    assert "23.456789" not in str(info.value)


# -- tolerant reader (PROCESSING__STRICT_FIELDS=false, the service's default) ---------------


def tolerant_reason(value: bytes) -> str:
    with pytest.raises(InvalidEvent) as info:
        decode(value, max_bytes=MAX, strict_fields=False)
    return info.value.reason


def test_unknown_top_level_fields_are_ignored_and_named_when_tolerant() -> None:
    plain = event_bytes(seed=4)
    extended = orjson.dumps(
        {**event_dict(seed=4), "device_model": "ring-2", "bad key!": {"nested": [1, 'x"y']}}
    )
    decoded = decode(extended, max_bytes=MAX, strict_fields=False)
    assert decoded.event == decode_event(plain, max_bytes=MAX)
    assert decoded.ignored_fields == ("device_model", "other")
    assert decode(plain, max_bytes=MAX, strict_fields=False).ignored_fields == ()


def test_unknown_top_level_field_is_invalid_when_strict() -> None:
    extended = orjson.dumps({**event_dict(), "device_model": "ring-2"})
    with pytest.raises(InvalidEvent) as info:
        decode(extended, max_bytes=MAX, strict_fields=True)
    assert info.value.reason == "unknown_field"


def test_unknown_feature_name_stays_invalid_when_tolerant() -> None:
    assert tolerant_reason(with_feature("ST_long_mn", 1.0)) == "unknown_field"


def test_tolerant_mode_reports_the_real_problem_beside_an_unknown_field() -> None:
    raw = event_dict(extra_field=1)
    raw["features"]["ST_long_MN"] = 25.0
    assert tolerant_reason(orjson.dumps(raw)) == "out_of_range"
    assert tolerant_reason(orjson.dumps(event_dict(features=False, extra_field=1))) == (
        "invalid_value"  # neither features nor activity: the unknown field does not hide it
    )


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b'"user_id":"user-0"', b'"user_id":"a","user_id":"user-0"'),
        (b'"ST_long_MN":', b'"ST_long_MN":1.0,"ST_long_MN":'),
        (b'"x_extra":1', b'"x_extra":1,"x_extra":2'),
        (b'"x_extra":1', b'"x_extra":{"k":1,"k":2}'),
    ],
)
def test_tolerant_mode_still_refuses_repeated_keys(old: bytes, new: bytes) -> None:
    """With an unknown field the quote count cannot be used; a full parse checks instead."""
    raw = orjson.dumps(event_dict(x_extra=1))
    assert old in raw
    assert tolerant_reason(raw.replace(old, new, 1)) == "duplicate_key"


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("device_model", "device_model"),
        ("deviceModel2", "deviceModel2"),
        ("_v", "_v"),
        ("a" * 40, "a" * 40),
        ("a" * 41, "other"),
        ("bad key", "other"),
        ("9lives", "other"),
        ("dévice", "other"),
        ("", "other"),
        ("a.b", "other"),
    ],
)
def test_unknown_field_labels_are_short_identifiers_or_other(name: str, label: str) -> None:
    assert field_label(name) == label


def test_event_id_is_kept_exactly_as_received() -> None:
    upper = "3F2504E0-4F89-11D3-9A0C-0305E82C3301"
    decoded = decode_event(orjson.dumps(event_dict(event_id=upper)), max_bytes=MAX)
    assert decoded.event_id == upper
    assert reason_of(orjson.dumps(event_dict(event_id=upper[:-1] + "G"))) == "wrong_type"

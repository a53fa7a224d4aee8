"""The decode fast path: it takes the common event, and only what the full decode takes.

The agreement on arbitrary input is fuzzed in test_decode_fuzz.py (``outcome``); here the
cases its quote count exists for: unknown names inside ``features`` (which its validator
ignores) and repeated keys, each refused by the full decode with its own reason.
"""

from __future__ import annotations

import orjson
import pytest

from consumer.errors import InvalidEvent
from consumer.intake import fast_path
from consumer.intake.decode import decode, decode_in_full
from schemas import FeatureEvent
from tests.fakes import event_bytes, event_dict

MAX = 262_144


@pytest.mark.parametrize(
    "value",
    [
        event_bytes(seed=3),
        event_bytes(features=False, activity=True),
        event_bytes(activity=True, seed=5),
        orjson.dumps(
            {**event_dict(), "features": {**event_dict()["features"], "ST_long_SD": None}}
        ),
    ],
)
def test_a_valid_event_takes_the_fast_path_with_the_full_decodes_values(value: bytes) -> None:
    fast = fast_path.accepted(value)
    assert fast is not None, "a plain valid event missed the fast path"
    assert type(fast) is FeatureEvent
    full = decode_in_full(value, strict_fields=True).event
    assert fast == full and fast.model_fields_set == full.model_fields_set


def with_unknown_feature(value: object) -> bytes:
    raw = event_dict()
    raw["features"]["Not_a_feature"] = value
    return orjson.dumps(raw)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (with_unknown_feature(1.0), "unknown_field"),
        (with_unknown_feature(None), "unknown_field"),
        (with_unknown_feature("text"), "unknown_field"),
        (with_unknown_feature({"a": [1, "b"]}), "unknown_field"),
        (
            event_bytes().replace(b'"ST_long_MN":', b'"ST_long_MN":1.0,"ST_long_MN":', 1),
            "duplicate_key",
        ),
        (
            event_bytes().replace(b'"user_id":', b'"as_of":"2026-01-01","user_id":', 1),
            "duplicate_key",
        ),
    ],
)
def test_unknown_feature_names_and_repeated_keys_go_the_full_way(value: bytes, reason: str) -> None:
    assert fast_path.accepted(value) is None
    for strict_fields in (True, False):
        with pytest.raises(InvalidEvent) as info:
            decode(value, max_bytes=MAX, strict_fields=strict_fields)
        assert info.value.reason == reason


@pytest.mark.parametrize("value", [b"", b"{", b"[]", b"\xff", b'{"schema_version":1}', b"1" * 5000])
def test_anything_else_is_left_to_the_full_decode(value: bytes) -> None:
    assert fast_path.accepted(value) is None

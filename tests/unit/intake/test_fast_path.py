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


_ID = b'"event_id":"'


@pytest.mark.parametrize(
    "value",
    [
        event_bytes().replace(b'"schema_version":1', b'"schema_version":' + version, 1)
        for version in (b"true", b"1.0", b"1e0", b'"1"', b"2", b"0", b"-1", b"null", b"1" * 30)
    ]
    + [
        event_bytes().replace(_ID, _ID + prefix, 1)
        for prefix in (b"{", b"urn:uuid:", b"x", b" ", b"-")
    ]
    + [
        # a bare 32-hex id, a newline after it, braces: all outside the 8-4-4-4-12 form
        orjson.dumps({**event_dict(), "event_id": text})
        for text in (
            "0123456789abcdef0123456789abcdef",
            "01234567-89ab-cdef-0123-456789abcdef\n",
            "{01234567-89ab-cdef-0123-456789abcdef}",
            "01234567-89ab-cdef-0123-456789abcdeg",
        )
    ],
)
def test_the_ids_form_and_the_version_are_checked_as_the_contract_checks_them(
    value: bytes,
) -> None:
    """The fast path checks ``event_id`` and ``schema_version`` in pydantic-core instead of
    the contract's Python validators: whatever they refuse, it refuses too."""
    assert fast_path.accepted(value) is None
    with pytest.raises(InvalidEvent):
        decode(value, max_bytes=MAX, strict_fields=True)


def test_an_upper_case_id_is_taken_by_both_ways_alike() -> None:
    value = orjson.dumps({**event_dict(), "event_id": "01234567-89AB-CDEF-0123-456789ABCDEF"})
    fast = fast_path.accepted(value)
    assert fast is not None and fast == decode_in_full(value, strict_fields=True).event


@pytest.mark.parametrize(
    "raw",
    [
        {k: v for k, v in event_dict().items() if k != "features"},  # no input at all
        {**event_dict(), "features": None},
        {**event_dict(), "coverage": 0.9},  # coverage without activity
        {**event_dict(), "features": None, "coverage": 0.9},
    ],
)
def test_events_the_models_check_refuses_go_the_full_way(raw: dict[str, object]) -> None:
    """The fast path checks ``FeatureEvent._has_inputs`` inline, not through pydantic-core:
    whatever that check refuses, the fast path leaves to the full decode, which refuses it."""
    value = orjson.dumps(raw)
    assert fast_path.accepted(value) is None
    with pytest.raises(InvalidEvent) as info:
        decode(value, max_bytes=MAX, strict_fields=True)
    assert "activity" in str(info.value)


def test_a_week_with_its_coverage_takes_the_fast_path() -> None:
    value = orjson.dumps({**orjson.loads(event_bytes(activity=True, seed=5)), "coverage": 0.9})
    fast = fast_path.accepted(value)
    assert fast is not None and fast.coverage == 0.9
    assert fast == decode_in_full(value, strict_fields=True).event

"""Property-based fuzzing of ``decode_event``: hostile input never escapes as another exception.

Every input must either decode to a ``FeatureEvent`` (which then survives a JSON round
trip) or raise ``InvalidEvent`` with a ``reason`` in ``REASONS`` and a short one-line
message; where the contract decides the outcome (a number out of range, a boolean for a
number, a duplicate key, a user id outside the pattern, ...) the test says which.

Bounded and reproducible by default (``DEFAULT_EXAMPLES`` per test, derandomized, no
example database). Longer on demand, with fresh randomness each run::

    MOODSTREAM_FUZZ_EXAMPLES=5000 python -m pytest tests/unit/intake/test_decode_fuzz.py \\
        --hypothesis-show-statistics
"""

from __future__ import annotations

import json
import math
import os
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta, timezone
from typing import Any, Final

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumer.errors import InvalidEvent
from consumer.intake import fast_path
from consumer.intake.decode import REASONS, decode, decode_event, decode_in_full
from schemas import ACTIVITY_MINUTES, FEATURE_NAMES, FeatureEvent, feature_bounds
from tests.fakes import event_dict

MAX_BYTES: Final = 262_144
DEFAULT_EXAMPLES: Final = 300
MAX_MESSAGE_CHARS: Final = 600
USER_ID_RE: Final = re.compile(r"[A-Za-z0-9._:-]{1,128}")
TOP_LEVEL: Final = tuple(FeatureEvent.model_fields)
REQUIRED: Final = ("schema_version", "event_id", "user_id", "as_of", "emitted_at")


def _examples() -> int:
    raw = os.environ.get("MOODSTREAM_FUZZ_EXAMPLES", "").strip()
    return int(raw) if raw else DEFAULT_EXAMPLES


EXAMPLES: Final = _examples()
LONG_RUN: Final = EXAMPLES != DEFAULT_EXAMPLES
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not LONG_RUN,  # CI: the same examples every run
    database=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)
# ~0.1 s per example is generous even for 10,080-value activity events.
pytestmark = pytest.mark.timeout(max(300, int(EXAMPLES * 0.1)))


# -- an encoder that can write what json.dumps refuses to --------------------------------


@dataclass(frozen=True)
class Raw:
    """A JSON token written verbatim: ``NaN``, ``1e400``, ``"\\ud800"``, deep nesting."""

    text: str


@dataclass(frozen=True)
class Obj:
    """A JSON object as ordered pairs, so keys may repeat."""

    pairs: tuple[tuple[str, Any], ...]


def to_json(value: Any) -> str:
    """JSON text of ``value``; ``str`` keys/values with lone surrogates become ``\\udXXX``."""
    if isinstance(value, Raw):
        return value.text
    if value is BASE_ACTIVITY:
        return BASE_ACTIVITY_JSON
    if isinstance(value, dict):
        value = Obj(tuple(value.items()))
    if isinstance(value, Obj):
        return "{" + ",".join(f"{json.dumps(k)}:{to_json(v)}" for k, v in value.pairs) + "}"
    if isinstance(value, list):
        if all(type(v) in (int, float) for v in value):
            return json.dumps(value)  # fast path for activity
        return "[" + ",".join(to_json(v) for v in value) + "]"
    return json.dumps(value)  # allow_nan: NaN / Infinity tokens


#: The activity week every generated event shares (never mutated: copy it first).
BASE_ACTIVITY: Final[list[float]] = event_dict(features=False, activity=True)["activity"]
BASE_ACTIVITY_JSON: Final = json.dumps(BASE_ACTIVITY)


def activity_ending_with(value: Any) -> Raw:
    """A week of zeros whose last minute is ``value`` (fast: no per-element encoding)."""
    return Raw("[" + "0.0," * (ACTIVITY_MINUTES - 1) + to_json(value) + "]")


def encode(value: Any) -> bytes:
    return to_json(value).encode("ascii")


# -- the property every input must have ---------------------------------------------------


def outcome(raw: bytes | None) -> FeatureEvent | str:
    """The decoded event, or the ``InvalidEvent`` reason. Any other exception fails the test.
    Whatever the fast path accepts, the full decode accepts too, with an equal event."""
    fast = fast_path.accepted(raw) if raw else None
    if fast is not None:
        assert raw is not None
        assert raw.isascii(), "the fast path accepted non-ASCII (decode checks UTF-8 after it)"
        assert decode_in_full(raw, strict_fields=True).event == fast, "fast path disagrees"
    try:
        event = decode_event(raw, max_bytes=MAX_BYTES)
    except InvalidEvent as exc:
        message = str(exc)
        assert exc.reason in REASONS, exc.reason
        assert message and "\n" not in message and len(message) <= MAX_MESSAGE_CHARS, message
        return exc.reason
    again = decode_event(event.model_dump_json().encode(), max_bytes=MAX_BYTES)
    assert again == event, "a decoded event does not survive a JSON round trip"
    return event


def invalid(raw: bytes, *reasons: str) -> str:
    result = outcome(raw)
    assert isinstance(result, str), "expected InvalidEvent, the event decoded"
    if reasons:
        assert result in reasons, f"reason {result!r}, expected one of {reasons}"
    return result


def valid(raw: bytes) -> FeatureEvent:
    result = outcome(raw)
    assert isinstance(result, FeatureEvent), f"a valid event was refused: {result}"
    return result


# -- strategies ---------------------------------------------------------------------------

RAW_TOKENS: Final = tuple(
    Raw(t)
    for t in (
        "NaN",
        "Infinity",
        "-Infinity",
        "1e400",
        "-1e400",
        "1e-400",
        "9" * 400,
        "-" + "9" * 5000,
        "0." + "0" * 400 + "1",
        '"\\ud800"',
        '"\\udfff\\ud800"',
        '"\\u0000"',
        "[" * 300 + "]" * 300,
        '{"a":' * 300 + "1" + "}" * 300,
        "-0",
        "1E+2",
        "true",
        "null",
        '""',
    )
)
plain_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
)
scalars = plain_scalars | st.sampled_from(RAW_TOKENS)
garbage = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
#: Not numbers; built from plain values only, since a nested 5000-digit number already
#: fails JSON parsing ("number out of range": invalid_json) before any type check.
not_a_number = st.one_of(
    st.booleans(),
    st.text(max_size=20),
    st.lists(plain_scalars, max_size=3),
    st.dictionaries(st.text(max_size=5), plain_scalars, max_size=3),
)
user_ids = st.from_regex(USER_ID_RE, fullmatch=True)
#: RFC 3339 offsets are whole minutes within ±23:59.
utc_offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@st.composite
def base_events(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event as a dict: features, activity, or both."""
    shape = draw(st.sampled_from(["features", "activity", "both"]))
    event = event_dict(features=shape != "activity", seed=draw(st.integers(0, 1_000)))
    if shape != "features":
        event["activity"] = BASE_ACTIVITY
    event["user_id"] = draw(user_ids)
    return event


def in_range_feature(name: str) -> st.SearchStrategy[float | None]:
    low, high = feature_bounds(name)
    return st.none() | st.floats(min_value=low, max_value=high, allow_nan=False)


@st.composite
def valid_events(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event with random content, key order and inputs."""
    event = draw(base_events())
    event["event_id"] = str(draw(st.uuids()))
    event["as_of"] = draw(st.dates()).isoformat()
    event["emitted_at"] = draw(st.datetimes(timezones=utc_offsets)).isoformat()
    if "features" in event:
        event["features"] = {n: draw(in_range_feature(n)) for n in FEATURE_NAMES}
    if "activity" in event:
        event["activity"] = list(BASE_ACTIVITY)
        for _ in range(draw(st.integers(0, 5))):
            index = draw(st.integers(0, ACTIVITY_MINUTES - 1))
            event["activity"][index] = draw(st.floats(0, 1e7) | st.integers(0, 10**7))
    keys = draw(st.permutations(list(event)))
    return {key: event[key] for key in keys}


# -- unstructured input -------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=4_096))
def test_arbitrary_bytes_are_an_event_or_invalid(raw: bytes) -> None:
    outcome(raw)


@FUZZ
@given(garbage)
def test_arbitrary_json_is_an_event_or_invalid(value: Any) -> None:
    outcome(encode(value))


@FUZZ
@given(base_events(), st.data())
def test_byte_level_mutations_of_a_valid_event(event: dict[str, Any], data: st.DataObject) -> None:
    raw = bytearray(encode(event))
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(raw)))
        action = data.draw(st.sampled_from(["insert", "delete", "replace", "truncate"]))
        chunk = data.draw(st.binary(min_size=1, max_size=8))
        if action == "insert":
            raw[position:position] = chunk
        elif action == "delete":
            del raw[position : position + len(chunk)]
        elif action == "replace":
            raw[position : position + len(chunk)] = chunk
        else:
            del raw[position:]
    outcome(bytes(raw))


# -- structured mutations -----------------------------------------------------------------

Mutation = Callable[[dict[str, Any], st.DataObject], Any]


def drop_key(event: dict[str, Any], data: st.DataObject) -> Any:
    dropped = data.draw(st.sampled_from(sorted(event)))
    return {k: v for k, v in event.items() if k != dropped}


def add_key(event: dict[str, Any], data: st.DataObject) -> Any:
    return {**event, data.draw(st.text(max_size=20)): data.draw(garbage)}


def replace_value(event: dict[str, Any], data: st.DataObject) -> Any:
    return {**event, data.draw(st.sampled_from(sorted(event))): data.draw(garbage)}


def mutate_feature(event: dict[str, Any], data: st.DataObject) -> Any:
    current = event.get("features")
    features = dict(current) if isinstance(current, dict) else dict.fromkeys(FEATURE_NAMES, 1.0)
    name = data.draw(st.sampled_from(FEATURE_NAMES) | st.text(max_size=30))
    if data.draw(st.booleans()):
        features.pop(name, None)
    else:
        features[name] = data.draw(garbage)
    return {**event, "features": features}


def mutate_activity(event: dict[str, Any], data: st.DataObject) -> Any:
    current = event.get("activity")
    activity: list[Any] = list(current) if isinstance(current, list) else [0.0] * ACTIVITY_MINUTES
    length = data.draw(
        st.sampled_from(
            [
                0,
                1,
                ACTIVITY_MINUTES - 1,
                ACTIVITY_MINUTES,
                ACTIVITY_MINUTES + 1,
                2 * ACTIVITY_MINUTES,
            ]
        )
    )
    activity = (activity * 2)[:length]
    replace_one: bool = data.draw(st.booleans())
    if activity and replace_one:
        activity[data.draw(st.integers(0, len(activity) - 1))] = data.draw(garbage)
    return {**event, "activity": activity}


def duplicate_key(event: dict[str, Any], data: st.DataObject) -> Any:
    pairs = list(event.items())
    key = data.draw(st.sampled_from(sorted(event)))
    pairs.insert(data.draw(st.integers(0, len(pairs))), (key, data.draw(garbage)))
    return Obj(tuple(pairs))


def random_user_id(event: dict[str, Any], data: st.DataObject) -> Any:
    return {**event, "user_id": data.draw(st.text(max_size=200))}


MUTATIONS: Final[tuple[Mutation, ...]] = (
    drop_key,
    add_key,
    replace_value,
    mutate_feature,
    mutate_activity,
    duplicate_key,
    random_user_id,
)


@FUZZ
@given(base_events(), st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=4), st.data())
def test_structured_mutations_are_an_event_or_invalid(
    event: dict[str, Any], mutations: list[Mutation], data: st.DataObject
) -> None:
    mutated: Any = event
    for mutation in mutations:
        if isinstance(mutated, Obj):  # a duplicate key was added: later mutations need a dict
            break
        mutated = mutation(mutated, data)
    outcome(encode(mutated))


# -- the tolerant reader (PROCESSING__STRICT_FIELDS=false) --------------------------------


def tolerant_outcome(raw: bytes) -> tuple[FeatureEvent, tuple[str, ...]] | str:
    """Tolerant decoding, with the same guarantees as ``outcome`` (only InvalidEvent)."""
    try:
        decoded = decode(raw, max_bytes=MAX_BYTES, strict_fields=False)
    except InvalidEvent as exc:
        message = str(exc)
        assert exc.reason in REASONS, exc.reason
        assert message and "\n" not in message and len(message) <= MAX_MESSAGE_CHARS, message
        return exc.reason
    return decoded.event, decoded.ignored_fields


@FUZZ
@given(base_events(), st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=4), st.data())
def test_tolerant_reading_differs_from_strict_only_by_unknown_top_level_fields(
    event: dict[str, Any], mutations: list[Mutation], data: st.DataObject
) -> None:
    mutated: Any = event
    for mutation in mutations:
        if isinstance(mutated, Obj):
            break
        mutated = mutation(mutated, data)
    raw = encode(mutated)
    strict, tolerant = outcome(raw), tolerant_outcome(raw)
    if isinstance(strict, FeatureEvent):
        assert tolerant == (strict, ())
    elif not isinstance(tolerant, str):
        assert strict == "unknown_field" and tolerant[1], (strict, tolerant)
        again = decode_event(tolerant[0].model_dump_json().encode(), max_bytes=MAX_BYTES)
        assert again == tolerant[0]


json_values = st.recursive(
    plain_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


@FUZZ
@given(
    valid_events(),
    st.dictionaries(
        st.text(max_size=30).filter(lambda k: k not in TOP_LEVEL),
        json_values,
        min_size=1,
        max_size=3,
    ),
)
def test_added_top_level_fields_are_ignored_when_tolerant(
    event: dict[str, Any], added: dict[str, Any]
) -> None:
    result = tolerant_outcome(encode({**event, **added}))
    assert not isinstance(result, str), f"an event with added fields was refused: {result}"
    assert result[0] == valid(encode(event))
    assert len(result[1]) == len(added)


# -- properties with a known answer -------------------------------------------------------


@FUZZ
@given(valid_events(), st.sampled_from(["", " ", "\n", "\t  "]))
def test_valid_events_always_decode_to_what_was_sent(event: dict[str, Any], pad: str) -> None:
    decoded = valid((pad + to_json(event) + pad).encode("ascii"))
    assert str(decoded.event_id) == event["event_id"]
    assert decoded.user_id == event["user_id"]
    assert decoded.features == event.get("features")
    assert decoded.activity == event.get("activity")


@FUZZ
@given(base_events(), st.sampled_from(FEATURE_NAMES), st.floats())
def test_a_feature_is_valid_exactly_when_finite_and_physical(
    event: dict[str, Any], name: str, value: float
) -> None:
    event["features"] = {**event.get("features", {n: None for n in FEATURE_NAMES}), name: value}
    low, high = feature_bounds(name)
    if not math.isfinite(value):
        invalid(encode(event), "not_finite")
    elif not low <= value <= high:
        invalid(encode(event), "out_of_range")
    else:
        decoded = valid(encode(event))
        assert decoded.features is not None and decoded.features[name] == value


@FUZZ
@given(base_events(), st.sampled_from(["features", "activity"]), not_a_number)
def test_non_numbers_in_number_slots_are_wrong_types(
    event: dict[str, Any], slot: str, value: Any
) -> None:
    if slot == "features":
        event["features"] = {
            **(event.get("features") or {}),
            **dict.fromkeys(FEATURE_NAMES, 1.0),
            FEATURE_NAMES[7]: value,
        }
    else:
        event["activity"] = activity_ending_with(value)
    invalid(encode(event), "wrong_type")


@FUZZ
@given(base_events(), st.sampled_from(RAW_TOKENS[:5]), st.sampled_from(["features", "activity"]))
def test_nan_infinity_and_overflow_are_not_finite(
    event: dict[str, Any], token: Raw, slot: str
) -> None:
    if slot == "features":
        event["features"] = {**dict.fromkeys(FEATURE_NAMES, 1.0), FEATURE_NAMES[2]: token}
    else:
        event["activity"] = activity_ending_with(token)
    invalid(encode(event), "not_finite")


@FUZZ
@given(base_events(), st.text(max_size=200))
def test_user_id_is_valid_exactly_when_it_matches_the_contract(
    event: dict[str, Any], user_id: str
) -> None:
    event["user_id"] = user_id
    if USER_ID_RE.fullmatch(user_id):
        assert valid(encode(event)).user_id == user_id
    else:
        invalid(encode(event), "invalid_value", "out_of_range")


@FUZZ
@given(base_events(), st.data())
def test_raw_unicode_with_lone_surrogates_is_invalid_utf8(
    event: dict[str, Any], data: st.DataObject
) -> None:
    surrogate = chr(data.draw(st.integers(0xD800, 0xDFFF)))
    key = data.draw(st.sampled_from(["user_id", "as_of", "emitted_at"]))
    event[key] = event[key] + surrogate
    text = json.dumps(event, ensure_ascii=False)
    invalid(text.encode("utf-8", errors="surrogatepass"), "invalid_utf8")


@FUZZ
@given(base_events(), st.data())
def test_a_repeated_key_is_refused_even_with_the_same_value(
    event: dict[str, Any], data: st.DataObject
) -> None:
    pairs = list(event.items())
    key = data.draw(st.sampled_from(sorted(event)))
    pairs.insert(data.draw(st.integers(0, len(pairs))), (key, event[key]))
    invalid(encode(Obj(tuple(pairs))), "duplicate_key")
    if "features" in event:
        feature_pairs = list(event["features"].items())
        feature_pairs.insert(0, feature_pairs[data.draw(st.integers(0, 35))])
        invalid(encode({**event, "features": Obj(tuple(feature_pairs))}), "duplicate_key")


@FUZZ
@given(base_events(), st.sampled_from(REQUIRED))
def test_dropping_a_required_field_is_missing_field(event: dict[str, Any], field: str) -> None:
    del event[field]
    invalid(encode(event), "missing_field")


@FUZZ
@given(base_events(), st.integers(0, 3 * ACTIVITY_MINUTES).filter(lambda n: n != ACTIVITY_MINUTES))
def test_activity_of_the_wrong_length_is_out_of_range(event: dict[str, Any], length: int) -> None:
    event["activity"] = [1.0] * length
    invalid(encode(event), "out_of_range")


secret_tokens = st.text(string.ascii_letters + string.digits, min_size=10, max_size=20).map(
    lambda s: "zqSECRET" + s
)


@FUZZ
@given(base_events(), secret_tokens, st.sampled_from(["key", "feature_key", "user_id", "value"]))
def test_invalid_event_messages_never_echo_input(
    event: dict[str, Any], token: str, where: str
) -> None:
    if where == "key":
        event[token] = 1
    elif where == "feature_key":
        event["features"] = {**dict.fromkeys(FEATURE_NAMES, 1.0), token: "x"}
    elif where == "user_id":
        event["user_id"] = token + " !"
    else:
        event["features"] = {**dict.fromkeys(FEATURE_NAMES, 1.0), FEATURE_NAMES[0]: token}
    with pytest.raises(InvalidEvent) as info:
        decode_event(encode(event), max_bytes=MAX_BYTES)
    assert token not in str(info.value)
    assert "zqSECRET" not in str(info.value)


def test_oversized_input_is_refused_before_parsing() -> None:
    huge_and_broken = b"{" + b"[" * MAX_BYTES
    assert invalid(huge_and_broken) == "too_large"


@pytest.mark.parametrize("token", RAW_TOKENS, ids=lambda t: t.text[:12])
def test_every_raw_token_as_the_whole_message(token: Raw) -> None:
    outcome(token.text.encode())


# -- the hostile inputs this review found or checked, as fixed examples --------------------

_GOOD: Final = encode(event_dict())
_ID: Final = b'"00000000-0000-0000-0000-000000000001"'


def _swap(old: bytes, new: bytes) -> bytes:
    assert old in _GOOD
    return _GOOD.replace(old, new, 1)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (_swap(b'"schema_version":1', b'"schema_version":true'), "wrong_type"),
        (_swap(b'"schema_version":1', b'"schema_version":1.0'), "wrong_type"),
        (_swap(b'"schema_version":1', b'"schema_version":1e400'), "wrong_type"),
        (_swap(b'"schema_version":1', b'"schema_version":' + b"1" * 5000), "invalid_json"),
        (_swap(_ID, b'"{00000000-0000-0000-0000-000000000001}"'), "wrong_type"),
        (_swap(_ID, b'"urn:uuid:00000000-0000-0000-0000-000000000001"'), "wrong_type"),
        (_swap(_ID, b'"00000000000000000000000000000001"'), "wrong_type"),
        (_swap(b'"user_id":"user-0"', b'"user_id":"a","user_id":"user-0"'), "duplicate_key"),
        (_swap(b'"user_id":"user-0"', b'"user_id":"a","user\\u005fid":"user-0"'), "duplicate_key"),
        (_swap(b'"ST_long_MN":', b'"ST_long_MN":1.0,"ST_long_MN":'), "duplicate_key"),
        (_swap(b'"ST_long_MN":1.0', b'"ST_long_MN":1e400'), "not_finite"),
        (_swap(b'"ST_long_MN":1.0', b'"ST_long_MN":-Infinity'), "not_finite"),
        (_swap(b'"ST_long_MN":1.0', b'"ST_long_MN":NaN'), "not_finite"),
        (_swap(b'"user_id":"user-0"', b'"user_id":"\\ud800"'), "invalid_json"),
        (_swap(b'"user_id":"user-0"', b'"user_id":"u\xed\xa0\x80"'), "invalid_utf8"),
        (_swap(b'"user_id":"user-0"', b'"user_id":"u\xc0\xae"'), "invalid_utf8"),
        (b"\xef\xbb\xbf" + _GOOD, "invalid_json"),
        (_GOOD[:-1] + b',"x":' + b"[" * 5000 + b"]" * 5000 + b"}", "invalid_json"),
        (_GOOD + b"{}", "invalid_json"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_known_hostile_inputs(raw: bytes, reason: str) -> None:
    assert invalid(raw) == reason


def test_a_duplicate_key_inside_an_otherwise_valid_event_is_the_only_problem() -> None:
    assert isinstance(outcome(_GOOD), FeatureEvent)
    assert invalid(_swap(b'"as_of":', b'"as_of":"2026-01-01","as_of":')) == "duplicate_key"


def test_the_duplicate_key_check_knows_every_string_field() -> None:
    """decode's quote count assumes these four strings, none able to hold a quote, and no
    other: a new string or nested-object field must update ``_require_unique_keys`` and
    ``fast_path.expected_quotes``."""
    properties = FeatureEvent.model_json_schema()["properties"]
    strings = {name for name, spec in properties.items() if spec.get("type") == "string"}
    assert strings == set(fast_path.STRING_VALUES)
    numbers = {"schema_version", "coverage"}  # no quotes in their values
    assert set(properties) == {*fast_path.STRING_VALUES, *numbers, "features", "activity"}

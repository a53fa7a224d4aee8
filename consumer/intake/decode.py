"""Kafka message value → ``FeatureEvent``, or a typed ``InvalidEvent`` carrying why.

Pure and thread-safe. Every input either becomes a valid event or raises
``InvalidEvent``; no other exception escapes (tests/unit/intake/test_decode_fuzz.py holds us
to that). Messages never echo input values or input keys: they name contract fields
and rules only (an unknown key shows as ``<unknown key>``), and are capped in length,
so they are safe to count, log and put in dead-letter headers.

Tolerant reader (``strict_fields=False``, the service's default): unknown *top-level*
fields are ignored, and ``Decoded.ignored_fields`` names them as metric labels (a short
identifier as is, anything else ``other``). Unknown names inside ``features`` stay
invalid in both modes: that map is the boosters' input vector, and a name the service
does not know is a misspelt or renamed model input, not an added field it may skip.

Limits enforced here or by the contract (schemas/events.py): size (``max_bytes``,
checked before anything else), UTF-8 (lone surrogates included), JSON syntax and
nesting depth (the parser's recursion limit), NaN/Infinity/overflowing numbers,
strict types, duplicate keys, unknown fields, every string and list length.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Final

from pydantic import ConfigDict, ValidationError

from consumer.errors import InvalidEvent
from consumer.intake import fast_path
from schemas import FEATURE_NAMES, FeatureEvent

#: Bounded set of ``reason`` labels (metrics must not explode in cardinality).
REASONS: Final = (
    "empty",
    "too_large",
    "invalid_utf8",
    "invalid_json",
    "missing_field",
    "unknown_field",
    "wrong_type",
    "not_finite",
    "out_of_range",
    "invalid_value",
    "duplicate_key",
    # Schema Registry input (PROCESSING__INPUT_FORMAT, consumer/schema_registry/decoding.py)
    "not_registry_framed",
    "truncated_frame",
    "unknown_schema_id",
    "wrong_schema_type",
    "unresolvable_schema",
    # Registry-framed keys (PROCESSING__KEY_FORMAT, consumer/schema_registry/keys.py)
    "invalid_key",
    "key_user_mismatch",
)

_TYPE_TO_REASON: Final = {
    "json_invalid": "invalid_json",
    "json_type": "invalid_json",
    "missing": "missing_field",
    "extra_forbidden": "unknown_field",
    "finite_number": "not_finite",
    "greater_than_equal": "out_of_range",
    "less_than_equal": "out_of_range",
    "too_short": "out_of_range",
    "too_long": "out_of_range",
    "string_too_short": "out_of_range",
    "string_too_long": "out_of_range",
}
_MAX_ERRORS_IN_MESSAGE: Final = 3
_MAX_MESSAGE_CHARS: Final = 512
#: Keys that may appear in messages: the contract's own vocabulary, nothing from input.
_NAMEABLE: Final = frozenset(FeatureEvent.model_fields) | frozenset(FEATURE_NAMES)
#: An unknown field's name is its own metric label only when it looks like an identifier.
_LABEL_SAFE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")
OTHER_FIELD: Final = "other"


@dataclass(frozen=True, slots=True)
class Decoded:
    """A valid event and the labels of the unknown top-level fields that were ignored."""

    event: FeatureEvent
    ignored_fields: tuple[str, ...] = ()


class _OpenFeatureEvent(FeatureEvent):
    """The contract with unknown top-level fields ignored (``features`` stays closed)."""

    model_config = ConfigDict(extra="ignore")


def decode_event(
    value: bytes | None, *, max_bytes: int, strict_fields: bool = True
) -> FeatureEvent:
    """Decode and validate one message value. Raises ``InvalidEvent``; never blocks."""
    return decode(value, max_bytes=max_bytes, strict_fields=strict_fields).event


def decode(value: bytes | None, *, max_bytes: int, strict_fields: bool) -> Decoded:
    """Like ``decode_event``; with ``strict_fields=False`` unknown top-level fields are
    ignored and named in the result. Raises ``InvalidEvent``; never blocks."""
    if not value:
        raise InvalidEvent("empty", "empty message value")
    if len(value) > max_bytes:
        raise InvalidEvent("too_large", f"message of {len(value)} bytes exceeds {max_bytes}")
    # most events: what the full way below would give. An event it accepts is ASCII (its
    # strings are known keys and values whose patterns allow ASCII only), so valid UTF-8.
    event = fast_path.accepted(value)
    if event is not None:
        return Decoded(event)
    try:
        value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEvent("invalid_utf8", f"invalid UTF-8 at byte {exc.start}") from None
    return decode_in_full(value, strict_fields)


def decode_in_full(value: bytes, strict_fields: bool) -> Decoded:
    """``decode`` without its fast path (``fast_path.accepted``): the contract's whole
    validation and every reason; ``value`` already passed the size and UTF-8 checks.
    Raises ``InvalidEvent``; never blocks."""
    try:
        event = FeatureEvent.model_validate_json(value)
    except ValidationError as exc:
        unknown = () if strict_fields else _unknown_top_level(exc)
        if not unknown:
            raise as_invalid(exc) from None
        return Decoded(_ignoring_unknown(value), tuple(field_label(name) for name in unknown))
    except (ValueError, TypeError, RecursionError) as exc:  # defensive: parser edge cases
        raise _undecodable(exc) from None
    _require_unique_keys(value, event)
    return Decoded(event)


def field_label(name: str) -> str:
    """The metric label of an unknown field: its name when a short identifier, else other."""
    return name if _LABEL_SAFE.fullmatch(name) else OTHER_FIELD


def _unknown_top_level(exc: ValidationError) -> list[str]:
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    return [
        str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden" and len(e["loc"]) == 1
    ]


def _ignoring_unknown(value: bytes) -> FeatureEvent:
    """The event without its unknown top-level fields (second parse: only for such events)."""
    try:
        open_event = _OpenFeatureEvent.model_validate_json(value)
    except ValidationError as exc:
        raise as_invalid(exc) from None
    except (ValueError, TypeError, RecursionError) as exc:
        raise _undecodable(exc) from None
    _require_unique_keys_anywhere(value)
    # Already validated: the same fields (extras were dropped), so no second validation.
    return FeatureEvent.model_construct(open_event.model_fields_set, **open_event.__dict__)


class _RepeatedKey(Exception):
    pass


def _unique_pairs(pairs: list[tuple[str, object]]) -> None:
    if len({key for key, _ in pairs}) != len(pairs):
        raise _RepeatedKey


def _require_unique_keys_anywhere(value: bytes) -> None:
    """The duplicate-key rule when unknown fields make the quote count unusable: a full
    parse (stdlib json) that refuses any object repeating a key, at any depth."""
    try:
        json.loads(value, object_pairs_hook=_unique_pairs)
    except _RepeatedKey:
        raise InvalidEvent("duplicate_key", "a key appears more than once in the event") from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer over Python's digit limit
        raise _undecodable(exc) from None


def _undecodable(exc: BaseException) -> InvalidEvent:
    return InvalidEvent("invalid_json", f"undecodable JSON ({type(exc).__name__})")


def _require_unique_keys(value: bytes, event: FeatureEvent) -> None:
    """Refuse a valid-looking event whose JSON repeats a key (parsers disagree on which wins).

    In a valid event every string is a key or one of ``fast_path.STRING_VALUES`` (UUID, pattern-
    restricted id, date, time: none can contain a quote, escaped or not), and the only
    objects are the event and ``features`` (disjoint key sets). So the raw bytes hold
    exactly two quotes per distinct key and string value unless a key is repeated. One
    ``bytes.count``: no second parse.
    """
    if value.count(b'"') != fast_path.expected_quotes(event):
        raise InvalidEvent("duplicate_key", "a key appears more than once in the event")


def as_invalid(exc: ValidationError) -> InvalidEvent:
    """A contract violation as a dead-letter reason and a message naming fields only."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    first = errors[0] if errors else {"type": "value_error", "loc": (), "msg": "invalid"}
    reason = _reason_for(str(first["type"]), str(first["msg"]))
    parts = [f"{_path(e['loc'])}: {e['msg']}" for e in errors[:_MAX_ERRORS_IN_MESSAGE]]
    more = len(errors) - _MAX_ERRORS_IN_MESSAGE
    message = "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")
    if len(message) > _MAX_MESSAGE_CHARS:
        message = message[: _MAX_MESSAGE_CHARS - 1] + "…"
    return InvalidEvent(reason, message)


def _reason_for(error_type: str, message: str) -> str:
    if error_type in _TYPE_TO_REASON:
        return _TYPE_TO_REASON[error_type]
    if error_type.endswith("_type") or error_type.endswith("_parsing"):
        return "wrong_type"
    if error_type == "value_error":
        if "unknown feature" in message:
            return "unknown_field"
        if "missing feature" in message:
            return "missing_field"
        if "not finite" in message:
            return "not_finite"
        if "physical range" in message:
            return "out_of_range"
    return "invalid_value"


def _path(loc: tuple[int | str, ...]) -> str:
    """``features.ST_long_MN`` or ``activity.17``; keys not in the contract are withheld."""
    return ".".join(_loc_part(part) for part in loc) or "event"


def _loc_part(part: int | str) -> str:
    if isinstance(part, int) or part in _NAMEABLE:
        return str(part)
    return "<unknown key>"

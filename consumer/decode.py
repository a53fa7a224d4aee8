"""Kafka message value → ``FeatureEvent``, or a typed ``InvalidEvent`` carrying why.

Pure and thread-safe. Every input either becomes a valid event or raises
``InvalidEvent``; no other exception escapes (the fuzz test holds us to that).
Messages never echo input values: reasons name the field and the rule only, so
they are safe to count, log and put in dead-letter headers.
"""

from __future__ import annotations

from typing import Final

from pydantic import ValidationError

from consumer.errors import InvalidEvent
from schemas import FeatureEvent

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


def decode_event(value: bytes | None, *, max_bytes: int) -> FeatureEvent:
    """Decode and validate one message value. Raises ``InvalidEvent``; never blocks."""
    if not value:
        raise InvalidEvent("empty", "empty message value")
    if len(value) > max_bytes:
        raise InvalidEvent("too_large", f"message of {len(value)} bytes exceeds {max_bytes}")
    try:
        value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEvent("invalid_utf8", f"invalid UTF-8 at byte {exc.start}") from None
    try:
        return FeatureEvent.model_validate_json(value)
    except ValidationError as exc:
        raise _as_invalid(exc) from None
    except (ValueError, TypeError, RecursionError) as exc:  # defensive: parser edge cases
        raise InvalidEvent("invalid_json", f"undecodable JSON ({type(exc).__name__})") from None


def _as_invalid(exc: ValidationError) -> InvalidEvent:
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    first = errors[0] if errors else {"type": "value_error", "loc": (), "msg": "invalid"}
    reason = _reason_for(str(first["type"]), str(first["msg"]))
    parts = [f"{_path(e['loc'])}: {e['msg']}" for e in errors[:_MAX_ERRORS_IN_MESSAGE]]
    more = len(errors) - _MAX_ERRORS_IN_MESSAGE
    message = "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")
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
    return ".".join(str(part) for part in loc) or "event"

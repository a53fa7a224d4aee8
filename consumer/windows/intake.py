"""Activity samples from bytes (the JSON contract) or from a RADAR-base record, or an
``InvalidEvent`` whose ``reason`` says why (a bounded label, for the dead-letter header
and the metric).

Like the scoring stage's intake: strict types, no NaN, repeated keys refused
(``duplicate_key``), and by default unknown top-level fields ignored and named in the
result (``strict_fields=True``: ``unknown_field``). Messages name the contract's fields
and list positions only, never input values. Pure; never blocks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from pydantic import ConfigDict, ValidationError

from consumer.errors import InvalidEvent
from consumer.intake.decode import field_label
from consumer.windows.fast_samples import MinuteRecord, fast_minutes
from schemas import ActivitySamples, radar_steps_samples

#: Every reason a sample or a windows input can be refused with (bounded: metric labels).
REASONS: Final = (
    "empty",
    "too_large",
    "invalid_json",
    "duplicate_key",
    "missing_field",
    "unknown_field",
    "wrong_type",
    "not_finite",
    "out_of_range",
    "wrong_interval",
    "too_many_values",
    "not_whole_minute",
    "unknown_time_zone",
    "invalid_value",
    # WINDOWS__ACTIVITY_FORMAT=radar_fitbit_intraday_steps (consumer/windows_stage/radar_input.py)
    "invalid_key",
    "not_registry_framed",
    "truncated_frame",
    "unknown_schema_id",
    "wrong_schema_type",
    # from the windows logic (consumer/windows/windower.py)
    "future",
    "too_old",
    "no_features",
)
_BY_TYPE: Final = {
    "json_invalid": "invalid_json",
    "json_type": "invalid_json",
    "missing": "missing_field",
    "extra_forbidden": "unknown_field",
    "finite_number": "not_finite",
    "whole_minute": "not_whole_minute",
    "unknown_time_zone": "unknown_time_zone",
    "greater_than_equal": "out_of_range",
    "less_than_equal": "out_of_range",
    "less_than": "out_of_range",
}
_INTERVAL_FIELDS: Final = frozenset({"interval_s", "timeInterval"})
_NAMEABLE: Final = frozenset(ActivitySamples.model_fields) | frozenset(
    {"projectId", "userId", "sourceId", "time", "timeReceived", "timeInterval", "steps"}
)
_MAX_MESSAGE_CHARS: Final = 512
#: Records shorter than this (a few values) are validated the full way: the fast way
#: validates the rest of the record with the model anyway, so it pays only for many values.
FAST_MIN_BYTES: Final = 1_024


@dataclass(frozen=True)
class DecodedSamples:
    """A valid record and the metric labels of the unknown fields that were ignored."""

    samples: ActivitySamples
    ignored_fields: tuple[str, ...] = ()


class _OpenSamples(ActivitySamples):
    model_config = ConfigDict(extra="ignore")


def decode_minutes(
    value: bytes | None, *, max_bytes: int, strict_fields: bool
) -> MinuteRecord | ActivitySamples:
    """One message value for ``Windower.on_samples``: compact one-minute whole counts of
    at least ``FAST_MIN_BYTES`` as a ``MinuteRecord`` without a list of floats
    (``fast_samples``), anything else through ``decode_samples`` (every refusal is its).
    Raises ``InvalidEvent``."""
    if value and FAST_MIN_BYTES <= len(value) <= max_bytes:
        fast = fast_minutes(value)
        if fast is not None:
            return fast
    return decode_samples(value, max_bytes=max_bytes, strict_fields=strict_fields).samples


def decode_samples(value: bytes | None, *, max_bytes: int, strict_fields: bool) -> DecodedSamples:
    """One message value as ``ActivitySamples``. Raises ``InvalidEvent``."""
    if not value:
        raise InvalidEvent("empty", "an empty message")
    if len(value) > max_bytes:
        raise InvalidEvent("too_large", f"{len(value)} bytes, more than {max_bytes}")
    try:
        samples = ActivitySamples.model_validate_json(value)
    except ValidationError as exc:
        unknown = [] if strict_fields else _unknown_only(exc)
        if not unknown:
            raise invalid(exc) from None
        return DecodedSamples(_open(value), tuple(field_label(name) for name in unknown))
    strings = 2 + (samples.tz is not None)  # user_id, start, tz: none can hold a quote
    if value.count(b'"') != 2 * (len(samples.model_fields_set) + strings):
        raise InvalidEvent("duplicate_key", "a key appears more than once in the record")
    return DecodedSamples(samples)


def decode_radar_steps(key: Mapping[str, Any], value: Mapping[str, Any]) -> ActivitySamples:
    """A RADAR-base ``FitbitIntradaySteps`` record and its ``ObservationKey`` (as a registry
    deserializer hands them out) as samples. Raises ``InvalidEvent``."""
    try:
        return radar_steps_samples(key, value)
    except ValidationError as exc:
        raise invalid(exc) from None


def invalid(exc: ValidationError) -> InvalidEvent:
    """The ``InvalidEvent`` of a validation error: the first error's reason, up to three
    errors in the message (field names and positions only)."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    first = errors[0]
    parts = [f"{_path(e['loc'])}: {e['msg']}" for e in errors[:3]]
    message = "; ".join(parts)[:_MAX_MESSAGE_CHARS]
    return InvalidEvent(_reason(str(first["type"]), first["loc"], str(first["msg"])), message)


def _reason(error_type: str, loc: tuple[int | str, ...], message: str) -> str:
    if loc and loc[0] in _INTERVAL_FIELDS and error_type != "missing":
        return "wrong_interval"
    if error_type == "too_long" or "minutes: at most" in message:
        return "too_many_values"
    if error_type in _BY_TYPE:
        return _BY_TYPE[error_type]
    if error_type == "too_short" or error_type.startswith("string_too"):
        return "out_of_range"
    if error_type.endswith("_type") or error_type.endswith("_parsing"):
        return "wrong_type"
    return "invalid_value"


def _path(loc: tuple[int | str, ...]) -> str:
    parts = (str(p) if isinstance(p, int) or p in _NAMEABLE else "<unknown key>" for p in loc)
    return ".".join(parts) or "record"


def _unknown_only(exc: ValidationError) -> list[str]:
    """The unknown top-level fields, when they are the only problem; else nothing."""
    errors = exc.errors(include_url=False, include_context=False)
    if any(e["type"] != "extra_forbidden" or len(e["loc"]) != 1 for e in errors):
        return []
    return [str(e["loc"][0]) for e in errors]


def _open(value: bytes) -> ActivitySamples:
    """The record without its unknown fields, after the full duplicate-key check."""
    try:
        json.loads(value, object_pairs_hook=_unique)
    except _Repeated:
        raise InvalidEvent("duplicate_key", "a key appears more than once in the record") from None
    opened = _OpenSamples.model_validate_json(value)
    return ActivitySamples.model_construct(opened.model_fields_set, **dict(opened))


class _Repeated(ValueError):
    pass


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({name for name, _ in pairs}) != len(pairs):
        raise _Repeated
    return dict(pairs)

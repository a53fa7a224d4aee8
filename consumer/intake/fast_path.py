"""A cheaper first try at decoding a well-formed event, proven to accept only what the full
decode accepts, with the very same values; anything else goes the full way.

The contract's ``features`` object forbids unknown names, and pydantic-core's check for
them costs about a fifth of an event's validation (one lookup per input key). This
validator is the contract's own core schema (``FeatureEvent.__pydantic_core_schema__``,
so the same ``FeatureEvent`` instances, validators and constraints) with four changes:
unknown names inside ``features`` are ignored instead of refused, the two Python
validators that JSON input needs only as checks run as pydantic-core's own (no Python
call per event, ~0.6 µs of ~7): ``event_id``'s canonical form as a string pattern, and
``schema_version``'s "exactly the integer 1" as a strict integer in [1, 1] (refuses
``true``, ``1.0`` and ``"1"`` as ``_exactly_int`` does), and the model's own check of
its inputs (``FeatureEvent._has_inputs``, a Python call from pydantic-core, ~0.4 µs) is
made inline by ``accepted``: an event it would refuse goes the full way, which refuses
it with the contract's message. Whether the input held
any is then read from its quotes, with the count ``decode._require_unique_keys`` already
makes. In an accepted event the only objects that count are the top level and
``features``, and its strings are their keys plus four string values, none able to hold a
quote (whatever an unknown name's value holds only raises the count). Every key token
adds at least two quotes, so the quotes equal ``2 * (distinct keys + 4)`` only when no
key is unknown and none repeats; otherwise (or on any error) ``accepted`` returns None
and the caller decodes in full.
``tests/unit/intake/test_decode_fuzz.py`` checks that both ways agree on every input.

Pure, thread-safe, never blocks.
"""

from __future__ import annotations

import copy
from typing import Any, Final

from pydantic import ValidationError
from pydantic_core import SchemaValidator

from schemas import FeatureEvent
from schemas.events import CANONICAL_UUID_PATTERN

#: Strings in a valid event besides keys; all are always present and none may hold a '"'.
STRING_VALUES: Final = ("event_id", "user_id", "as_of", "emitted_at")


def _features_ignoring_unknown() -> SchemaValidator:
    """The contract's validator with ``features``' extra names ignored (checked by quotes)
    and its JSON-only checks in pydantic-core (see the module's docstring)."""
    wrapped: Any = copy.deepcopy(FeatureEvent.__pydantic_core_schema__)
    if wrapped["type"] != "function-after" or wrapped["function"]["function"] != _HAS_INPUTS:
        raise RuntimeError("the contract's model validator changed: update fast_path")
    schema = wrapped["schema"]  # the model without _has_inputs: ``accepted`` checks it
    fields = schema["schema"]["fields"]
    _checked_in_core(fields["event_id"], {"type": "str", "pattern": CANONICAL_UUID_PATTERN})
    _checked_in_core(fields["schema_version"], {"type": "int", "strict": True, "ge": 1, "le": 1})
    features = fields["features"]["schema"]  # default
    typed_dict = features["schema"]["schema"]  # default → nullable → typed-dict
    if typed_dict["type"] != "typed-dict" or typed_dict["extra_behavior"] != "forbid":
        raise RuntimeError("the contract's features schema changed: update fast_path")
    typed_dict["extra_behavior"] = "ignore"
    typed_dict["config"]["extra_fields_behavior"] = "ignore"
    return SchemaValidator(schema, schema["config"])


def _checked_in_core(field: dict[str, Any], core: dict[str, Any]) -> None:
    """Replace a field's Python before-validator (over ``core``'s own type) with ``core``."""
    validator = field["schema"]
    if validator["type"] != "function-before":
        raise RuntimeError("the contract's field schema changed: update fast_path")
    field["schema"] = core


_HAS_INPUTS: Final = FeatureEvent._has_inputs
_VALIDATOR: Final = _features_ignoring_unknown()


def accepted(value: bytes) -> FeatureEvent | None:
    """The event when ``value`` is a valid event with no unknown and no repeated key (then
    the full decode gives an equal event), else None. Never raises, never blocks."""
    try:
        event: FeatureEvent = _VALIDATOR.validate_json(value)
    except (ValidationError, ValueError, TypeError, RecursionError):
        return None
    if event.activity is None and (event.features is None or event.coverage is not None):
        return None  # refused by FeatureEvent._has_inputs: the full way says why
    return event if value.count(b'"') == expected_quotes(event) else None


def expected_quotes(event: FeatureEvent) -> int:
    """The quotes in a valid event's JSON when no key repeats: two per key of the top
    level and of ``features``, two per string value."""
    features = event.features
    keys = len(event.model_fields_set) + (len(features) if features is not None else 0)
    return 2 * (keys + len(STRING_VALUES))

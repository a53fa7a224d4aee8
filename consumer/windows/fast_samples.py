"""A day-sized samples record of whole counts without a list of 1,440 Python floats.

``decode_samples`` validates ``values`` item by item into 1,440 Python floats, which the
windower then turns into float32. ``fast_minutes`` reads the commonest record, compact
JSON of one-minute whole counts (``"values":[0,12,3,...]``, what ``moodstream produce``
and JSON encoders write) without them: the array's text must be exactly what orjson
writes for its numbers (digits and single commas, no leading zero), numpy reads it as
uint32 (no Python int per value) and checks the contract's bounds, and the rest of the
record is validated by the contract's own model with ``values`` replaced by ``[0]``
(and the same repeated-key check as ``intake.decode_samples``). Anything else
(fractions, spaces, another interval, unknown fields, a second ``values`` key, a value
out of range, an empty or malformed array...) returns None and the caller takes the
full path, so every refusal keeps its reason and message; what it accepts equals the
full path's result (``tests/unit/windows/test_fast_samples.py``). Pure; never blocks;
thread-safe.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, NamedTuple

import numpy as np
import numpy.typing as npt
import orjson
from pydantic import ValidationError

from schemas import ActivitySamples
from schemas.events import MAX_ACTIVITY
from schemas.samples import DAY_MINUTES, MINUTE_S

_KEY: Final = b'"values":['
_NAME: Final = b'"values"'
#: What the array's text may hold: digits, commas, its brackets (``_counts`` checks the
#: rest of JSON's grammar: no empty item, no leading zero).
_ARRAY_TEXT: Final = b"0123456789,[]"
_COMMA: Final = ord(",")
_UINT16_END: Final = 65_536


class MinuteRecord(NamedTuple):
    """What the windower needs of a samples record: its user, first minute, zone (None:
    the default) and one float32 value per minute."""

    user_id: str
    start: datetime  # on a whole minute
    tz: str | None
    minutes: npt.NDArray[np.float32]
    #: ``minutes`` as uint16 when read as whole counts below 65,536 (``daystate``'s
    #: stored form: not worked out again from the floats); None: not known.
    counts: npt.NDArray[np.uint16] | None = None

    @classmethod
    def of(cls, samples: ActivitySamples) -> MinuteRecord:
        """From a validated record (``minute_values``: a coarser interval is spread)."""
        return cls(samples.user_id, samples.start, samples.tz, minute_array(samples))


def minute_array(samples: ActivitySamples) -> npt.NDArray[np.float32]:
    """``samples.minute_values()`` as float32 (one record: no intermediate list)."""
    if samples.interval_s == MINUTE_S:
        return np.fromiter(samples.values, np.float32, len(samples.values))
    return np.fromiter(samples.minute_values(), np.float32)  # faster than asarray


def fast_minutes(value: bytes) -> MinuteRecord | None:
    """The record of ``value`` when it is compact JSON of one-minute whole counts that the
    contract accepts; None when the full path must decide (valid or not)."""
    key = value.find(_KEY)
    if key < 0:
        return None
    first = key + len(_KEY) - 1  # the array's "["
    end = value.find(b"]", first)
    if end < 0:
        return None
    read = _counts(value[first : end + 1])
    if read is None:
        return None
    rest = value[:first] + b"[0]" + value[end + 1 :]
    # one "values" key: counted without the array (digits and commas cannot hold one)
    head = _head(rest) if rest.count(_NAME) == 1 else None
    if head is None:
        return None
    return MinuteRecord(head.user_id, head.start, head.tz, *read)


def _head(value: bytes) -> ActivitySamples | None:
    """The record without its values, validated by the contract's model; None when it is
    not valid, not one-minute, or repeats a key (as ``intake.decode_samples`` checks)."""
    try:
        head = ActivitySamples.model_validate_json(value)
    except ValidationError:
        return None
    strings = 2 + (head.tz is not None)  # user_id, start, tz: none can hold a quote
    if value.count(b'"') != 2 * (len(head.model_fields_set) + strings):
        return None
    return head if head.interval_s == MINUTE_S else None


def _counts(
    array: bytes,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint16] | None] | None:
    """A JSON array of 1-1,440 non-negative integers, each at most ``MAX_ACTIVITY``, as
    float32 (exact: whole numbers below 2^24) and, when each is below 65,536, as uint16;
    else None.

    Read by numpy from the text (``fromstring``: no Python int per value, cheaper than
    orjson's list and ``fromiter``) once it holds only digits and single commas between
    them, then accepted only when the text is exactly what orjson writes for the values
    read: no leading zero, nothing read wrong (past uint32, which numpy wraps), nothing
    else."""
    body = array[1:-1]
    if array.translate(None, _ARRAY_TEXT) or not body or b"[" in body:
        return None
    comma = np.frombuffer(body, np.uint8) == _COMMA
    if comma[0] or comma[-1] or np.count_nonzero(comma[1:] & comma[:-1]):
        return None  # an empty item
    values = np.fromstring(body, np.uint32, sep=",")  # checked below: nothing wraps
    largest = values.max()
    if len(values) > DAY_MINUTES or largest > MAX_ACTIVITY:
        return None
    if orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY) != array:
        return None  # not how JSON writes these numbers (a leading zero)
    counts = values.astype("<u2") if largest < _UINT16_END else None
    return values.astype(np.float32), counts

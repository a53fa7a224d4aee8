"""Compare predictions with expected ones (``moodstream score --expect``). Pure.

Predictions are matched by ``event_id``. What depends on the run rather than on the models
and inputs is left out: ``latency_ms``, each model's ``latency_ms``, ``source`` and
``predicted_at``. Numbers match within an absolute ``tolerance``; everything else must be
equal. A field the expected prediction does not have is not compared (a file captured
before the field existed still serves).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Final

IGNORED: Final = frozenset({"latency_ms", "source", "predicted_at"})
_SHOWN: Final = 20


def read_predictions(lines: Iterable[bytes], source: str) -> dict[str, dict[str, Any]]:
    """Expected predictions by ``event_id`` from JSON lines (blank lines skipped): one
    prediction per line, or the lines of ``moodstream tail predictions``. Pure.

    Raises ValueError naming the line for a line that is not a JSON object with an
    ``event_id``, or an ``event_id`` seen twice.
    """
    out: dict[str, dict[str, Any]] = {}
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{source} line {number}: not JSON ({exc})") from exc
        if isinstance(item, dict) and "event_id" not in item and "value" in item:
            item = item["value"]  # a line of `moodstream tail predictions`
        if not isinstance(item, dict) or not isinstance(item.get("event_id"), str):
            raise ValueError(f"{source} line {number}: not a prediction (no event_id)")
        if item["event_id"] in out:
            raise ValueError(f"{source} line {number}: event_id {item['event_id']} seen twice")
        out[item["event_id"]] = item
    return out


def _differ(actual: Any, expected: Any, tolerance: float) -> bool:
    numbers = (int, float)
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual is not expected
    if isinstance(actual, numbers) and isinstance(expected, numbers):
        return abs(float(actual) - float(expected)) > tolerance
    return bool(actual != expected)


def _walk(actual: Any, expected: Any, path: str, tolerance: float) -> Iterable[str]:
    """Every difference under ``path`` as ``path: actual != expected``."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key, want in sorted(expected.items()):
            if key in IGNORED:
                continue
            where = f"{path}.{key}" if path else key
            if key not in actual:
                yield f"{where}: missing (expected {json.dumps(want)})"
            else:
                yield from _walk(actual[key], want, where, tolerance)
    elif _differ(actual, expected, tolerance):
        yield f"{path}: {json.dumps(actual)} != expected {json.dumps(expected)}"


def differences(
    actual: Iterable[dict[str, Any]], expected: dict[str, dict[str, Any]], tolerance: float
) -> list[str]:
    """One line per difference between ``actual`` predictions and ``expected`` (by event
    id): a differing field, an event only one side has. Pure."""
    found: list[str] = []
    seen: set[str] = set()
    for prediction in actual:
        event_id = str(prediction.get("event_id"))
        seen.add(event_id)
        if event_id not in expected:
            found.append(f"event {event_id}: not in the expected predictions")
            continue
        found += [
            f"event {event_id}: {line}"
            for line in _walk(prediction, expected[event_id], "", tolerance)
        ]
    found += [f"event {e}: expected, but not scored" for e in expected if e not in seen]
    return found


def shown(lines: list[str]) -> list[str]:
    """The first differences and a count of the rest, for a terminal. Pure."""
    more = len(lines) - _SHOWN
    return lines[:_SHOWN] + ([f"... and {more} more"] if more > 0 else [])

"""``moodstream score --expect``: what counts as a difference (pure comparison)."""

from __future__ import annotations

from typing import Any

import pytest

from consumer.commands.score_compare import differences, read_predictions, shown


def _prediction(event_id: str = "e1", **changes: Any) -> dict[str, Any]:
    prediction: dict[str, Any] = {
        "event_id": event_id,
        "next_day_risk": {"depression": 0.25, "hypomania": None, "mania": 0.5},
        "models": {"pat": {"status": "ok", "version": "v1", "latency_ms": 3.0}},
        "partial": False,
        "latency_ms": 10.0,
        "source": {"topic": "t", "partition": 0, "offset": 7},
        "predicted_at": "2026-12-05T08:00:00Z",
        "model_set": "a" * 64,
    }
    return prediction | changes


def test_run_dependent_fields_are_ignored_and_numbers_have_a_tolerance() -> None:
    expected = {"e1": _prediction()}
    actual = _prediction(
        latency_ms=99.0,
        source={"topic": "x", "partition": 1, "offset": 1},
        predicted_at="2027-01-01T00:00:00Z",
        models={"pat": {"status": "ok", "version": "v1", "latency_ms": 50.0}},
        next_day_risk={"depression": 0.25 + 5e-7, "hypomania": None, "mania": 0.5},
    )
    assert differences([actual], expected, 1e-6) == []
    assert differences([actual], expected, 1e-7) == [
        "event e1: next_day_risk.depression: 0.2500005 != expected 0.25"
    ]


def test_every_kind_of_difference_is_named() -> None:
    expected = {"e1": _prediction(), "e2": _prediction("e2")}
    actual = [
        _prediction(partial=True, model_set="b" * 64, models={"pat": {"status": "timeout"}}),
        _prediction("e3"),
    ]
    found = differences(actual, expected, 1e-6)
    assert "event e1: partial: true != expected false" in found
    assert f'event e1: model_set: "{"b" * 64}" != expected "{"a" * 64}"' in found
    assert 'event e1: models.pat.status: "timeout" != expected "ok"' in found
    assert 'event e1: models.pat.version: missing (expected "v1")' in found
    assert "event e3: not in the expected predictions" in found
    assert "event e2: expected, but not scored" in found
    assert differences([_prediction(next_day_risk=None)], {"e1": _prediction()}, 1.0) != []


def test_a_field_the_expected_file_lacks_is_not_compared() -> None:
    old = _prediction()
    del old["model_set"]
    assert differences([_prediction()], {"e1": old}, 0.0) == []


def test_expected_file_errors_name_the_line() -> None:
    assert set(read_predictions([b'{"event_id": "a"}', b"", b'{"event_id": "b"}'], "f")) == {
        "a",
        "b",
    }
    tailed = b'{"partition": 0, "offset": 3, "value": {"event_id": "t"}}'
    assert read_predictions([tailed], "f") == {"t": {"event_id": "t"}}
    with pytest.raises(ValueError, match="f line 2: not JSON"):
        read_predictions([b'{"event_id": "a"}', b"{"], "f")
    with pytest.raises(ValueError, match="line 1: not a prediction"):
        read_predictions([b"[1]"], "f")
    with pytest.raises(ValueError, match="seen twice"):
        read_predictions([b'{"event_id": "a"}', b'{"event_id": "a"}'], "f")
    assert shown([str(i) for i in range(25)])[-1] == "... and 5 more"

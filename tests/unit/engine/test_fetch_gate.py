"""The one gate over named pause reasons (pure: no Kafka, no clock)."""

from __future__ import annotations

import pytest

from consumer.engine.backpressure import Change
from consumer.engine.fetch_gate import FetchGate


def test_partitions_resume_only_when_the_last_reason_clears() -> None:
    gate = FetchGate(("starting",))
    assert gate.paused and gate.take_change() is Change.NONE  # assigned ones start paused
    gate.set("schema_registry", True)
    gate.set("starting", False)
    assert gate.take_change() is Change.NONE  # the registry wait still holds them
    gate.set("inflight", True)
    gate.set("schema_registry", False)
    assert gate.take_change() is Change.NONE and gate.reasons == {"inflight"}
    gate.set("inflight", False)
    assert gate.take_change() is Change.RESUME and not gate.paused
    assert gate.take_change() is Change.NONE  # each change is taken once


def test_a_reason_set_twice_pauses_once_and_an_unknown_reason_is_refused() -> None:
    gate = FetchGate()
    gate.set("pat_pending", True)
    assert gate.take_change() is Change.PAUSE
    gate.set("pat_pending", True)
    assert gate.take_change() is Change.NONE
    with pytest.raises(ValueError, match="unknown pause reason"):
        gate.set("tired", True)

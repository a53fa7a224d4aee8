"""The runs of invalid inputs per partition, and whether any is going (the reader's cheap
check before ending a run on every valid event)."""

from __future__ import annotations

from consumer.intake.invalid_runs import InvalidRuns

A, B = ("t", 0), ("t", 1)


def test_any_running_follows_the_runs_through_valid_inherit_and_forget() -> None:
    runs = InvalidRuns(limit=3)
    assert not runs.any_running
    assert runs.invalid(A) == 1 and runs.invalid(A) == 2 and runs.invalid(B) == 1
    runs.valid(A)
    assert runs.any_running  # B's run is still going
    runs.valid(B)
    runs.valid(B)  # ending a run that is not going changes nothing
    assert not runs.any_running and runs.flood(A) is None
    runs.inherit({A: 2, B: 0})
    assert runs.any_running and runs.invalid(A) == 3 and runs.flood(A) is not None
    runs.forget([A])
    assert not runs.any_running and runs.invalid(B) == 1 and runs.any_running

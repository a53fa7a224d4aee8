"""A week of activity counts held as one float64 array instead of 10,080 Python floats.

A binary input format (Protobuf's packed doubles) hands its numbers to numpy in one call;
``ActivityWeek`` carries them to PAT's input matrix (``consumer.ensemble.scoring``) without
a Python float per value. It reads like the contract's ``list[float]``: same length,
items, iteration and equality with a list; ``FeatureEvent`` serializes it as a list.
Validated by ``checked_week`` (the contract's rules: 10,080 finite counts in
[0, 10,000,000]). Immutable; thread-safe.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Final, overload

import numpy as np
import numpy.typing as npt
from pydantic_core import PydanticCustomError

from schemas.events import ACTIVITY_MINUTES, MAX_ACTIVITY


class ActivityWeek(Sequence[float]):
    """Read-only float64 week; ``array`` is the numbers themselves (not a copy)."""

    __slots__ = ("array",)

    def __init__(self, array: npt.NDArray[np.float64]) -> None:
        array.flags.writeable = False
        self.array: Final = array

    def __len__(self) -> int:
        return len(self.array)

    @overload
    def __getitem__(self, index: int) -> float: ...
    @overload
    def __getitem__(self, index: slice) -> list[float]: ...
    def __getitem__(self, index: int | slice) -> float | list[float]:
        found: float | list[float] = self.array[index].tolist()
        return found

    def __iter__(self) -> Iterator[float]:
        return iter(self.array.tolist())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ActivityWeek):
            return bool(np.array_equal(self.array, other.array))
        if isinstance(other, Sequence) and not isinstance(other, (str, bytes)):
            return len(other) == len(self.array) and self.array.tolist() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # like a list

    def __repr__(self) -> str:
        return f"ActivityWeek({len(self.array)} minutes)"


def checked_week(array: npt.NDArray[Any]) -> ActivityWeek:
    """The contract's rules on a week (10,080 finite counts in [0, 10,000,000]), checked
    with numpy. Raises PydanticCustomError with pydantic's own error types (``too_short``,
    ``too_long``, ``finite_number``, ``greater_than_equal``, ``less_than_equal``) so a
    violation gets the same dead-letter reason as in JSON. Pure."""
    week = np.asarray(array, dtype=np.float64)
    if len(week) < ACTIVITY_MINUTES:
        raise PydanticCustomError("too_short", f"should have {ACTIVITY_MINUTES} items")
    if len(week) > ACTIVITY_MINUTES:
        raise PydanticCustomError("too_long", f"should have {ACTIVITY_MINUTES} items")
    if not np.isfinite(week).all():
        raise PydanticCustomError("finite_number", "Input should be a finite number")
    if week.min() < 0.0:
        raise PydanticCustomError(
            "greater_than_equal", "Input should be greater than or equal to 0"
        )
    if week.max() > MAX_ACTIVITY:
        raise PydanticCustomError("less_than_equal", f"Input should be at most {MAX_ACTIVITY}")
    return ActivityWeek(week)

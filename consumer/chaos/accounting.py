"""Per-fault accounting of a chaos run. Pure functions over what the run recorded.

Times are wall-clock seconds (``time.time()``) taken in one process. A fault's window
runs from its start to the next fault's start (the last one's to the end of the run);
its events are the ones acknowledged by the cluster within that window.

- lost: acknowledged events of the window with no prediction at all by the end;
- duplicates: predictions beyond the first for the window's events;
- longest gap: the longest interval without any prediction arriving, within the window;
- recovery: seconds from the heal (broker back, node resumed) until every event
  acknowledged before the heal had its prediction (None if some never did).
"""

from __future__ import annotations

import itertools
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class FaultWindow:
    name: str
    start_s: float
    heal_s: float
    end_s: float
    placement: str = ""  # where the input leader and the coordinators were at the start


@dataclass(frozen=True)
class FaultStats:
    fault: str
    events: int
    lost: int
    duplicates: int
    longest_gap_s: float
    recovery_s: float | None
    worker_crashes: int = 0  # crashed or killed as hung, within the window
    not_ready_share: float | None = None  # of /readyz samples from start to heal
    lag_peak: float | None = None  # the lag gauge's peak from start to heal
    backlog_peak: int = 0  # the real backlog's peak then (acknowledged, not answered)
    readyz_truthful: bool | None = None  # see consumer/chaos/signals.py
    lag_truthful: bool | None = None
    placement: str = ""


def first_arrivals(predictions: Sequence[tuple[str, float]]) -> dict[str, float]:
    """event_id -> the time its first prediction arrived."""
    first: dict[str, float] = {}
    for event_id, at_s in predictions:
        if event_id not in first or at_s < first[event_id]:
            first[event_id] = at_s
    return first


def longest_gap_s(arrivals_sorted: Sequence[float], start_s: float, end_s: float) -> float:
    """The longest stretch of [start_s, end_s] without an arrival (edges count)."""
    inside = arrivals_sorted[
        bisect_left(arrivals_sorted, start_s) : bisect_right(arrivals_sorted, end_s)
    ]
    points = [start_s, *inside, end_s]
    return max((b - a for a, b in itertools.pairwise(points)), default=0.0)


def fault_stats(
    window: FaultWindow,
    acked: Mapping[str, float],
    predictions: Sequence[tuple[str, float]],
) -> FaultStats:
    """The counts of one fault window (see the module docstring)."""
    first = first_arrivals(predictions)
    counts: dict[str, int] = {}
    for event_id, _at in predictions:
        counts[event_id] = counts.get(event_id, 0) + 1
    mine = [e for e, at in acked.items() if window.start_s <= at < window.end_s]
    lost = sum(1 for e in mine if e not in first)
    duplicates = sum(counts.get(e, 0) - 1 for e in mine if e in first)
    arrivals = sorted(at for _e, at in predictions)
    before_heal = [e for e, at in acked.items() if at < window.heal_s]
    recovery: float | None = 0.0
    if any(e not in first for e in before_heal):
        recovery = None
    elif before_heal:
        recovery = max(0.0, max(first[e] for e in before_heal) - window.heal_s)
    return FaultStats(
        window.name,
        len(mine),
        lost,
        duplicates,
        round(longest_gap_s(arrivals, window.start_s, window.end_s), 2),
        None if recovery is None else round(recovery, 2),
        placement=window.placement,
    )


def totals(
    acked: Mapping[str, float], predictions: Sequence[tuple[str, float]]
) -> tuple[int, int, int]:
    """(events, lost, duplicates) over the whole run."""
    counts: dict[str, int] = {}
    for event_id, _at in predictions:
        counts[event_id] = counts.get(event_id, 0) + 1
    lost = sum(1 for e in acked if e not in counts)
    duplicates = sum(counts[e] - 1 for e in acked if e in counts)
    return len(acked), lost, duplicates

"""The pure parts of ``moodstream bench --peers``: round order, CPU windows, medians,
ratios, the output comparison, the engine's own cost against its goal and the table. No
I/O, no clock; thread-safe.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

Scores = tuple[float | None, float | None, float | None]
#: Two systems' probabilities for one event may differ by at most this much.
TOLERANCE = 1e-9
#: How many mismatching events a report lists (the count is always whole).
SHOWN_MISMATCHES = 5
FIGURES = ("events_per_s", "events_per_cpu_s")
#: Issue 25's goal for the engine's own CPU per event: the worker less its booster thread.
ENGINE_OWN_GOAL_US = 25.0


def rotation(systems: Sequence[str], rounds: int) -> list[list[str]]:
    """The order of each round: round r starts at system ``r mod n`` (so each system runs
    first, second, ... in turn and none always gets the coldest or warmest slot)."""
    n = len(systems)
    return [[systems[(r + i) % n] for i in range(n)] for r in range(rounds)]


def cpu_between(samples: Sequence[tuple[float, float]], start: float, end: float) -> float | None:
    """CPU seconds used between wall times ``start`` and ``end``, from ``(wall, cpu)``
    samples in time order: the last sample at or before ``start`` to the first at or after
    ``end`` (the window may only grow by one sampling interval each side). None when the
    samples do not cover it."""
    before = [cpu for wall, cpu in samples if wall <= start]
    after = [cpu for wall, cpu in samples if wall >= end]
    if not before or not after:
        return None
    return after[0] - before[-1]


def cpu_within(samples: Sequence[tuple[float, float]], start: float, end: float) -> float | None:
    """CPU seconds used between wall times ``start`` and ``end``, each edge's CPU
    interpolated between the samples either side of it (``cpu_between`` widens the window
    by up to a sampling interval each side instead, which charges a system in proportion
    to the cores it keeps busy: ~1.3 for moodstream's worker, ~0.4 for Quix Streams').
    None when the samples do not cover the window."""
    at_start, at_end = _cpu_at(samples, start), _cpu_at(samples, end)
    if at_start is None or at_end is None:
        return None
    return at_end - at_start


def _cpu_at(samples: Sequence[tuple[float, float]], wall: float) -> float | None:
    for (wall_0, cpu_0), (wall_1, cpu_1) in pairwise(samples):
        if wall_0 <= wall <= wall_1:
            if wall_1 == wall_0:
                return cpu_0
            return cpu_0 + (cpu_1 - cpu_0) * (wall - wall_0) / (wall_1 - wall_0)
    return None


def run_figures(
    events: int, start: float | None, end: float | None, cpu_s: float | None
) -> dict[str, float | None]:
    """events/s over ``start``→``end`` (wall seconds) and events per CPU-second."""
    seconds = end - start if start is not None and end is not None else None
    return {
        "seconds": round(seconds, 3) if seconds is not None else None,
        "events_per_s": round(events / seconds, 1) if seconds and seconds > 0 else None,
        "cpu_s": round(cpu_s, 3) if cpu_s is not None else None,
        "events_per_cpu_s": round(events / cpu_s, 1) if cpu_s and cpu_s > 0 else None,
    }


def medians(runs: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    """The median of each figure over a system's rounds (rounds without it left out)."""
    found: dict[str, float | None] = {}
    for name in FIGURES:
        values = [run[name] for run in runs if run.get(name) is not None]
        found[name] = round(statistics.median(values), 1) if values else None
    return found


def ratios(table: Mapping[str, Mapping[str, float | None]], ours: str) -> dict[str, Any]:
    """``ours`` over the best other system, per figure: ``{figure: {best, ratio}}``."""
    found: dict[str, Any] = {}
    for name in FIGURES:
        mine = table.get(ours, {}).get(name)
        others = {s: v for s, f in table.items() if s != ours and (v := f.get(name))}
        best = max(others, key=lambda s: others[s]) if others else None
        ratio = mine / others[best] if mine and best else None
        found[name] = {"best_peer": best, "ratio": round(ratio, 3) if ratio else None}
    return found


def compare_outputs(reference: Mapping[str, Scores], other: Mapping[str, Scores]) -> dict[str, Any]:
    """Events whose three probabilities differ (by more than TOLERANCE, or one is null and
    the other not), are missing from ``other`` or extra in it."""
    missing = [e for e in reference if e not in other]
    extra = [e for e in other if e not in reference]
    differ = [e for e, s in reference.items() if e in other and not _same(s, other[e])]
    return {
        "compared": len(reference),
        "missing": len(missing),
        "extra": len(extra),
        "differ": len(differ),
        "examples": [
            {"event_id": e, "reference": reference[e], "other": other[e]}
            for e in differ[:SHOWN_MISMATCHES]
        ]
        + [{"event_id": e, "missing": True} for e in missing[:SHOWN_MISMATCHES]],
    }


def mismatched(comparison: Mapping[str, Any]) -> bool:
    return bool(comparison["missing"] or comparison["extra"] or comparison["differ"])


def _same(a: Scores, b: Scores) -> bool:
    for x, y in zip(a, b, strict=True):
        if (x is None) != (y is None):
            return False
        if x is not None and y is not None and abs(x - y) > TOLERANCE:
            return False
    return True


def engine_own(costs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The engine's own µs per event of ``engine_cost`` runs (``own_us``): each run's
    figures, their median and issue 25's goal (pure)."""
    own = [float(cost["own_us"]) for cost in costs]
    median = statistics.median(own) if own else None
    return {
        "runs": list(costs),
        "own_us": own,
        "median_us": median,
        "goal_us": ENGINE_OWN_GOAL_US,
        "met": median is not None and median <= ENGINE_OWN_GOAL_US,
    }


def table_text(doc: Mapping[str, Any]) -> str:
    """The Markdown table of the medians, the ratios, the engine's own cost (when
    measured) and the machine line."""
    lines = ["| system | events/s | events per CPU-s | rounds |", "|---|---|---|---|"]
    for system, figures in doc["medians"].items():
        rounds = sum(1 for run in doc["runs"] if run["system"] == system)
        lines.append(
            f"| {doc['labels'].get(system, system)} | {_n(figures['events_per_s'])} "
            f"| {_n(figures['events_per_cpu_s'])} | {rounds} |"
        )
    for name, label in (("events_per_s", "events/s"), ("events_per_cpu_s", "events per CPU-s")):
        entry = doc["ratios"][name]
        lines.append(f"\nmoodstream / best peer ({entry['best_peer']}), {label}: {entry['ratio']}")
    own = doc.get("engine_own")
    if own and own["median_us"] is not None:
        verdict = "met" if own["met"] else "NOT met"
        lines.append(
            f"\nmoodstream engine's own CPU per event (the worker less its booster thread): "
            f"median {own['median_us']:.1f} µs of {own['own_us']} (goal <= "
            f"{own['goal_us']:g} µs: {verdict})"
        )
    machine = doc["machine"]
    lines.append(
        f"\n{doc['events']} events, {doc['rounds']} round(s); {machine.get('cpu_model')}, "
        f"{machine.get('usable_cores')} cores, load {machine.get('load_avg_start')} → "
        f"{machine.get('load_avg_end')}; outputs equal: {doc['outputs_equal']}"
    )
    return "\n".join(lines)


def _n(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"

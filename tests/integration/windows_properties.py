"""What a ``SyntheticSamples`` stream is made of, measured from its records in sending
order (not from the generator's plan): the properties issue 26's tests name. Pure."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import orjson

from consumer.producer.synthetic_samples import SyntheticSamples
from tests.integration.windows_reference import Reference


def measure(gen: SyntheticSamples, ref: Reference) -> dict[str, Any]:
    """Fractions and counts of the stream (keys as in the test that asserts them)."""
    heads = [orjson.loads(r.value) for r in gen.samples]
    starts = [int(datetime.fromisoformat(h["start"]).timestamp()) // 60 for h in heads]
    ends = [s + len(h["values"]) for s, h in zip(starts, heads, strict=True)]
    order: dict[tuple[str, int, int], list[bytes]] = defaultdict(list)  # copies, in order
    for head, start, record in zip(heads, starts, gen.samples, strict=True):
        order[(head["user_id"], start, len(head["values"]))].append(record.value)
    versions = {key: set(copies) for key, copies in order.items()}
    conflicting = [copies for copies in order.values() if len(set(copies)) > 1]
    originals, late = len(versions), _late_each(ends)
    out: dict[str, Any] = {
        "duplicated": (len(gen.samples) - sum(map(len, versions.values()))) / originals,
        "conflicting": len(conflicting) / originals,
        # the changed version goes out once, after every copy of the original
        "resent_last": all(len(set(c[:-1])) == 1 and c[-1] != c[0] for c in conflicting),
        "zones": len(set(gen.zone_of.values())),
        "late_minutes": max(late),
        "late_over_an_hour": sum(minutes > 60 for minutes in late) / len(ends),
    }
    out |= _days(gen, ref, heads, starts)
    features = Counter((e["user_id"], e["as_of"]) for _, e in _events(gen.day_features))
    out["features_per_user_day"] = set(features.values())
    out["user_days"] = len(features)
    return out


def _events(records: list[tuple[bytes, bytes]]) -> list[tuple[bytes, dict[str, Any]]]:
    return [(k, orjson.loads(v)) for k, v in records]


def _late_each(ends: list[int]) -> list[int]:
    """How far behind the stream (the newest end sent before it) each record ends."""
    newest, out = 0, []
    for end in ends:
        out.append(max(newest - end, 0))
        newest = max(newest, end)
    return out


def _days(
    gen: SyntheticSamples, ref: Reference, heads: list[dict[str, Any]], starts: list[int]
) -> dict[str, Any]:
    """Chunk sizes per user-day (hourly: no record over 60 values; daily: one over 60),
    missing minutes and whole days of the days sent, the DST day's length."""
    longest: dict[tuple[str, date], int] = defaultdict(int)
    for head, start in zip(heads, starts, strict=True):
        user = head["user_id"]
        for day in _days_of(gen, ref, user, start):
            longest[(user, day)] = max(longest[(user, day)], len(head["values"]))
    present = total = whole = 0
    lengths: set[int] = set()
    for user, day in longest:
        minutes = ref.slots(day, gen.zone_of[user]).minutes
        sent = int(np.isin(minutes, ref.minutes_of(user)[0]).sum())
        present, total, whole = present + sent, total + len(minutes), whole + (sent == len(minutes))
        if gen.zone_of[user] == "America/New_York":
            lengths.add(len(minutes))
    return {
        "hourly_days": sum(n <= 60 for n in longest.values()) / len(longest),
        "daily_days": sum(n > 60 for n in longest.values()) / len(longest),
        "missing": 1 - present / total,
        "whole_days": whole / len(longest),
        "new_york_day_lengths": lengths,
    }


def _days_of(gen: SyntheticSamples, ref: Reference, user: str, start: int) -> list[date]:
    plan, tz = gen.plan, gen.zone_of[user]
    days = [plan.first_day + timedelta(days=d) for d in range(plan.days)]
    return [d for d in days if ref.slots(d, tz).minutes[0] <= start <= ref.slots(d, tz).minutes[-1]]

"""PAT scores of the windows stage's weeks against the reference weeks sent directly.

Both go through the scoring stage's own code path (``moodstream score``'s ``score_file``:
the models loaded as ``run`` loads them, decode, ensemble and prediction building as a
worker does, without Kafka): the stage's event as it came off the topic, and a
``FeatureEvent`` the test builds from the day's features and the reference week, as a
producer that sends whole weeks would. PAT-M costs ~50 ms of CPU a week here, so a
sample is scored: every week's 10,080 values are already compared with the reference,
and a score is a function of the event alone; the sample holds each zone, the week
across New York's DST change, revised weeks, the least covered scored week, and weeks
below the coverage floor (scored without PAT).
"""

from __future__ import annotations

import os
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest

from consumer.commands.score import offline_settings, score_file
from consumer.models.threads import THREAD_ENV_VARS
from consumer.producer.synthetic_samples import SyntheticSamples
from consumer.settings import Settings
from tests.integration.harness import REPO
from tests.integration.windows_reference import MIN_COVERAGE, Reference, Sent, last_revisions

DST_DAY = date(2026, 3, 8)  # New York springs forward


def pick(gen: SyntheticSamples, ref: Reference, sent: list[Sent]) -> tuple[list[Sent], list[Sent]]:
    """(scored weeks to compare, user-days below the coverage floor) of ``sent``'s last
    revisions (see the module doc)."""
    last = last_revisions(sent)
    weeks = {k: s for k, s in last.items() if s.event.get("activity") is not None}
    chosen: dict[tuple[str, str], Sent] = {}
    revised = sorted({s.key for s in sent if s.trigger == "revision"} & set(weeks))
    chosen |= {k: weeks[k] for k in revised[:3]}
    by_zone: dict[str, tuple[str, str]] = {}
    for user, day in sorted(weeks):
        by_zone.setdefault(gen.zone_of[user], (user, day))
        if gen.zone_of[user] == "America/New_York" and day == DST_DAY.isoformat():
            by_zone.setdefault("dst", (user, day))
    chosen |= {k: weeks[k] for k in by_zone.values()}
    least = min(weeks.values(), key=lambda s: float(s.event["coverage"]))
    chosen[least.key] = least
    spanned = _spanned(gen, ref)
    below = [s for k, s in sorted(last.items()) if k not in weeks and k in spanned]
    return list(chosen.values()), below[:2]


def _spanned(gen: SyntheticSamples, ref: Reference) -> set[tuple[str, str]]:
    """User-days whose week lies within the data but below the floor (sparse users)."""
    first = gen.plan.first_day.toordinal() + 6
    return {
        (u, d.isoformat())
        for u, d in ref.closed()
        if d.toordinal() >= first and ref.coverage(u, d) < MIN_COVERAGE
    }


def direct_event(gen: SyntheticSamples, ref: Reference, key: tuple[str, str]) -> bytes:
    """The reference week with the day's features, as a producer sends a whole week."""
    user, day = key
    features = next(
        e
        for e in (orjson.loads(v) for _, v in gen.day_features)
        if (e["user_id"], e["as_of"]) == key
    )
    values, _ = ref.week(user, date.fromisoformat(day))
    event = features | {"event_id": _direct_id(key), "activity": values.tolist()}
    return orjson.dumps(event)


def _direct_id(key: tuple[str, str]) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"direct/{key[0]}/{key[1]}"))


def check_pat(
    settings: Settings, gen: SyntheticSamples, ref: Reference, sent: list[Sent], tmp: Path
) -> int:
    """Scores the sample; asserts each stage week's PAT score equals its reference week's,
    its coverage carried into the prediction, and PAT skipped below the floor. Returns
    how many weeks were compared. Blocking (loads the demo models)."""
    weeks, below = pick(gen, ref, sent)
    lines = [s.raw for s in weeks] + [direct_event(gen, ref, s.key) for s in weeks]
    lines += [s.raw for s in below]
    path = tmp / "score.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    models = os.environ.get("MOODSTREAM_TEST_MODELS_DIR", str(REPO / "models" / "demo"))
    scoring = offline_settings(settings, Path(models))
    scoring = scoring.model_copy(
        update={"models": scoring.models.model_copy(update={"warmup": False})}
    )
    values, invalid = _score(scoring, path)
    assert invalid == []
    predictions = {p["event_id"]: p for p in (orjson.loads(v) for v in values)}
    for one in weeks:
        stage, direct = predictions[one.event["event_id"]], predictions[_direct_id(one.key)]
        _same_pat(stage, direct, one)
    for one in below:
        prediction = predictions[one.event["event_id"]]
        assert prediction["models"]["pat"]["status"] == "skipped", one.key
        assert prediction["current_depression"] is None
    return len(weeks)


def _score(settings: Settings, path: Path) -> tuple[list[bytes], list[str]]:
    """``score_file``, the thread caps it sets in the environment undone afterwards (later
    tests' services inherit this process's environment)."""
    saved = {name: os.environ.get(name) for name in THREAD_ENV_VARS}
    try:
        return score_file(settings, path)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _same_pat(stage: dict[str, Any], direct: dict[str, Any], one: Sent) -> None:
    assert stage["models"]["pat"]["status"] == direct["models"]["pat"]["status"] == "ok"
    assert stage["current_depression"] == pytest.approx(direct["current_depression"], abs=1e-6)
    assert stage["ensemble_depression"] == pytest.approx(direct["ensemble_depression"], abs=1e-6)
    assert stage["coverage"] == pytest.approx(one.event["coverage"]), one.key
    assert direct["coverage"] is None

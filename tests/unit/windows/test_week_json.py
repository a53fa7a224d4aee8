"""A revision's JSON (``weeks.Revision.json``) is byte for byte what pydantic writes for
its ``FeatureEvent`` (a week of whole counts: with integers for its values), and decodes
to the same event under the contract, by the full decode and the scoring stage's fast
path alike."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import orjson
import pytest
from pydantic import TypeAdapter

from consumer.intake.fast_path import accepted
from consumer.windows.weeks import (
    EVENT_NAMESPACE,
    WEEK_SLOTS,
    Revision,
    Week,
    digest,
    event_id,
    week_json,
)
from schemas import FeatureEvent
from tests.fakes import feature_values

DAY = date(2026, 3, 10)


def week(values: np.ndarray, present: int = WEEK_SLOTS) -> Week:
    return Week(values.astype(np.float32), present)


def weeks() -> list[Week]:
    rng = np.random.default_rng(7)
    odd = rng.uniform(0, 1e7, WEEK_SLOTS)
    odd[:8] = [0.0, -0.0, 1e7, 1e-7, 5e-45, 0.1, 123456.5, 1e-5]
    return [
        week(rng.integers(0, 300, WEEK_SLOTS).astype(np.float64)),  # whole counts
        week(odd, present=9_000),  # fractions, extremes of float32 and the contract
        week(rng.uniform(0, 1, WEEK_SLOTS) * rng.uniform(0, 1e-3, WEEK_SLOTS)),
        week(np.zeros(WEEK_SLOTS), present=0),
    ]


@pytest.mark.parametrize("features", [None, {**feature_values(3), "Sleep_percentage": None}])
@pytest.mark.parametrize(
    "at", [datetime(2026, 3, 11, 4, 5, 6, 789, UTC), datetime(2026, 3, 11, tzinfo=UTC)]
)
def test_a_week_s_json_is_what_pydantic_writes(
    features: dict[str, float | None] | None, at: datetime
) -> None:
    for i, covered in enumerate(weeks()):
        says = Revision("user-1:x", DAY, i, features, covered, at)
        event = says.event()
        expected = event.model_dump_json().encode()
        if i in (0, 3):  # whole counts: the same JSON with integers for the week's values
            as_ints = ",".join(str(int(v)) for v in covered.values).encode()
            expected = expected.replace(_floats(covered), b"[" + as_ints + b"]")
            activity = says.json().split(b'"activity":')[1].split(b"]")[0]
            assert as_ints in expected and b"." not in activity
        assert says.json() == expected
        read = FeatureEvent.model_validate_json(event.model_dump_json())  # pydantic's bytes
        for again in (FeatureEvent.model_validate_json(says.json()), accepted(says.json())):
            assert again is not None and again == read
            assert again.activity == event.activity and again.coverage == covered.coverage
            assert all(type(v) is float for v in again.activity or [])


def _floats(covered: Week) -> bytes:
    return b"[" + b",".join(repr(float(v)).encode() for v in covered.values) + b"]"


def test_a_whole_week_is_written_as_integers_unless_a_value_is_negative_zero() -> None:
    whole = np.array([0.0, 1.0, 1e7, 255.0, 65536.0], np.float32)
    assert week_json(whole) == b"[0,1,10000000,255,65536]"
    assert week_json(np.array([0.0, -0.0, 3.0], np.float32)) == b"[0.0,-0.0,3.0]"
    assert week_json(np.array([2.0, 0.5], np.float32)) == b"[2.0,0.5]"
    assert week_json(np.array([16777216.0], np.float32)) == b"[16777216]"


def test_features_alone_and_nothing() -> None:
    at = datetime(2026, 3, 11, tzinfo=UTC)
    alone = Revision("u", DAY, 0, feature_values(), None, at)
    assert alone.json() == alone.event().model_dump_json().encode()
    assert b'"activity":null,"coverage":null' in alone.json()
    with pytest.raises(ValueError, match="features, activity, or both"):
        Revision("u", DAY, 0, None, None, at).json()


@pytest.mark.parametrize("user", ["u1", "bench-user-000042", "user:é-ü", "x" * 128])
def test_event_ids_are_uuid5_of_user_day_and_revision(user: str) -> None:
    for i in range(40):
        day = DAY - timedelta(days=i)
        want = str(uuid.uuid5(EVENT_NAMESPACE, f"{user}/{day.isoformat()}/{i * 7}"))
        assert event_id(user, day, i * 7) == want


def test_a_digest_follows_from_what_the_revision_says_alone() -> None:
    """The same features and week: the same digest, whether the week is known whole or
    not (whole counts below 65,536 are digested as uint16, anything else as float32);
    any change: another digest."""
    rng = np.random.default_rng(5)
    steps = rng.integers(0, 2_000, WEEK_SLOTS).astype(np.float32)
    features = feature_values(1)
    said = digest(features, Week(steps, WEEK_SLOTS))
    assert said.startswith("3:") and len(said) == 34
    assert digest(features, Week(steps.copy(), WEEK_SLOTS, whole=True)) == said
    changed = steps.copy()
    changed[4_000] += 1
    others = [
        digest(features, Week(changed, WEEK_SLOTS, whole=True)),
        digest(features, Week(steps, WEEK_SLOTS - 1)),
        digest(None, Week(steps, WEEK_SLOTS)),
        digest(features, None),
    ]
    for odd in (-0.0, 0.5, 70_000.0):  # not uint16 counts: float32, still one digest each
        values = steps.copy()
        values[0] = odd
        others.append(digest(features, Week(values, WEEK_SLOTS)))
    assert len({said, *others}) == len(others) + 1
    zero = np.zeros(WEEK_SLOTS, np.float32)
    negative_zero = zero.copy()
    negative_zero[0] = -0.0
    assert digest(None, Week(zero, 0)) != digest(None, Week(negative_zero, 0))


@pytest.mark.parametrize(
    "at",
    [
        datetime(2026, 3, 11, 4, 5, 6, 789, UTC),
        datetime(2026, 3, 11, 4, 5, 6, 400_000, UTC),
        datetime(2026, 12, 31, 23, 59, 59, 999_999, UTC),
        datetime(2026, 3, 11, 4, 5, tzinfo=ZoneInfo("UTC")),
        datetime(2026, 3, 11, 4, 5, 6, 7, timezone(timedelta(hours=5, minutes=30))),
        datetime(2026, 3, 11, 4, 5, tzinfo=ZoneInfo("America/New_York")),
    ],
)
def test_a_week_alone_is_written_as_pydantic_writes_it_at_every_coverage(at: datetime) -> None:
    """A week without features skips the model (``_week_alone``): the same bytes as
    pydantic's for every coverage a week can have (each count of present slots), user
    ids of every character the contract allows, and times in any zone."""
    values = np.arange(WEEK_SLOTS, dtype=np.float32) % 97
    users = ["u", "user-1:x", "A.b_c-9:" * 16]
    for present in (0, 1, 7, 8_064, 8_065, 9_000, 10_079, WEEK_SLOTS):
        covered = week(values, present)
        says = Revision(users[present % 3], DAY, present % 5, None, covered, at)
        expected = says.event().model_dump_json().encode()
        expected = expected.replace(_floats(covered), week_json(values))  # integers
        assert says.json() == expected
    coverage = TypeAdapter(float)  # how pydantic writes the field, for every coverage
    for present in range(WEEK_SLOTS + 1):
        assert orjson.dumps(present / WEEK_SLOTS) == coverage.dump_json(present / WEEK_SLOTS)

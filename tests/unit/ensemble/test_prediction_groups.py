"""Predictions encoded a group at a time are byte for byte what the encoder gives each event
(``PredictionEncoder.encode``, itself held to the pydantic model's JSON), and a group it
cannot take whole is handed back (None) for the event-by-event way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import numpy.typing as npt
import pytest
from pydantic import ValidationError

from consumer.ensemble.outputs import BatchOutcomes
from consumer.ensemble.prediction_groups import GroupRuns, _spliced, encode_group
from consumer.ensemble.prediction_json import PredictionEncoder
from consumer.ensemble.scoring import Ensemble, Scoring
from consumer.ensemble.stamp import ModelSetStamp
from consumer.settings import EnsembleSettings
from schemas import FeatureEvent
from tests.fakes import FakeClock, InlineExecutor, make_event, make_lane

SETTINGS = EnsembleSettings()
AT = datetime(2026, 12, 5, 8, 43, 27, 914_000, tzinfo=UTC)
TOPIC = "mood.features.v1"
STAMPS = [None, ModelSetStamp("0123456789abcdef" * 4, True, "onnx-fp32", (0.7, 0.3))]


class SpreadModel:
    """Scores of every shape a float's JSON can take: tiny, long, whole, 0 and 1."""

    def __init__(self, name: str, seed: int, scores: list[float] | None = None) -> None:
        self.name, self.version = name, f"{name}-v1"
        self.rng = np.random.default_rng(seed)
        self.fixed = scores

    def predict_batch(self, inputs: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        if self.fixed is not None:
            return np.resize(np.asarray(self.fixed, dtype=np.float64), len(inputs))
        values = self.rng.random(len(inputs))
        values[::5] = values[::5] ** 9  # very small ones (exponent form)
        values[1::7] = 0.0
        values[2::11] = 1.0
        return values


def ensemble(scores: dict[str, list[float]] | None = None) -> Ensemble:
    clock = FakeClock()
    fixed = scores or {}
    lanes = [
        make_lane(SpreadModel(name, seed, fixed.get(name)), InlineExecutor(), 5.0, clock)
        for seed, name in enumerate(("depression", "hypomania", "mania", "pat"))
    ]
    return Ensemble(lanes[:3], lanes[3], SETTINGS, clock)


def events(count: int, *, activity: bool = False) -> list[FeatureEvent]:
    made = [make_event(seed=seed, activity=activity) for seed in range(count)]
    if activity:  # the windows stage's events carry a coverage
        made = [
            e.model_copy(update={"coverage": [None, 0.75, 1.0][i % 3]}) for i, e in enumerate(made)
        ]
    return made


def both_ways(
    scoring: Scoring,
    batch: list[FeatureEvent],
    indices: list[int],
    stamp: ModelSetStamp | None,
    topic: str = TOPIC,
    *,
    each_too: bool = True,
) -> tuple[list[bytes] | None, list[bytes]]:
    """(the group's bytes, each event's bytes from ``encode``, unless not ``each_too``) for
    ``indices`` of ``batch``."""
    versions = {name: f"{name}-v1" for name in ("depression", "hypomania", "mania", "pat")}
    outcomes = BatchOutcomes(versions)
    encoder = PredictionEncoder(SETTINGS, AT, stamp)
    runs = scoring.runs_for(indices[0])
    group = GroupRuns(runs, outcomes.outcome(indices[0], runs, False), topic, indices)
    positions = [(index % 6, 10**9 + index) for index in indices]
    latencies = [float(round(0.25 + index * 1.0001, 3)) for index in indices]
    members = [batch[index] for index in indices]
    grouped = encode_group(encoder, SETTINGS, group, members, positions, latencies)
    if not each_too:
        return grouped, []
    each = [
        encoder.encode(event, outcomes.outcome(index, runs, False), (topic, *position), latency)
        for index, event, position, latency in zip(
            indices, members, positions, latencies, strict=True
        )
    ]
    return grouped, each


@pytest.mark.parametrize("stamp", STAMPS)
@pytest.mark.parametrize("activity", [False, True])
def test_a_whole_calls_group_gives_each_events_bytes(
    stamp: ModelSetStamp | None, activity: bool
) -> None:
    batch = events(40, activity=activity)
    scoring = ensemble().score(batch)
    grouped, each = both_ways(scoring, batch, list(range(40)), stamp)
    assert grouped is not None and grouped == each
    assert (b'"ensemble_rule":"weighted"' in grouped[0]) is activity


def test_part_of_a_call_and_a_topic_with_format_characters_give_the_same_bytes() -> None:
    batch = events(30)
    scoring = ensemble().score(batch)
    for topic in (TOPIC, "in.%b,%s"):
        grouped, each = both_ways(scoring, batch, [2, 3, 7, 19, 29], None, topic)
        assert grouped is not None and grouped == each


@pytest.mark.parametrize(
    "scores",
    [
        {"depression": [0.5, 1.5]},  # a booster's score outside [0, 1]
        {"mania": [0.5, float("nan")]},
        {"pat": [0.5, -0.25]},
    ],
)
def test_a_group_with_a_score_outside_the_unit_range_goes_event_by_event(
    scores: dict[str, list[float]],
) -> None:
    batch = events(4, activity=True)
    scoring = ensemble(scores).score(batch)
    grouped, _ = both_ways(scoring, batch, [0, 1, 2, 3], None, each_too=False)
    assert grouped is None
    with pytest.raises(ValidationError):  # the event-by-event way refuses it, as before
        both_ways(scoring, batch, [0, 1, 2, 3], None)


def test_a_coverage_out_of_range_a_local_time_or_another_digest_go_event_by_event() -> None:
    batch = events(3, activity=True)
    scoring = ensemble().score(batch)
    unchecked = [e.model_copy(update={"coverage": 1.5}) for e in batch]  # never validated
    grouped, _ = both_ways(scoring, unchecked, [0, 1, 2], None, each_too=False)
    assert grouped is None
    runs = scoring.runs_for(0)
    group = GroupRuns(runs, BatchOutcomes({}).outcome(0, runs, False), TOPIC, [0, 1, 2])
    local = AT.astimezone(timezone(timedelta(hours=1)))
    for encoder in (
        PredictionEncoder(SETTINGS, local, None),
        PredictionEncoder(SETTINGS, AT, ModelSetStamp("not-a-digest")),
    ):
        assert encoder.template_for(group.outcome, TOPIC) is None
        assert encode_group(encoder, SETTINGS, group, batch, [(0, 1)] * 3, [1.0] * 3) is None


def test_rows_that_do_not_split_into_the_templates_slots_are_handed_back() -> None:
    template = b'{"a":%b,"b":%b}'
    assert _spliced(template, [(1, "x"), (2, "y")], 2) == [b'{"a":1,"b":"x"}', b'{"a":2,"b":"y"}']
    assert _spliced(template, [(1, "x,z")], 1) is None  # a comma in a value: 3 pieces
    assert _spliced(template, [(1,)], 1) is None  # too few values for the slots
    assert _spliced(template, [(1, "x")], 2) is None  # fewer rows than events

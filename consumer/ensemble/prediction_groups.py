"""The predictions of a group of events answered by the same model runs, encoded together.

``PredictionEncoder.encode`` costs ~3 µs an event on the poll loop's thread (a dozen
Python calls: the scores, the ensemble score, range checks, one orjson call, a split, the
template). A model call's events share their runs, so here the per-event values go into
one list of rows, one orjson call encodes them all and each row is spliced into the
template they share: byte for byte what ``encode`` gives each event
(tests/unit/ensemble/test_prediction_groups.py holds us to it). A group it cannot take
whole (a run that is not ok, a score or coverage outside [0, 1], a value orjson cannot
encode, a time or digest the template cannot take) gets None, and the caller encodes its
events one by one, which validates and raises exactly as before.

Pure; thread-safe.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import orjson

from consumer.ensemble.outputs import EventOutcome, ensemble_depression, ensemble_rule
from consumer.ensemble.prediction_json import PredictionEncoder
from consumer.ensemble.scoring import BOOSTER_NAMES, PAT_NAME, ModelRun
from consumer.settings import EnsembleSettings
from schemas import FeatureEvent, ModelStatus

_MODELS: Final = (*BOOSTER_NAMES, PAT_NAME)


class _NotWhole(Exception):
    """The group cannot be encoded together (its events go one by one)."""


@dataclass
class GroupRuns:
    """The model runs a group of events shares (by model name), the outcome they share
    (reports, ``partial``, failed runs), the source topic, and the events' batch indices
    (ascending). Plain data; one per group and ``ready`` pass."""

    runs: dict[str, ModelRun]
    outcome: EventOutcome
    topic: str
    indices: list[int]


def encode_group(
    encoder: PredictionEncoder,
    settings: EnsembleSettings,
    group: GroupRuns,
    events: Sequence[FeatureEvent],
    positions: Sequence[tuple[int, int]],
    latencies_ms: Sequence[float],
) -> list[bytes] | None:
    """Each event's prediction JSON, in order, equal to ``encoder.encode`` (None: encode
    them one by one). ``events``: the group's events in ``group.indices`` order,
    ``positions``: each one's source (partition, offset), ``latencies_ms``: each one's
    latency already rounded to 3 decimals as the prediction carries it. Never blocks,
    never raises."""
    template = encoder.template_for(group.outcome, group.topic)
    if template is None or not events or group.outcome.failed_runs or group.outcome.partial:
        return None
    try:
        columns = {name: _column(group.runs.get(name), group.indices) for name in _MODELS}
        depression, pat = columns[BOOSTER_NAMES[0]], columns[PAT_NAME]
        ensemble = _ensemble_column(depression, pat, settings, encoder.weights)
    except _NotWhole:
        return None
    coverages = [event.coverage for event in events]
    if coverages.count(None) != len(coverages) and not all(map(_unit_or_none, coverages)):
        return None
    count = len(events)
    rule = ensemble_rule(
        None if depression is None else 0.0, None if pat is None else 0.0
    )  # the same for every event: which scores exist is the group's
    rows = zip(
        [event.event_id for event in events],
        [event.user_id for event in events],
        [event.as_of for event in events],
        *(_or_nulls(columns[name], count) for name in _MODELS),
        _or_nulls(ensemble, count),
        latencies_ms,
        [partition for partition, _ in positions],
        [offset for _, offset in positions],
        repeat(rule, count),
        coverages,
        strict=True,
    )
    return _spliced(template, rows, count)


def _spliced(template: bytes, rows: Iterable[tuple[object, ...]], count: int) -> list[bytes] | None:
    """The rows encoded by one orjson call, each spliced into ``template`` (None when a
    value cannot be encoded or a row does not split into its values)."""
    try:
        encoded = orjson.dumps(list(rows))
    except TypeError:
        return None
    # No value holds a bracket or a comma (ids, dates and numbers have neither): the
    # array splits into its rows and each row into its values; a row of another number of
    # values than the template's slots makes ``%`` raise TypeError.
    try:
        spliced = [template % tuple(row.split(b",")) for row in encoded[2:-2].split(b"],[")]
    except TypeError:
        return None
    return spliced if len(spliced) == count else None


def _column(run: ModelRun | None, indices: list[int]) -> list[float] | None:
    """The run's scores of ``indices`` (None: no run, the score is null). Raises _NotWhole
    when the run is not ok or a score of it is outside [0, 1]."""
    if run is None:
        return None
    scores = run.scores
    if run.status is not ModelStatus.OK or scores is None or not _all_unit(scores):
        raise _NotWhole(run.name)
    if len(indices) == len(run.rows) and tuple(indices) == run.rows:
        return run.score_list
    score_list, position = run.score_list, run.position
    return [score_list[position[index]] for index in indices]


def _ensemble_column(
    depression: list[float] | None,
    pat: list[float] | None,
    settings: EnsembleSettings,
    weights: tuple[float, float] | None,
) -> list[float] | None:
    """``ensemble_depression`` of each event, over the columns: the weighted mean when both
    scores exist, else the one that does (None: neither). Raises _NotWhole when a weighted
    mean is outside [0, 1]."""
    if depression is None or pat is None:
        return pat if depression is None else depression
    scores = ensemble_depression(
        np.asarray(depression, dtype=np.float64),
        np.asarray(pat, dtype=np.float64),
        settings,
        weights,
    )
    assert scores is not None  # both columns exist
    if not _all_unit(scores):
        raise _NotWhole("ensemble")
    column: list[float] = scores.tolist()
    return column


def _or_nulls(column: list[float] | None, count: int) -> Iterable[float | None]:
    return repeat(None, count) if column is None else column


def _all_unit(scores: npt.NDArray[np.floating[Any]]) -> bool:
    """Every score is in [0, 1] (NaN is not)."""
    return bool(np.all((scores >= 0.0) & (scores <= 1.0)))


def _unit_or_none(value: object) -> bool:
    return value is None or (type(value) is float and 0.0 <= value <= 1.0)

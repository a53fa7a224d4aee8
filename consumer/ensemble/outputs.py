"""From model runs to the records we publish: one ``Prediction`` per event plus its ``Alert``s.

Pure: no I/O, no clock reads (times are passed in). Thread-safe.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt

from consumer.ensemble.scoring import BOOSTER_NAMES, PAT_NAME, ModelRun
from consumer.ensemble.stamp import EnsembleRule, ModelSetStamp
from consumer.settings import EnsembleSettings
from schemas import (
    Alert,
    AlertKind,
    FeatureEvent,
    ModelReport,
    ModelStatus,
    NextDayRisk,
    Prediction,
    SlowReason,
    SourcePosition,
)

_ALERT_FOR_STATUS = {
    ModelStatus.TIMEOUT: AlertKind.MODEL_TIMEOUT,
    ModelStatus.FAILED: AlertKind.MODEL_FAILURE,
    ModelStatus.SKIPPED: AlertKind.MODEL_SKIPPED,
}


class EventOutcome(NamedTuple):
    """The per-event view of a batch's model runs (immutable; a named tuple: one is built
    per event, and a frozen dataclass's ``__init__`` costs ~3x)."""

    reports: dict[str, ModelReport]
    scores: dict[str, float | None]
    partial: bool
    failed_runs: tuple[ModelRun, ...]


def outcome_for(
    index: int,
    runs: dict[str, ModelRun],
    versions: dict[str, str],
    *,
    insufficient: bool = False,
) -> EventOutcome:
    """Statuses and scores of event ``index``. A model with no run for it is ``skipped``,
    an installed booster held back for too few features (``insufficient``) is
    ``insufficient_input``; neither makes the prediction ``partial`` (that is for models
    that should have scored and did not: timeout, failure, or skipped on purpose by an
    overload policy: a run with status ``skipped`` and a reason, which also raises a
    ``model_skipped`` alert).

    ``versions`` maps the installed models to their versions (uninstalled: absent).
    """
    reports: dict[str, ModelReport] = {}
    scores: dict[str, float | None] = {}
    failed: list[ModelRun] = []
    for name in (*BOOSTER_NAMES, PAT_NAME):
        run = runs.get(name)
        if run is None or not run.covers(index):
            held_back = insufficient and name in BOOSTER_NAMES and name in versions
            status = ModelStatus.INSUFFICIENT_INPUT if held_back else ModelStatus.SKIPPED
            reports[name] = _not_run(status, versions.get(name))
            scores[name] = None
            continue
        reports[name] = run.report  # one immutable report per model run, shared by its events
        scores[name] = run.score_for(index)
        if run.status is not ModelStatus.OK:
            failed.append(run)
    return EventOutcome(reports, scores, bool(failed), tuple(failed))


class BatchOutcomes:
    """``outcome_for`` over the events of one batch, in one pass per model call: events
    answered by the same model runs (the events of one call) share one ``reports`` dict,
    ``partial`` and failed runs (the same objects: read-only), and only their scores are
    looked up per event. For the runs that answered the event (``Scoring.run_columns``). Not
    thread-safe; short-lived (one per ``ready`` pass; it keeps the runs it has seen)."""

    def __init__(self, versions: dict[str, str]) -> None:
        self._versions = versions
        self._shapes: dict[
            tuple[object, ...], tuple[EventOutcome, list[tuple[str, ModelRun | None]]]
        ] = {}

    def outcome(self, index: int, runs: dict[str, ModelRun], insufficient: bool) -> EventOutcome:
        """``outcome_for(index, runs, versions, insufficient=insufficient)``, equal."""
        key = (insufficient, *map(id, runs.values()))
        shape = self._shapes.get(key)
        if shape is None:
            first = outcome_for(index, runs, self._versions, insufficient=insufficient)
            scorers = [(name, runs.get(name)) for name in first.scores]
            self._shapes[key] = (first, scorers)  # holds the runs: their ids stay theirs
            return first
        first, scorers = shape
        scores = {name: None if run is None else run.score_for(index) for name, run in scorers}
        return EventOutcome(first.reports, scores, first.partial, first.failed_runs)


@lru_cache(maxsize=64)
def _not_run(status: ModelStatus, version: str | None) -> ModelReport:
    """The report of a model that did not run for an event (trusted values: no validation).
    Reports are immutable, so one per (status, version) is shared (a memo, per process)."""
    return ModelReport.model_construct(status=status, version=version, latency_ms=None)


#: One event's score, or a column of them (``prediction_groups``: the same float operations).
Scores = TypeVar("Scores", float, "npt.NDArray[np.float64]")


def ensemble_depression(
    xgboost: Scores | None,
    pat: Scores | None,
    settings: EnsembleSettings,
    weights: tuple[float, float] | None = None,
) -> Scores | None:
    """Weighted mean of the depression scores present; the one present when only one is.
    ``weights``: (xgboost, pat), else the settings' weights. Of one event's scores, or
    element-wise of two columns of them."""
    if xgboost is not None and pat is not None:
        w_xgb, w_pat = weights or (settings.xgboost_weight, settings.pat_weight)
        return w_xgb * xgboost + w_pat * pat
    return xgboost if xgboost is not None else pat


def ensemble_rule(xgboost: float | None, pat: float | None) -> EnsembleRule | None:
    """Which rule :func:`ensemble_depression` applies to these scores (None: no score)."""
    if xgboost is not None:
        return "weighted" if pat is not None else "xgboost_only"
    return "pat_only" if pat is not None else None


def build_prediction(
    event: FeatureEvent,
    outcome: EventOutcome,
    source: SourcePosition,
    latency_ms: float,
    settings: EnsembleSettings,
    predicted_at: datetime,
    stamp: ModelSetStamp | None = None,
) -> Prediction:
    """The event's prediction; ids echoed as received, ``predicted_at`` a UTC time;
    ``stamp`` names the model set behind it (default: an anonymous, not valid one)."""
    s = outcome.scores
    stamp = stamp or ModelSetStamp()
    depression, pat = s["depression"], s[PAT_NAME]
    return Prediction(
        event_id=event.event_id,
        user_id=event.user_id,
        as_of=event.as_of,
        next_day_risk=NextDayRisk(
            depression=s["depression"], hypomania=s["hypomania"], mania=s["mania"]
        ),
        current_depression=pat,
        ensemble_depression=ensemble_depression(depression, pat, settings, stamp.weights),
        models=outcome.reports,
        partial=outcome.partial,
        latency_ms=round(latency_ms, 3),
        source=source,
        predicted_at=predicted_at,
        clinically_valid=stamp.clinically_valid,
        model_set=stamp.model_set,
        pat_runtime=stamp.pat_runtime,
        ensemble_rule=ensemble_rule(depression, pat),
        coverage=event.coverage,
    )


def build_alerts(
    event: FeatureEvent,
    outcome: EventOutcome,
    latency_ms: float,
    settings: EnsembleSettings,
    at: datetime,
    slow_reason: SlowReason | None = None,
) -> list[Alert]:
    """A model_timeout/model_failure per failed model, and slow_prediction over budget
    (naming ``slow_reason``, where most of the latency went)."""
    alerts = [
        Alert(
            kind=_ALERT_FOR_STATUS[run.status],
            event_id=event.event_id,
            user_id=event.user_id,
            model=run.name,
            budget_ms=run.budget_ms,
            elapsed_ms=round(_elapsed_ms(run), 3),
            at=at,
        )
        for run in outcome.failed_runs
    ]
    budget_ms = settings.slow_budget_s * 1000.0
    if latency_ms > budget_ms:
        alerts.append(
            Alert(
                kind=AlertKind.SLOW_PREDICTION,
                event_id=event.event_id,
                user_id=event.user_id,
                model=None,
                budget_ms=budget_ms,
                elapsed_ms=round(latency_ms, 3),
                at=at,
                reason=slow_reason,
            )
        )
    return alerts


def _elapsed_ms(run: ModelRun) -> float:
    """How long the model had the event: its run time, or for rows answered without running
    (a stuck lane) how long they waited for it."""
    if run.latency_ms is not None:
        return run.latency_ms
    return run.waited_ms or 0.0

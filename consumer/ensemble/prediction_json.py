"""A prediction's JSON value straight from plain data (orjson), without the pydantic model.

Building a ``Prediction`` and calling ``model_dump_json`` costs about 10 µs per event on
the worker's thread; the same bytes from a dict cost a fraction of it. The output is byte
for byte what ``build_prediction(...).model_dump_json()`` gives (field order, float and
time formats: tests/unit/ensemble/test_prediction_json.py holds us to it). Every value
the contract constrains and that is not already validated is checked here (scores and
the ensemble score in [0, 1], a UTC ``predicted_at``, the model set's digest); anything
else goes through the pydantic model, which validates and raises exactly as before.

Pure; thread-safe.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Final

import orjson

from consumer.ensemble.outputs import (
    EventOutcome,
    build_prediction,
    ensemble_depression,
    ensemble_rule,
)
from consumer.ensemble.scoring import PAT_NAME
from consumer.ensemble.stamp import ModelSetStamp
from consumer.settings import EnsembleSettings
from schemas import SCHEMA_VERSION, FeatureEvent, ModelReport, SourcePosition

_ZERO: Final = timedelta(0)
_DIGEST: Final = re.compile(r"^[0-9a-f]{64}$")
_OPTIONS: Final = orjson.OPT_UTC_Z


def prediction_json(
    event: FeatureEvent,
    outcome: EventOutcome,
    position: tuple[str, int, int],
    latency_ms: float,
    settings: EnsembleSettings,
    predicted_at: datetime,
    stamp: ModelSetStamp | None = None,
) -> bytes:
    """The JSON of ``build_prediction(...)`` (the same arguments; ``position``: the
    source's topic, partition and offset), UTF-8. Raises what ``build_prediction`` raises
    (pydantic's ValidationError) on a value the contract refuses; never blocks."""
    return PredictionEncoder(settings, predicted_at, stamp).encode(
        event, outcome, position, latency_ms
    )


class PredictionEncoder:
    """``prediction_json`` for many events sharing a time and a model set (one batch's
    answers): what they share is checked once, and each distinct set of model reports
    (shared by the events of one model call) is encoded once. Not thread-safe; short-lived
    (it keeps the reports it has seen)."""

    def __init__(
        self,
        settings: EnsembleSettings,
        predicted_at: datetime,
        stamp: ModelSetStamp | None = None,
    ) -> None:
        self._settings = settings
        self._at = predicted_at
        self._stamp = stamp = stamp or ModelSetStamp()
        digest = stamp.model_set
        self._shared_ok = predicted_at.utcoffset() == _ZERO and (
            digest is None or _DIGEST.fullmatch(digest) is not None
        )
        self._models: dict[
            tuple[str | int, ...], tuple[tuple[ModelReport, ...], orjson.Fragment]
        ] = {}

    @property
    def at(self) -> datetime:
        """The predictions' ``predicted_at``."""
        return self._at

    def encode(
        self,
        event: FeatureEvent,
        outcome: EventOutcome,
        position: tuple[str, int, int],
        latency_ms: float,
    ) -> bytes:
        """One prediction's JSON (see ``prediction_json``). Raises ValidationError on a
        value the contract refuses; never blocks."""
        value = self._value(event, outcome, position, latency_ms) if self._shared_ok else None
        if value is not None:
            try:
                return orjson.dumps(value, option=_OPTIONS)
            except TypeError:  # a value of an unexpected type: let the model decide
                pass
        topic, partition, offset = position
        source = SourcePosition(topic=topic, partition=partition, offset=offset)
        model = build_prediction(
            event, outcome, source, latency_ms, self._settings, self._at, self._stamp
        )
        return model.model_dump_json().encode()

    def _value(
        self,
        event: FeatureEvent,
        outcome: EventOutcome,
        position: tuple[str, int, int],
        latency_ms: float,
    ) -> dict[str, Any] | None:
        """The prediction as plain data in the model's field order, or None when a score
        or the coverage needs the model's validation (out of range, not a float)."""
        s, stamp = outcome.scores, self._stamp
        depression, hypomania, mania, pat = (
            s["depression"],
            s["hypomania"],
            s["mania"],
            s[PAT_NAME],
        )
        ensemble = ensemble_depression(depression, pat, self._settings, stamp.weights)
        coverage = event.coverage
        for score in (depression, hypomania, mania, pat, ensemble, coverage):
            # None, or a float in [0, 1] (NaN fails both comparisons)
            if score is not None and not (type(score) is float and 0.0 <= score <= 1.0):
                return None
        return {
            "schema_version": SCHEMA_VERSION,
            "event_id": event.event_id,
            "user_id": event.user_id,
            "as_of": event.as_of,
            "next_day_risk": {"depression": depression, "hypomania": hypomania, "mania": mania},
            "current_depression": pat,
            "ensemble_depression": ensemble,
            "models": self._models_json(outcome.reports),
            "partial": outcome.partial,
            "latency_ms": float(round(latency_ms, 3)),
            "source": {"topic": position[0], "partition": position[1], "offset": position[2]},
            "predicted_at": self._at,
            "clinically_valid": stamp.clinically_valid,
            "model_set": stamp.model_set,
            "pat_runtime": stamp.pat_runtime,
            "ensemble_rule": ensemble_rule(depression, pat),
            "coverage": coverage,
        }

    def _models_json(self, reports: dict[str, ModelReport]) -> orjson.Fragment:
        """The ``models`` object, encoded once per distinct set of reports (kept alive with
        its key, so an id is never reused for another report while cached)."""
        key: tuple[str | int, ...] = (*reports, *map(id, reports.values()))
        cached = self._models.get(key)
        if cached is None:
            value = {name: _report(report) for name, report in reports.items()}
            cached = (tuple(reports.values()), orjson.Fragment(orjson.dumps(value)))
            self._models[key] = cached
        return cached[1]


def _report(report: ModelReport) -> dict[str, Any]:
    return {
        "status": report.status,
        "version": report.version,
        "latency_ms": report.latency_ms,
        "reason": report.reason,
    }

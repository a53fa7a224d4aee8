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
#: The prediction's JSON in the model's field order: ``%%b`` for each of the per-event
#: values (event id, user id, then the ``_SPLICED`` values of the numbers array), the
#: values one model call's events share by name.
_TEMPLATE: Final = (
    b'{"schema_version":%(schema_version)b,"event_id":%%b,"user_id":%%b,"as_of":%%b,'
    b'"next_day_risk":{"depression":%%b,"hypomania":%%b,"mania":%%b},'
    b'"current_depression":%%b,"ensemble_depression":%%b,"models":%(models)b,'
    b'"partial":%(partial)b,"latency_ms":%%b,'
    b'"source":{"topic":%(topic)b,"partition":%%b,"offset":%%b},'
    b'"predicted_at":%(predicted_at)b,"clinically_valid":%(clinically_valid)b,'
    b'"model_set":%(model_set)b,"pat_runtime":%(pat_runtime)b,'
    b'"ensemble_rule":%%b,"coverage":%%b}'
)
_SPLICED: Final = 11


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
        #: (id of a cached ``models`` fragment, partial, topic) → the template
        self._templates: dict[tuple[int, bool, str], bytes] = {}
        #: (id of an outcome's ``reports`` dict, partial, topic) → (the dict, its template)
        self._by_dict: dict[tuple[int, bool, str], tuple[dict[str, ModelReport], bytes]] = {}

    @property
    def at(self) -> datetime:
        """The predictions' ``predicted_at``."""
        return self._at

    @property
    def weights(self) -> tuple[float, float] | None:
        """The model set's ensemble weights (xgboost, pat); None: the settings' weights."""
        return self._stamp.weights

    def template_for(self, outcome: EventOutcome, topic: str) -> bytes | None:
        """The JSON its events share with a ``%b`` for each per-event value (see
        ``_TEMPLATE``), or None when what they share needs the model's validation (a
        ``predicted_at`` not in UTC, a model set digest of another form)."""
        return self._template(outcome, topic) if self._shared_ok else None

    def encode(
        self,
        event: FeatureEvent,
        outcome: EventOutcome,
        position: tuple[str, int, int],
        latency_ms: float,
    ) -> bytes:
        """One prediction's JSON (see ``prediction_json``). Raises ValidationError on a
        value the contract refuses; never blocks."""
        value = self._spliced(event, outcome, position, latency_ms) if self._shared_ok else None
        if value is not None:
            return value
        topic, partition, offset = position
        source = SourcePosition(topic=topic, partition=partition, offset=offset)
        model = build_prediction(
            event, outcome, source, latency_ms, self._settings, self._at, self._stamp
        )
        return model.model_dump_json().encode()

    def _spliced(
        self,
        event: FeatureEvent,
        outcome: EventOutcome,
        position: tuple[str, int, int],
        latency_ms: float,
    ) -> bytes | None:
        """The prediction's JSON: the per-event values (encoded by orjson, as in the
        model's JSON) spliced into the template the events of one model call share; None
        when a value needs the model's validation (a score or the coverage out of range or
        not a float, a value orjson cannot encode)."""
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
        rule = ensemble_rule(depression, pat)
        latency = float(round(latency_ms, 3))
        try:  # none of these values holds a comma: the array splits into them
            ids = (orjson.dumps(event.event_id), orjson.dumps(event.user_id))
            numbers = orjson.dumps(
                [
                    event.as_of,
                    depression,
                    hypomania,
                    mania,
                    pat,
                    ensemble,
                    latency,
                    position[1],
                    position[2],
                    rule,
                    coverage,
                ]
            )
        except TypeError:  # a value of an unexpected type: let the model decide
            return None
        parts = numbers[1:-1].split(b",")
        if len(parts) != _SPLICED:  # a value with a comma after all: not one we know
            return None
        return self._template(outcome, position[0]) % (*ids, *parts)

    def _template(self, outcome: EventOutcome, topic: str) -> bytes:
        """The prediction's JSON with a ``%b`` for each per-event value, built once per
        set of model reports, ``partial`` and source topic; found by the ``reports``
        dict's identity first (the events of one model call share it: ``BatchOutcomes``)."""
        reports = outcome.reports
        fast_key = (id(reports), outcome.partial, topic)
        found = self._by_dict.get(fast_key)
        if found is not None:
            return found[1]
        models = self._models_json(reports)
        key = (id(models), outcome.partial, topic)
        template = self._templates.get(key)
        if template is None:
            stamp = self._stamp
            shared = {
                "schema_version": SCHEMA_VERSION,
                "models": models,
                "partial": outcome.partial,
                "topic": topic,
                "predicted_at": self._at,
                "clinically_valid": stamp.clinically_valid,
                "model_set": stamp.model_set,
                "pat_runtime": stamp.pat_runtime,
            }
            fixed = {
                name.encode(): orjson.dumps(value, option=_OPTIONS).replace(b"%", b"%%")
                for name, value in shared.items()
            }
            template = _TEMPLATE % fixed
            self._templates[key] = template
        self._by_dict[fast_key] = (reports, template)  # holds the dict: its id stays its
        return template

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

"""The ensemble: every model on its own capped pool with its own deadline, honest results.

XGBoost scores the whole batch in one ``predict_batch`` call per booster; PAT scores the
events that carry activity (in sub-batches, inside its adapter). A model that misses its
deadline or raises yields ``None`` scores with status ``timeout``/``failed``; no score is
ever made up. A late result is dropped. A lane whose previous call is still running past
its deadline is *stuck*: it takes no new work (the pool stays bounded) and reports itself
so readiness can say which model hangs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from concurrent.futures import Executor, Future, wait
from dataclasses import dataclass, field
from functools import cached_property
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt

from consumer.clock import Clock
from consumer.settings import EnsembleSettings
from schemas import ACTIVITY_MINUTES, FEATURE_NAMES, FeatureEvent, ModelReport, ModelStatus

FloatArray = npt.NDArray[np.float64]
PAT_NAME: Final = "pat"
BOOSTER_NAMES: Final = ("depression", "hypomania", "mania")


class ScoringModel(Protocol):
    """What the ensemble needs of a model (``consumer.models.protocol.BatchModel``)."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    def predict_batch(self, inputs: npt.NDArray[np.float32]) -> FloatArray: ...


@dataclass(frozen=True)
class ModelRun:
    """One model's outcome over one batch; ``scores`` aligned with ``rows`` when ok."""

    name: str
    status: ModelStatus
    version: str | None
    latency_ms: float | None
    rows: tuple[int, ...]
    scores: FloatArray | None = None
    budget_ms: float = 0.0

    @cached_property
    def _position(self) -> dict[int, int]:
        return {index: position for position, index in enumerate(self.rows)}

    @cached_property
    def report(self) -> ModelReport:
        """This run's status, version and latency as published in each Prediction."""
        latency_ms = None if self.latency_ms is None else round(self.latency_ms, 3)
        return ModelReport(status=self.status, version=self.version, latency_ms=latency_ms)

    def covers(self, index: int) -> bool:
        """Whether event ``index`` of the batch was sent to this model."""
        return index in self._position

    def score_for(self, index: int) -> float | None:
        """The event's score when the run is ok, else None (never a made-up value)."""
        if self.scores is None or self.status is not ModelStatus.OK:
            return None
        return float(self.scores[self._position[index]])


class ModelLane:
    """One model bound to its executor and deadline. Used from one thread (the poll loop).

    At most ``depth`` calls are outstanding (one running, the rest queued behind it, so the
    next batch can be submitted while this one runs); beyond that the lane is busy and a
    submit returns None, which the caller reports as a timeout. The pool stays bounded
    even when a call never returns.
    """

    def __init__(
        self,
        model: ScoringModel,
        executor: Executor,
        timeout_s: float,
        clock: Clock,
        *,
        depth: int = 2,
    ) -> None:
        self.model = model
        self.timeout_s = timeout_s
        self._executor = executor
        self._clock = clock
        self._depth = depth
        self._calls: deque[tuple[float, Future[tuple[FloatArray, float]]]] = deque()

    @property
    def name(self) -> str:
        return self.model.name

    def stuck(self, now: float) -> bool:
        """True while the oldest outstanding call runs past its deadline."""
        self._forget_done()
        return bool(self._calls) and now - self._calls[0][0] > self.timeout_s

    def submit(self, inputs: npt.NDArray[np.float32]) -> Future[tuple[FloatArray, float]] | None:
        """Queue a call, or return None when ``depth`` calls are still outstanding (busy)."""
        self._forget_done()
        if len(self._calls) >= self._depth:
            return None
        future = self._executor.submit(self._timed, inputs)
        self._calls.append((self._clock.monotonic(), future))
        return future

    def _forget_done(self) -> None:
        while self._calls and self._calls[0][1].done():
            self._calls.popleft()

    def _timed(self, inputs: npt.NDArray[np.float32]) -> tuple[FloatArray, float]:
        start = self._clock.monotonic()
        scores = np.asarray(self.model.predict_batch(inputs), dtype=np.float64)
        if scores.shape != (len(inputs),):
            raise ValueError(f"{self.name} returned shape {scores.shape} for {len(inputs)} rows")
        return scores, (self._clock.monotonic() - start) * 1000.0


def feature_matrix(events: Sequence[FeatureEvent], rows: Sequence[int]) -> npt.NDArray[np.float32]:
    """Rows of the 36 features in ``FEATURE_NAMES`` order (by name; None → NaN)."""
    matrix = np.full((len(rows), len(FEATURE_NAMES)), np.nan, dtype=np.float32)
    for out_row, index in enumerate(rows):
        features = events[index].features
        assert features is not None
        matrix[out_row] = [np.nan if (v := features[n]) is None else v for n in FEATURE_NAMES]
    return matrix


def activity_matrix(events: Sequence[FeatureEvent], rows: Sequence[int]) -> npt.NDArray[np.float32]:
    matrix = np.empty((len(rows), ACTIVITY_MINUTES), dtype=np.float32)
    for out_row, index in enumerate(rows):
        activity = events[index].activity
        assert activity is not None
        matrix[out_row] = activity
    return matrix


Call = tuple[ModelLane, tuple[int, ...], "Future[tuple[FloatArray, float]] | None"]


@dataclass
class Scoring:
    """The model calls started for one batch (``Ensemble.submit``)."""

    started: float
    calls: list[Call] = field(default_factory=list)


class Ensemble:
    """Scores batches: ``submit`` starts the models, ``collect`` waits for them."""

    def __init__(
        self,
        boosters: Sequence[ModelLane],
        pat: ModelLane | None,
        settings: EnsembleSettings,
        clock: Clock,
    ) -> None:
        self.boosters = tuple(boosters)
        self.pat = pat
        self.settings = settings
        self._clock = clock

    def lanes(self) -> tuple[ModelLane, ...]:
        return self.boosters + ((self.pat,) if self.pat else ())

    def versions(self) -> dict[str, str]:
        return {lane.name: lane.model.version for lane in self.lanes()}

    def stuck_models(self) -> list[str]:
        now = self._clock.monotonic()
        return [lane.name for lane in self.lanes() if lane.stuck(now)]

    def needs_pat(self, event: FeatureEvent) -> bool:
        """Whether PAT will score this event (it carries activity and PAT is installed)."""
        return event.activity is not None and self.pat is not None

    def submit(self, events: Sequence[FeatureEvent]) -> Scoring:
        """Start every installed model on the events that carry its input. Does not block
        (beyond building the input matrices)."""
        feature_rows = tuple(i for i, e in enumerate(events) if e.features is not None)
        activity_rows = tuple(i for i, e in enumerate(events) if e.activity is not None)
        scoring = Scoring(self._clock.monotonic())
        if feature_rows and self.boosters:
            features = feature_matrix(events, feature_rows)
            scoring.calls += [(lane, feature_rows, lane.submit(features)) for lane in self.boosters]
        if activity_rows and self.pat is not None:
            activity = activity_matrix(events, activity_rows)
            scoring.calls.append((self.pat, activity_rows, self.pat.submit(activity)))
        return scoring

    def collect(self, scoring: Scoring, *, pat: bool) -> dict[str, ModelRun]:
        """Wait (each up to its deadline) for the boosters' runs, or for PAT's when ``pat``."""
        return {
            lane.name: self._collect(lane, rows, future, scoring.started)
            for lane, rows, future in scoring.calls
            if (lane is self.pat) == pat
        }

    def score(self, events: Sequence[FeatureEvent]) -> dict[str, ModelRun]:
        """Run every installed model on the events that carry its input; one run per model.
        Blocks for at most the longest model deadline."""
        scoring = self.submit(events)
        return self.collect(scoring, pat=False) | self.collect(scoring, pat=True)

    def _collect(
        self,
        lane: ModelLane,
        rows: tuple[int, ...],
        future: Future[tuple[FloatArray, float]] | None,
        started: float,
    ) -> ModelRun:
        budget_ms = lane.timeout_s * 1000.0
        version = lane.model.version
        if future is not None:
            remaining = started + lane.timeout_s - self._clock.monotonic()
            wait([future], timeout=max(0.0, remaining))
        if future is None or not future.done():
            elapsed = (self._clock.monotonic() - started) * 1000.0
            return ModelRun(lane.name, ModelStatus.TIMEOUT, version, elapsed, rows, None, budget_ms)
        error = future.exception()
        if error is not None:
            elapsed = (self._clock.monotonic() - started) * 1000.0
            return ModelRun(lane.name, ModelStatus.FAILED, version, elapsed, rows, None, budget_ms)
        scores, latency_ms = future.result()
        return ModelRun(lane.name, ModelStatus.OK, version, latency_ms, rows, scores, budget_ms)

"""The ensemble: every model in its own lane (capped pool, deadline, admission by cost).

XGBoost scores a batch's feature rows in one call per booster; PAT scores the rows that
carry activity, in calls of a few sequences admitted as its lane has room
(``consumer.ensemble.lanes``). A model that misses its deadline or raises yields ``None`` scores
with status ``timeout``/``failed``; no score is ever made up; a late result is dropped.
``submit`` queues a batch and returns at once; ``pump`` moves every lane on; a batch's
events are answered as their lanes resolve them (``Scoring``).
"""

from __future__ import annotations

import operator
import struct
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

import numpy as np
import numpy.typing as npt

from consumer.clock import Clock
from consumer.ensemble.lanes import ModelLane, ScoringModel
from consumer.ensemble.model_runs import FloatArray, LaneRequest, ModelRun
from consumer.ensemble.stamp import ModelSetStamp
from consumer.settings import EnsembleSettings
from schemas import ACTIVITY_MINUTES, FEATURE_NAMES, FeatureEvent
from schemas.activity_week import ActivityWeek

__all__ = [
    "BOOSTER_NAMES",
    "PAT_NAME",
    "Ensemble",
    "FloatArray",
    "ModelLane",
    "ModelRun",
    "Scoring",
    "ScoringModel",
    "activity_matrix",
    "feature_matrix",
]

PAT_NAME: Final = "pat"
BOOSTER_NAMES: Final = ("depression", "hypomania", "mania")
#: Longest single wait in ``Ensemble.wait`` (so callers re-check their own deadlines).
MAX_WAIT_S: Final = 0.1
_WEEK_AS_DOUBLES: Final = struct.Struct(f"={ACTIVITY_MINUTES}d")
#: A features map's values as a tuple in ``FEATURE_NAMES`` order (one C call per row).
_IN_FEATURE_ORDER: Final = operator.itemgetter(*FEATURE_NAMES)


def feature_matrix(events: Sequence[FeatureEvent], rows: Sequence[int]) -> npt.NDArray[np.float32]:
    """Rows of the 36 features in ``FEATURE_NAMES`` order (by name; None → NaN). One
    numpy conversion of all the batch's values as one flat list (numpy reads None as NaN
    in a float array; a flat list converts ~15 % faster than a list of rows)."""
    if not rows:
        return np.empty((0, len(FEATURE_NAMES)), dtype=np.float32)
    in_order = _IN_FEATURE_ORDER
    values: list[float | None] = []
    extend = values.extend
    for index in rows:
        features = events[index].features
        assert features is not None
        extend(in_order(features))
    flat = np.array(values, dtype=np.float64)
    return flat.reshape(len(rows), len(FEATURE_NAMES)).astype(np.float32)


def activity_matrix(events: Sequence[FeatureEvent], rows: Sequence[int]) -> npt.NDArray[np.float32]:
    """Rows of each event's week (float32). The 10,080 Python floats go through one
    ``struct`` pack into float64 bytes, which numpy narrows: 2.5x faster than numpy reading
    the list float by float (55 vs 135 µs per week here), on the loop's own thread. A
    week decoded from Protobuf (``schemas.activity_week.ActivityWeek``) is copied as is."""
    matrix = np.empty((len(rows), ACTIVITY_MINUTES), dtype=np.float32)
    for out_row, index in enumerate(rows):
        activity = events[index].activity
        assert activity is not None
        if isinstance(activity, ActivityWeek):  # a binary format's week: already numbers
            matrix[out_row] = activity.array
            continue
        matrix[out_row] = np.frombuffer(_WEEK_AS_DOUBLES.pack(*activity), dtype=np.float64)
    return matrix


@dataclass(eq=False)
class Scoring:
    """The lane requests of one batch (``Ensemble.submit``); events resolve as lanes answer."""

    started: float
    requests: dict[str, LaneRequest] = field(default_factory=dict)
    #: Events with too few features present for the boosters (see ``Ensemble.submit``).
    insufficient: frozenset[int] = frozenset()

    def hold_back_short(
        self, rows: tuple[int, ...], features: npt.NDArray[np.float32], minimum: int
    ) -> tuple[tuple[int, ...], npt.NDArray[np.float32]]:
        """The rows (and their features) with at least ``minimum`` features present (a
        missing one is NaN: the contract allows no NaN); the others are recorded as
        ``insufficient``. One numpy pass over the batch, not a scan per event."""
        short = np.count_nonzero(~np.isnan(features), axis=1) < minimum
        if not short.any():
            return rows, features
        indices = np.asarray(rows)
        self.insufficient = frozenset(indices[short].tolist())
        return tuple(indices[~short].tolist()), features[~short]

    def runs_for(self, index: int) -> dict[str, ModelRun]:
        """The run of each model that answered event ``index`` so far."""
        runs = {name: request.run_for(index) for name, request in self.requests.items()}
        return {name: run for name, run in runs.items() if run is not None}

    def waiting(self) -> set[int]:
        """The events some model that takes them has not answered yet: ``answered`` is
        None for exactly these (one set pass per lane, not one call per event)."""
        waiting: set[int] = set()
        for request in self.requests.values():
            waiting |= request.unanswered_rows()
        return waiting

    def run_columns(self, indices: Sequence[int]) -> dict[str, list[ModelRun | None]]:
        """For each model, the run that answered each of ``indices`` (None where it has not,
        or does not take the event): one lookup pass per lane, not a call per event."""
        return {
            name: list(map(request.answers.get, indices)) for name, request in self.requests.items()
        }

    @property
    def resolutions(self) -> int:
        """Grows whenever a lane answers some of this batch's rows."""
        return sum(request.resolutions for request in self.requests.values())

    def cancel(self, indices: set[int]) -> None:
        """Stop wanting these events' rows (waiting rows are never submitted)."""
        for request in self.requests.values():
            request.cancel(indices)

    @property
    def unresolved(self) -> int:
        return max((request.unresolved for request in self.requests.values()), default=0)


class Ensemble:
    """Scores batches through the model lanes. Used from one thread (the poll loop)."""

    def __init__(
        self,
        boosters: Sequence[ModelLane],
        pat: ModelLane | None,
        settings: EnsembleSettings,
        clock: Clock,
        stamp: ModelSetStamp | None = None,
    ) -> None:
        self.boosters = tuple(boosters)
        self.pat = pat
        self.settings = settings
        #: What each prediction says about the model set (its id, validity, PAT runtime).
        self.stamp = stamp or ModelSetStamp()
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

    def pending_pat_rows(self) -> int:
        """PAT rows not answered yet (waiting for room or running)."""
        return self.pat.queued_rows() if self.pat is not None else 0

    def submit(self, events: Sequence[FeatureEvent], minimum_features: int = 0) -> Scoring:
        """Queue every installed model on the events that carry its input, then submit what
        fits. An event with ``features`` but fewer than ``minimum_features`` of them present
        gets no booster (``Scoring.insufficient``; its PAT still runs). Does not block
        (beyond building the input matrices)."""
        feature_rows = tuple(i for i, e in enumerate(events) if e.features is not None)
        activity_rows = tuple(i for i, e in enumerate(events) if e.activity is not None)
        scoring = Scoring(self._clock.monotonic())
        if feature_rows and (self.boosters or minimum_features):
            features = feature_matrix(events, feature_rows)
            if minimum_features:
                feature_rows, features = scoring.hold_back_short(
                    feature_rows, features, minimum_features
                )
            if feature_rows:
                for lane in self.boosters:
                    scoring.requests[lane.name] = lane.enqueue(feature_rows, features, None)
        if activity_rows and self.pat is not None:
            activity = activity_matrix(events, activity_rows)
            expires = self._pat_expiry(events, activity_rows)
            scoring.requests[self.pat.name] = self.pat.enqueue(activity_rows, activity, expires)
        self.pump()
        return scoring

    def _pat_expiry(
        self, events: Sequence[FeatureEvent], rows: tuple[int, ...]
    ) -> tuple[float, ...] | None:
        """When each row becomes too old for PAT (monotonic), from the event's ``emitted_at``."""
        max_age_s = self.settings.pat_max_event_age_s
        if max_age_s is None:
            return None
        mono, wall = self._clock.monotonic(), self._clock.now()
        return tuple(mono + max_age_s - _age_s(events[i].emitted_at, wall) for i in rows)

    def pump(self) -> list[ModelRun]:
        """Move every lane on (answers, deadlines, admissions). Does not block."""
        now = self._clock.monotonic()
        runs: list[ModelRun] = []
        for lane in self.lanes():
            runs += lane.pump(now)
        return runs

    def working(self) -> bool:
        """Whether a model call is submitted and not answered yet."""
        return any(lane.futures() for lane in self.lanes())

    def wait(self, timeout_s: float) -> None:
        """Block until a model call finishes, a deadline passes, or ``timeout_s`` (capped at
        ``MAX_WAIT_S``) runs out."""
        now = self._clock.monotonic()
        limit = min(timeout_s, MAX_WAIT_S)
        deadlines = [d for lane in self.lanes() if (d := lane.next_deadline()) is not None]
        if deadlines:
            limit = min(limit, max(0.0, min(deadlines) - now))
        futures = [future for lane in self.lanes() for future in lane.futures()]
        if futures:
            wait(futures, timeout=limit, return_when=FIRST_COMPLETED)

    def score(self, events: Sequence[FeatureEvent]) -> Scoring:
        """Run every installed model on the events and wait until each is answered (ok,
        failed, timeout or skipped). Blocks at most about the longest deadline per call."""
        scoring = self.submit(events)
        while scoring.unresolved:
            self.wait(MAX_WAIT_S)
            self.pump()
        return scoring


def _age_s(emitted_at: datetime, now: datetime) -> float:
    return (now - emitted_at).total_seconds()

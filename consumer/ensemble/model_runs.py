"""What a model lane hands out and holds: ``ModelRun`` (one call's outcome over some rows of
a batch) and ``LaneRequest`` (one batch's rows for one lane, answered call by call).

Plain data with small helpers; used from the poll loop's thread only.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt

from schemas import ModelReport, ModelStatus

FloatArray = npt.NDArray[np.float64]
InputArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class ModelRun:
    """One model's outcome over some rows of a batch; ``scores`` aligned with ``rows`` when ok."""

    name: str
    status: ModelStatus
    version: str | None
    latency_ms: float | None
    rows: tuple[int, ...]
    scores: FloatArray | None = None
    budget_ms: float = 0.0
    reason: str | None = None
    waited_ms: float | None = None  # how long rows that never ran waited (stuck lane)
    #: Which of its call's runs this is: a GPU lane's call over several batches answers each
    #: with a run of its own; metrics count a call once, at part 0.
    call_part: int = 0
    call_rows: int = 0  # rows of the whole call (0: not from a call, e.g. skipped rows)

    @cached_property
    def position(self) -> dict[int, int]:
        """Each covered batch index → its position in ``rows`` (and ``scores``)."""
        return {index: position for position, index in enumerate(self.rows)}

    @cached_property
    def row_set(self) -> frozenset[int]:
        """The covered batch indices (built in C: ``covers`` needs no positions)."""
        return frozenset(self.rows)

    @cached_property
    def score_list(self) -> list[float]:
        """The scores as Python floats (one conversion per run, not one per event)."""
        assert self.scores is not None
        floats: list[float] = self.scores.astype(np.float64, copy=False).tolist()
        return floats

    @cached_property
    def report(self) -> ModelReport:
        """This run's status, version and latency as published in each Prediction."""
        latency_ms = None if self.latency_ms is None else round(self.latency_ms, 3)
        return ModelReport(
            status=self.status, version=self.version, latency_ms=latency_ms, reason=self.reason
        )

    def covers(self, index: int) -> bool:
        """Whether event ``index`` of the batch was sent to this model."""
        return index in self.row_set

    def score_for(self, index: int) -> float | None:
        """The event's score when the run is ok, else None (never a made-up value)."""
        if self.scores is None or self.status is not ModelStatus.OK:
            return None
        return self.score_list[self.position[index]]


@dataclass(eq=False)
class LaneRequest:
    """One batch's rows for one lane. ``rows`` are batch indices, ``inputs`` aligned with them;
    ``expires_at`` (monotonic, per row) marks rows to skip once too old (None: never)."""

    rows: tuple[int, ...]
    inputs: InputArray
    enqueued_at: float
    expires_at: tuple[float, ...] | None = None
    waiting: deque[int] = field(init=False)  # positions (into rows) not submitted yet
    cancelled: set[int] = field(default_factory=set)  # batch indices no longer wanted
    resolutions: int = 0  # grows with every resolved run (cheap change detection)
    _run_for: dict[int, ModelRun] = field(default_factory=dict)
    _row_set: frozenset[int] = field(init=False)

    def __post_init__(self) -> None:
        self.waiting = deque(range(len(self.rows)))
        self._row_set = frozenset(self.rows)

    def covers(self, index: int) -> bool:
        return index in self._row_set

    @property
    def answers(self) -> dict[int, ModelRun]:
        """The run that answered each answered batch index (read only)."""
        return self._run_for

    def run_for(self, index: int) -> ModelRun | None:
        return self._run_for.get(index)

    def unanswered_rows(self) -> frozenset[int]:
        """Batch indices of its rows no run has answered yet (one set difference)."""
        return self._row_set - self._run_for.keys()

    def resolve(self, run: ModelRun) -> None:
        self._run_for.update(dict.fromkeys(run.rows, run))
        self.resolutions += 1

    @property
    def unresolved(self) -> int:
        """Rows still to be answered (waiting or running), cancelled ones excluded."""
        open_rows = (i for i in self.rows if i not in self._run_for)
        return sum(1 for i in open_rows if i not in self.cancelled)

    def cancel(self, indices: Iterable[int]) -> None:
        """Stop wanting these rows: waiting ones are never submitted."""
        self.cancelled.update(indices)
        self.waiting = deque(p for p in self.waiting if self.rows[p] not in self.cancelled)

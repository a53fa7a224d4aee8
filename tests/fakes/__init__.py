"""Small fakes shared by unit tests: a fake clock, event builders, models, pools and
messages (no Kafka). The fakes of the engine's seams (Kafka clients, publisher, health)
are in :mod:`tests.fakes.kafka`."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import orjson

from schemas import ACTIVITY_MINUTES, FEATURE_NAMES, FeatureEvent

if TYPE_CHECKING:
    from consumer.clock import Clock
    from consumer.ensemble.lanes import ModelLane, ScoringModel
    from consumer.ensemble.pools import Pool
    from consumer.ensemble.row_batching import RowBatching


@dataclass
class FakeClock:
    """Monotonic and wall time that only move when the test says so."""

    t: float = 1_000.0
    start: datetime = field(default_factory=lambda: datetime(2026, 11, 27, 10, 0, tzinfo=UTC))

    def monotonic(self) -> float:
        return self.t

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.t - 1_000.0)

    def advance(self, seconds: float) -> None:
        self.t += seconds


def feature_values(seed: int = 0) -> dict[str, float | None]:
    values: dict[str, float | None] = {}
    for i, name in enumerate(FEATURE_NAMES):
        if name.endswith("_Zscore"):
            values[name] = ((i * 7 + seed) % 11 - 5) / 3.0
        elif name.startswith("Sleep_percentage"):
            values[name] = 0.3 + 0.01 * ((i + seed) % 10)
        else:
            values[name] = 1.0 + ((i * 3 + seed) % 7)
    return values


def event_dict(
    *, features: bool = True, activity: bool = False, seed: int = 0, **overrides: Any
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "schema_version": 1,
        "event_id": str(uuid.UUID(int=seed + 1)),
        "user_id": f"user-{seed % 50}",
        "as_of": "2026-11-26",
        "emitted_at": "2026-11-27T09:59:00Z",
    }
    if features:
        event["features"] = feature_values(seed)
    if activity:
        event["activity"] = [float((m % 1440) // 60) for m in range(ACTIVITY_MINUTES)]
    event.update(overrides)
    return event


def event_bytes(**kwargs: Any) -> bytes:
    return orjson.dumps(event_dict(**kwargs))


def make_event(**kwargs: Any) -> FeatureEvent:
    return FeatureEvent.model_validate_json(event_bytes(**kwargs))


class FakeModel:
    def __init__(self, name: str, score: float = 0.25, fail: bool = False) -> None:
        self.name = name
        self.version = f"{name}-v1"
        self.score = score
        self.fail = fail
        self.calls: list[int] = []

    def predict_batch(self, inputs: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        self.calls.append(len(inputs))
        if self.fail:
            raise RuntimeError("boom")
        return np.full(len(inputs), self.score)


class InlineExecutor:
    """Runs work at submit time; ``hang=True`` returns a future that never completes."""

    def __init__(self, hang: bool = False) -> None:
        self.hang = hang
        self.submitted = 0

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        self.submitted += 1
        future: Future[Any] = Future()
        if self.hang:
            future.set_running_or_notify_cancel()  # running: it cannot be cancelled
            return future
        try:
            future.set_result(fn(*args))
        except Exception as exc:
            future.set_exception(exc)
        return future


class ManualExecutor:
    """Hands out futures the test starts and completes by hand (a one-thread pool's order)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]] = []

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self.calls.append((future, fn, args))
        return future

    def pending(self) -> list[Future[Any]]:
        return [future for future, _, _ in self.calls if not future.done()]

    def run_next(self) -> None:
        """Run the oldest call not done yet (as a one-thread pool would)."""
        for future, fn, args in self.calls:
            if not future.done():
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(fn(*args))
                    except Exception as exc:  # kept in the future, as a real pool does
                        future.set_exception(exc)
                return

    def run_all(self) -> None:
        while self.pending():
            self.run_next()

    def start_next(self) -> None:
        """Mark the oldest waiting call running (as a pool thread picks it up), not done."""
        for future, _, _ in self.calls:
            if not future.done() and not future.running():
                future.set_running_or_notify_cancel()
                return

    def finish_started(self) -> None:
        """Run the calls marked running to completion."""
        for future, fn, args in self.calls:
            if future.running():
                try:
                    future.set_result(fn(*args))
                except Exception as exc:
                    future.set_exception(exc)


class CostlyModel(FakeModel):
    """A fake model whose calls move a fake clock by ``seconds_per_row`` per row."""

    def __init__(self, name: str, clock: FakeClock, seconds_per_row: float) -> None:
        super().__init__(name)
        self.clock = clock
        self.seconds_per_row = seconds_per_row

    def predict_batch(self, inputs: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        self.clock.advance(self.seconds_per_row * len(inputs))
        return super().predict_batch(inputs)


def make_lane(
    model: ScoringModel,
    executor: Pool,
    timeout_s: float,
    clock: Clock,
    *,
    seconds_per_row: float = 0.001,
    chunk_rows: int | None = None,
    fraction: float = 0.5,
    batching: RowBatching | None = None,
) -> ModelLane:
    """A ``ModelLane`` with admission by cost (budget = ``fraction`` of the deadline);
    ``batching``: a ``RowBatching`` for a device lane."""
    from consumer.ensemble.admission import LaneAdmission, SpeedEstimate
    from consumer.ensemble.lanes import ModelLane

    admission = LaneAdmission(timeout_s * fraction, SpeedEstimate(seconds_per_row), chunk_rows)
    return ModelLane(model, executor, timeout_s, clock, admission, batching=batching)


def booster_lanes(clock: Clock) -> list[ModelLane]:
    """The three booster lanes over inline fakes (5 s timeout), as the unit tests use them."""
    return [
        make_lane(FakeModel(n), InlineExecutor(), 5.0, clock)
        for n in ("depression", "hypomania", "mania")
    ]


@dataclass
class FakeMessage:
    """The part of a confluent-kafka Message the pipeline reads."""

    _value: bytes | None
    _offset: int
    _partition: int = 0
    _topic: str = "mood.features.v1"
    _key: bytes | None = b"k"

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value


def cuda_visible() -> bool:
    """Whether torch sees a CUDA device in this process (skips of the GPU-only tests)."""
    import torch

    return bool(torch.cuda.is_available())

"""The records of one micro-batch as it moves through the worker: the polled input
(``Polled``), what each input offset produced (``SourceResult`` of ``OutRecord``s), a part
ready to publish (``BatchResult``) and a batch whose models are still answering
(``StartedBatch``). Plain data; used from the poll loop's thread only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from consumer.engine.offsets import TopicPartitionKey
from consumer.ensemble.scoring import ModelRun, Scoring
from consumer.errors import PoisonFloodError
from consumer.intake.reader import InMessage
from schemas import FeatureEvent


class Polled(NamedTuple):
    """One polled message. Immutable; a named tuple, not a frozen dataclass: built once per
    event, and a frozen dataclass's ``__init__`` costs ~3x (``object.__setattr__`` per field)."""

    message: InMessage
    polled_at: float  # monotonic seconds when poll returned it

    @property
    def tp(self) -> TopicPartitionKey:
        return (self.message.topic() or "", self.message.partition() or 0)


class OutRecord(NamedTuple):
    """One record to produce. Immutable (a named tuple, like ``Polled``; change one with
    ``_replace``)."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] | None = None
    kind: str = "prediction"  # prediction | alert | dead_letter | overflow
    label: str = ""  # metric label: alert kind, or "true"/"false" for a partial prediction
    partition: int | None = None  # None: the producer's partitioner (by key)

    @classmethod
    def predictions(
        cls,
        topic: str,
        keys: Iterable[bytes],
        values: Iterable[bytes],
        headers: Iterable[list[tuple[str, bytes]]],
        label: str,
    ) -> list[OutRecord]:
        """Prediction records of a group of events (``label`` their ``partial``), each made by
        ``tuple.__new__`` in C: the named tuple's ``__new__`` is a Python call per record."""
        new = tuple.__new__
        return [
            new(cls, (topic, key, value, head, "prediction", label, None))
            for key, value, head in zip(keys, values, headers, strict=True)
        ]


@dataclass(eq=False, slots=True)  # identity semantics: one per consumed message, usable in sets
class SourceResult:
    """Everything one input offset produced; its offset is done when all are acknowledged."""

    tp: TopicPartitionKey
    offset: int
    polled_at: float
    records: list[OutRecord] = field(default_factory=list)
    invalid_reason: str | None = None
    invalid_streak: int = 0  # consecutive invalid events on its partition through this one
    partial: bool | None = None  # set for scored events
    insufficient_input: bool = False  # too few features: the boosters did not score it
    overflowed: bool = False  # over the rate limit: copied to the overflow topic
    ignored_fields: tuple[str, ...] = ()  # labels of unknown top-level fields (tolerant)
    order_key: bytes | None = None  # the input key (else user_id): per-key output order


@dataclass
class BatchResult:
    """Outputs ready to publish: some sources of a batch, and the model runs that answered."""

    sources: list[SourceResult]
    runs: list[ModelRun] = field(default_factory=list)
    flood: PoisonFloodError | None = None


@dataclass(eq=False)
class StartedBatch:
    """A decoded batch queued on the model lanes.

    ``sources`` lists every input in order (register them before publishing any part).
    Sources that need no model (dead letters, overflow copies) come out in the first part;
    each scored event comes out once every model that takes it has answered.
    """

    sources: list[SourceResult]
    flood: PoisonFloodError | None
    unscored: list[SourceResult]  # dead letters and overflow copies
    scored: list[tuple[SourceResult, FeatureEvent]]
    scoring: Scoring | None
    emitted: list[bool] = field(init=False)
    abandoned: set[int] = field(default_factory=set)  # scored indices given up (revoked)
    first_sent: bool = False
    seen_resolutions: int = -1
    open_events: int = field(init=False)  # scored events neither handed out nor abandoned
    held: int = 0  # sources answered but held behind an earlier event of their key
    sequenced: bool = False  # per-key order: past its first pass (see InFlight._sequence)
    #: The sources with something for the batch's metrics (a dead letter, an overflow
    #: copy, too few features, unknown fields), so the others are not visited.
    notable: list[SourceResult] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.notable += self.unscored
        self.emitted = [False] * len(self.scored)
        self.open_events = len(self.scored)

    @property
    def complete(self) -> bool:
        """Every source has been handed out (or abandoned)."""
        return self.first_sent and self.open_events == 0

    def emit_all(self, indices: list[int]) -> None:
        """``close_event(index, emitted=True)`` for each of ``indices`` (open ones)."""
        emitted = self.emitted
        for index in indices:
            emitted[index] = True
        self.open_events -= len(indices)

    def close_event(self, index: int, *, emitted: bool) -> None:
        """Event ``index`` was handed out (``emitted``) or given up; each only once."""
        if emitted:
            self.emitted[index] = True
        else:
            self.abandoned.add(index)
        self.open_events -= 1

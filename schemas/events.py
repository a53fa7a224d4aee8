"""moodstream event contract v1 (DESIGN.md §3) as strict pydantic v2 models.

Every record is JSON, UTF-8, one event per Kafka message, keyed by ``user_id``.
Validation is strict: no coercion (no numbers as strings, no booleans as numbers),
no unknown fields, no NaN or Infinity. Ranges are physical, never fitted to data.
The models say what producers send; the service itself reads tolerantly by default
(unknown top-level fields are ignored and counted, ``consumer/intake/decode.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Final, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    model_validator,
    with_config,
)
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict

SCHEMA_VERSION: Final = 1
ACTIVITY_MINUTES: Final = 10_080

FEATURE_BASES: Final[tuple[str, ...]] = (
    "ST_long",
    "ST_short",
    "WT_long",
    "WT_short",
    "LongSleepWindow_length",
    "LongSleepWindow_number",
    "ShortSleepWindow_length",
    "ShortSleepWindow_number",
    "Sleep_percentage",
    "Sleep_amplitude",
    "Circadian_phase",
    "Circadian_amplitude",
)
FEATURE_SUFFIXES: Final[tuple[str, ...]] = ("_MN", "_SD", "_Zscore")
#: The 36 XGBoost inputs in the order the published boosters store them.
FEATURE_NAMES: Final[tuple[str, ...]] = tuple(
    base + suffix for base in FEATURE_BASES for suffix in FEATURE_SUFFIXES
)

_HOURS_BASES: Final = frozenset(
    {
        "ST_long",
        "ST_short",
        "WT_long",
        "WT_short",
        "LongSleepWindow_length",
        "ShortSleepWindow_length",
        "Circadian_phase",
    }
)
_FRACTION_BASES: Final = frozenset({"Sleep_percentage"})
#: Counts per day and amplitudes: non-negative, physically bounded generously.
_COUNT_BASES: Final = frozenset({"LongSleepWindow_number", "ShortSleepWindow_number"})
_MAX_COUNT_PER_DAY: Final = 1_440.0
_MAX_ABS_ZSCORE: Final = 1e6
_MAX_ACTIVITY: Final = 1e7
#: The largest activity count of one minute (``ActivityCount``).
MAX_ACTIVITY: Final = _MAX_ACTIVITY


def feature_bounds(name: str) -> tuple[float, float]:
    """Physical [low, high] for one feature name (inclusive). Raises KeyError on unknown names."""
    if name not in _FEATURE_INDEX:
        raise KeyError(name)
    base, _, suffix = name.rpartition("_")
    if suffix == "Zscore":
        return (-_MAX_ABS_ZSCORE, _MAX_ABS_ZSCORE)
    if base in _HOURS_BASES:
        return (0.0, 24.0)
    if base in _FRACTION_BASES:
        return (0.0, 1.0)
    if base in _COUNT_BASES:
        return (0.0, _MAX_COUNT_PER_DAY)
    return (0.0, _MAX_ABS_ZSCORE)  # amplitudes: non-negative and finite


_FEATURE_INDEX: Final = {name: i for i, name in enumerate(FEATURE_NAMES)}
_ZERO: Final = timedelta(0)

UserId = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")
]

CANONICAL_UUID_PATTERN: Final = (
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
_CANONICAL_UUID: Final = re.compile(CANONICAL_UUID_PATTERN)


def _exactly_int(value: object) -> object:
    """Refuse ``true`` and ``1.0`` where the contract says the integer 1 (JSON mode)."""
    if type(value) is not int:
        raise PydanticCustomError("int_type", "Input should be the integer 1")
    return value


def _canonical_uuid(value: object) -> object:
    """Only the 8-4-4-4-12 hex text form (no braces, ``urn:uuid:`` or bare 32 hex); a
    ``uuid.UUID`` given in Python becomes its standard (lower-case) text."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, str) and _CANONICAL_UUID.fullmatch(value) is None:
        raise PydanticCustomError(
            "uuid_parsing", "Input should be a UUID in the 8-4-4-4-12 hex form"
        )
    return value


SchemaVersion = Annotated[Literal[1], BeforeValidator(_exactly_int)]
#: A UUID in the 8-4-4-4-12 hex form, kept as the exact string received (case included):
#: identifiers are echoed, never normalised.
EventId = Annotated[
    str,
    BeforeValidator(_canonical_uuid),
    Field(json_schema_extra={"format": "uuid", "pattern": _CANONICAL_UUID.pattern}),
]


def _feature_value(name: str) -> object:
    """One feature's type: a finite number within its physical range, or null (missing)."""
    low, high = feature_bounds(name)
    return Annotated[float | None, Field(strict=True, allow_inf_nan=False, ge=low, le=high)]


if TYPE_CHECKING:
    FeatureMap = dict[str, float | None]
else:
    #: Exactly the 36 names, each required, nothing else: validated in pydantic-core (Rust),
    #: with the physical range of each name in the exported JSON Schema.
    FeatureMap = with_config(
        ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, title="Features")
    )(TypedDict("Features", {name: _feature_value(name) for name in FEATURE_NAMES}))

ActivityCount = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0.0, le=_MAX_ACTIVITY)]


def _week_as_list(week: Sequence[float]) -> list[float]:
    """A week as the list it is in JSON (``schemas.activity_week.ActivityWeek`` too)."""
    return week if isinstance(week, list) else list(week)


#: One week of minute-level activity counts, oldest first, ending at ``as_of``.
Activity = Annotated[
    list[ActivityCount],
    Field(min_length=ACTIVITY_MINUTES, max_length=ACTIVITY_MINUTES),
    PlainSerializer(_week_as_list, return_type=list[float]),
]
#: The fraction of the week's minutes that were measured (the rest were filled with 0), as
#: the windows stage computes it; absent when the producer sent a finished week.
Coverage = Annotated[
    float,
    Field(
        strict=True,
        allow_inf_nan=False,
        ge=0.0,
        le=1.0,
        description="fraction of the week's minutes present (the rest filled with 0)",
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)


class FeatureEvent(_Strict):
    """One person-day of inputs. At least one of ``features`` and ``activity``.

    Validate from bytes with ``FeatureEvent.model_validate_json`` (strict JSON mode:
    UUID, date and RFC 3339 times arrive as strings).
    """

    schema_version: SchemaVersion
    event_id: EventId
    user_id: UserId
    as_of: date
    emitted_at: AwareDatetime
    features: FeatureMap | None = None
    activity: Activity | None = None
    coverage: Coverage | None = None

    @model_validator(mode="after")
    def _has_inputs(self) -> FeatureEvent:
        if self.features is None and self.activity is None:
            raise ValueError("an event needs features, activity, or both")
        if self.coverage is not None and self.activity is None:
            raise ValueError("coverage describes activity: an event with coverage needs activity")
        return self


class ModelStatus(StrEnum):
    """Per model and event. ``insufficient_input``: fewer features present than the service's
    minimum (``ENSEMBLE__MIN_PRESENT_FEATURES``), so the booster was not run (null score)."""

    OK = "ok"
    TIMEOUT = "timeout"
    FAILED = "failed"
    SKIPPED = "skipped"
    INSUFFICIENT_INPUT = "insufficient_input"


Probability = Annotated[float, Field(ge=0.0, le=1.0)]


def _utc(value: datetime) -> datetime:
    if value.utcoffset() != _ZERO:
        raise PydanticCustomError("timezone_utc", "Input should be a time in UTC")
    return value


#: An RFC 3339 time in UTC (``...Z``), as the service writes its own timestamps.
UtcDatetime = Annotated[
    AwareDatetime, AfterValidator(_utc), Field(description="RFC 3339 time in UTC (ends in Z)")
]


class NextDayRisk(_Strict):
    depression: Probability | None
    hypomania: Probability | None
    mania: Probability | None


class ModelReport(_Strict):
    status: ModelStatus
    version: str | None
    latency_ms: float | None
    #: Why a model did not score the event, when the service chose not to (``skipped``
    #: under an overload policy, for example ``max_event_age``); null otherwise.
    reason: str | None = None


class SourcePosition(_Strict):
    topic: str
    partition: int
    offset: int


#: The sha256 of a models directory's manifest.json, lowercase hex.
ModelSetDigest = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class Prediction(_Strict):
    """One per scored event. A model that did not run gives null, never a made-up score.

    ``event_id`` and ``user_id`` are the event's, character for character. ``predicted_at``:
    when the service built this prediction (RFC 3339, UTC).
    """

    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: EventId
    user_id: UserId
    as_of: date
    next_day_risk: NextDayRisk
    current_depression: Probability | None
    ensemble_depression: Probability | None
    models: dict[str, ModelReport]
    partial: bool
    latency_ms: float
    source: SourcePosition
    predicted_at: UtcDatetime
    #: True only when the model set's manifest says so and no model file contradicts it.
    clinically_valid: bool = False
    #: The model set that scored it: the sha256 of its manifest.json (null: not named).
    model_set: ModelSetDigest | None = None
    #: The PAT runtime and precision of the set (``onnx-fp32``, ``torch-fp32``,
    #: ``torch-bf16``, ``cuda-fp32``, ``cuda-bf16``); null when the set has no PAT.
    pat_runtime: str | None = None
    #: How ``ensemble_depression`` was made: ``weighted`` (both depression scores),
    #: ``xgboost_only`` or ``pat_only`` (the one present); null when it is null.
    ensemble_rule: Literal["weighted", "xgboost_only", "pat_only"] | None = None
    #: The scored event's ``coverage`` (windows stage); null when it had none.
    coverage: Coverage | None = None


class AlertKind(StrEnum):
    MODEL_TIMEOUT = "model_timeout"
    MODEL_FAILURE = "model_failure"
    SLOW_PREDICTION = "slow_prediction"
    MODEL_SKIPPED = "model_skipped"


class SlowReason(StrEnum):
    """Where most of a slow prediction's latency went (from the moment it was read)."""

    WAITED_FOR_GROUP = "waited_for_group"  # the loop was held by a consumer-group rebalance
    WAITED_FOR_PAT = "waited_for_pat"  # queued in front of PAT
    WAITED_IN_WORKER = "waited_in_worker"  # no PAT: queued for the boosters or a busy loop
    RAN_SLOWLY = "ran_slowly"  # the model calls themselves took the time


class Alert(_Strict):
    schema_version: Literal[1] = SCHEMA_VERSION
    kind: AlertKind
    event_id: EventId
    user_id: UserId
    model: str | None
    budget_ms: float
    elapsed_ms: float
    at: AwareDatetime
    #: slow_prediction only: where most of ``elapsed_ms`` went (None on other kinds).
    reason: SlowReason | None = None


class DeadLetterHeaders(_Strict):
    """Headers on a dead-lettered record; key and value are the original bytes, unchanged."""

    error_class: str = Field(serialization_alias="error.class")
    error_message: str = Field(serialization_alias="error.message")
    source_topic: str = Field(serialization_alias="source.topic")
    source_partition: int = Field(serialization_alias="source.partition")
    source_offset: int = Field(serialization_alias="source.offset")
    consumer_group: str = Field(serialization_alias="consumer.group")
    failed_at: AwareDatetime = Field(serialization_alias="failed.at")

    def to_kafka(self) -> list[tuple[str, bytes]]:
        """The header list for confluent-kafka's ``produce(headers=...)``."""
        dumped = self.model_dump(mode="json", by_alias=True)
        return [(name, str(value).encode("utf-8")) for name, value in dumped.items()]


#: The media type of every prediction and alert value (UTF-8 JSON).
CONTENT_TYPE: Final = "application/json"


def record_headers(
    kind: Literal["prediction", "alert"], event_id: str, *, alert_kind: AlertKind | None = None
) -> list[tuple[str, bytes]]:
    """Headers of a prediction or alert record, so subscribers can route without parsing:
    ``content-type`` (``application/json``), ``moodstream.kind`` (``prediction``/``alert``),
    ``moodstream.schema_version`` (``1``), ``moodstream.event_id`` (as received) and, on
    alerts, ``moodstream.alert_kind``. Pure; does not validate ``event_id``."""
    headers = [*_SHARED_HEADERS[kind], ("moodstream.event_id", event_id.encode())]
    if alert_kind is not None:
        headers.append(("moodstream.alert_kind", alert_kind.value.encode()))
    return headers


def prediction_headers(event_ids: Iterable[str]) -> list[list[tuple[str, bytes]]]:
    """``record_headers("prediction", event_id)`` of each event id, in one pass. Pure."""
    shared, name = _SHARED_HEADERS["prediction"], "moodstream.event_id"
    return [[*shared, (name, event_id.encode())] for event_id in event_ids]


_CONTENT_TYPE_BYTES: Final = CONTENT_TYPE.encode()
_SCHEMA_VERSION_BYTES: Final = str(SCHEMA_VERSION).encode()
#: The headers every record of a kind shares, built once (immutable tuples).
_SHARED_HEADERS: Final = {
    kind: (
        ("content-type", _CONTENT_TYPE_BYTES),
        ("moodstream.kind", kind.encode()),
        ("moodstream.schema_version", _SCHEMA_VERSION_BYTES),
    )
    for kind in ("prediction", "alert")
}

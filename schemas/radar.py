"""RADAR-base records as activity samples (issue 26).

RADAR-base (RADAR-Schemas) keys every observation with an ``ObservationKey``
``{projectId, userId, sourceId}`` and sends Fitbit intraday steps as one
``FitbitIntradaySteps`` record per interval: ``time`` (device time, epoch seconds, a
double), ``timeReceived``, ``timeInterval`` (seconds, an int) and ``steps`` (an int). Both
arrive here as the dicts a registry deserializer hands out; ``radar_steps_samples`` turns
one key and value into an ``ActivitySamples`` with one value, the user being the key's
``userId`` (RADAR's subject identifiers are unique across projects, so ``projectId`` and
``sourceId`` are not part of it). The record carries no zone: the service's
``WINDOWS__DEFAULT_TZ`` applies.

Unknown extra fields are ignored (a newer RADAR schema may add some). Pure; raises
pydantic's ``ValidationError`` with the reason for a record that does not fit.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from schemas.events import UserId
from schemas.samples import ActivitySamples


class _Radar(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True, allow_inf_nan=False)


class ObservationKey(_Radar):
    """RADAR-base's ``org.radarcns.kafka.ObservationKey``."""

    projectId: str | None = None
    userId: UserId
    sourceId: str


class FitbitIntradaySteps(_Radar):
    """RADAR-base's ``org.radarcns.connector.fitbit.FitbitIntradaySteps``."""

    time: Annotated[float, Field(ge=0.0, lt=1e11)]
    timeReceived: float | None = None
    timeInterval: int
    steps: Annotated[int, Field(ge=0)]


def radar_steps_samples(key: Mapping[str, Any], value: Mapping[str, Any]) -> ActivitySamples:
    """One RADAR ``FitbitIntradaySteps`` record (and its ``ObservationKey``) as activity
    samples. Pure; raises ``pydantic.ValidationError`` on a key or record that does not fit
    (a ``time`` not on a whole minute, an interval that is not a whole number of minutes,
    negative steps, a user id outside the contract's characters)."""
    observation = ObservationKey.model_validate(key)
    steps = FitbitIntradaySteps.model_validate(value)
    return ActivitySamples.model_validate(
        {
            "schema_version": 1,
            "user_id": observation.userId,
            "start": datetime.fromtimestamp(steps.time, UTC),
            "interval_s": steps.timeInterval,
            "values": [float(steps.steps)],
        }
    )


#: RADAR-Schemas' Avro schemas of the two (the fields read here; RADAR-base registers
#: them under ``<topic>-key`` and ``<topic>-value``).
OBSERVATION_KEY_AVRO: dict[str, Any] = {
    "type": "record",
    "name": "ObservationKey",
    "namespace": "org.radarcns.kafka",
    "fields": [
        {"name": "projectId", "type": ["null", "string"], "default": None},
        {"name": "userId", "type": "string"},
        {"name": "sourceId", "type": "string"},
    ],
}
FITBIT_INTRADAY_STEPS_AVRO: dict[str, Any] = {
    "type": "record",
    "name": "FitbitIntradaySteps",
    "namespace": "org.radarcns.connector.fitbit",
    "fields": [
        {"name": "time", "type": "double"},
        {"name": "timeReceived", "type": "double"},
        {"name": "timeInterval", "type": "int"},
        {"name": "steps", "type": "int"},
    ],
}

"""RADAR-base Fitbit intraday steps as the windows stage's activity input
(``WINDOWS__ACTIVITY_FORMAT=radar_fitbit_intraday_steps``).

RADAR-base writes each ``fitbit_intraday_steps`` record in the Schema Registry wire
format: an Avro ``ObservationKey`` {projectId, userId, sourceId} as the key and an Avro
``FitbitIntradaySteps`` {time, timeReceived, timeInterval, steps} as the value. Both are
read with their writer's schema from the registry (``AvroRecords``: confluent-kafka's
framing and schema cache, fastavro) and turned into one interval of activity samples
(``schemas.radar``): the user is the key's ``userId``, the zone ``WINDOWS__DEFAULT_TZ``.

Dead-letter reasons: ``invalid_key`` (any key that does not read as an ObservationKey),
``too_large``, the registry reasons of ``AvroRecords`` for the value, and the samples
contract's reasons (``wrong_interval``, ``out_of_range``, ``not_whole_minute``, ...).
A registry that does not answer raises ``SchemaRegistryUnavailable`` from ``prepare``
(the caller holds the batch). Not thread-safe (the poll loop's).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from consumer.errors import InvalidEvent
from consumer.schema_registry.records import AvroRecords
from consumer.settings import Settings
from consumer.windows.intake import decode_radar_steps
from schemas import ActivitySamples

if TYPE_CHECKING:
    from confluent_kafka.schema_registry import SchemaRegistryClient

RADAR_STEPS = "radar_fitbit_intraday_steps"


class RadarSteps:
    """RADAR-base ``fitbit_intraday_steps`` records (registry-framed Avro key and value)."""

    def __init__(self, client: SchemaRegistryClient, *, max_bytes: int) -> None:
        self._keys = AvroRecords(client, "key")
        self._values = AvroRecords(client, "value")
        self._max_bytes = max_bytes

    def prepare(self, records: Iterable[tuple[bytes | None, bytes | None]]) -> None:
        """Look up the batch's new schema ids (keys and values). Blocks on the registry;
        raises SchemaRegistryUnavailable when it does not answer."""
        pairs = list(records)
        self._keys.prepare(key for key, _ in pairs)
        self._values.prepare(value for _, value in pairs)

    def samples(self, key: bytes | None, value: bytes | None) -> ActivitySamples:
        """One record as samples. Raises InvalidEvent; never blocks once ``prepare`` saw
        the batch."""
        if value and len(value) > self._max_bytes:
            raise InvalidEvent("too_large", f"{len(value)} bytes, more than {self._max_bytes}")
        try:
            observation = self._keys.read(key)
        except InvalidEvent as exc:
            raise InvalidEvent("invalid_key", f"an ObservationKey was expected: {exc}") from None
        steps = self._values.read(value)
        if not isinstance(observation, Mapping):
            raise InvalidEvent("invalid_key", "the key is not an ObservationKey record")
        if not isinstance(steps, Mapping):
            raise InvalidEvent("wrong_type", "the value is not a FitbitIntradaySteps record")
        try:
            return decode_radar_steps(observation, steps)
        except InvalidEvent as exc:
            if _from_key(exc):
                raise InvalidEvent("invalid_key", str(exc)) from None
            raise


def _from_key(exc: InvalidEvent) -> bool:
    """Whether the contract refused the key's fields (userId, sourceId, projectId)."""
    return str(exc).startswith(("userId", "sourceId", "projectId"))


def radar_input(settings: Settings) -> RadarSteps | None:
    """The RADAR reader of ``WINDOWS__ACTIVITY_FORMAT`` (None for ``samples``). Makes no
    request yet (schemas are fetched per batch, then cached)."""
    if settings.windows.activity_format != RADAR_STEPS:
        return None
    from consumer.schema_registry.client import create_client

    client = create_client(settings.schema_registry)
    return RadarSteps(client, max_bytes=settings.processing.max_message_bytes)

"""The moodstream event contract, v1. See DESIGN.md §3 and the exported ``*.schema.json``."""

from schemas.events import (
    ACTIVITY_MINUTES,
    CONTENT_TYPE,
    FEATURE_NAMES,
    SCHEMA_VERSION,
    Alert,
    AlertKind,
    DeadLetterHeaders,
    FeatureEvent,
    ModelReport,
    ModelStatus,
    NextDayRisk,
    Prediction,
    SlowReason,
    SourcePosition,
    feature_bounds,
    prediction_headers,
    record_headers,
)
from schemas.radar import radar_steps_samples
from schemas.samples import ActivitySamples

__all__ = [
    "ACTIVITY_MINUTES",
    "CONTENT_TYPE",
    "FEATURE_NAMES",
    "SCHEMA_VERSION",
    "ActivitySamples",
    "Alert",
    "AlertKind",
    "DeadLetterHeaders",
    "FeatureEvent",
    "ModelReport",
    "ModelStatus",
    "NextDayRisk",
    "Prediction",
    "SlowReason",
    "SourcePosition",
    "feature_bounds",
    "prediction_headers",
    "radar_steps_samples",
    "record_headers",
]

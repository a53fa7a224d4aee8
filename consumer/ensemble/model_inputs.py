"""What the models are given: an event's features only when enough of them are present.

XGBoost never refuses a row: at every split a missing value follows the branch learned as
the default for missing values, so 36 nulls still give a probability (the demo boosters:
0.073 / 0.337 / 0.027 for anyone). That is a constant, not a prediction about this person.
Below ``ENSEMBLE__MIN_PRESENT_FEATURES`` non-null features the boosters are not run and
report ``insufficient_input`` with null scores (``Ensemble.submit`` holds such rows back
with one numpy pass over the batch's feature matrix; these per-event forms are the rule
as the tests and the peer apps read it). Pure; thread-safe.
"""

from __future__ import annotations

from schemas import FeatureEvent


def present_features(event: FeatureEvent) -> int:
    """How many of the 36 features carry a value (0 when the event has no ``features``)."""
    if event.features is None:
        return 0
    values = [*event.features.values()]
    return len(values) - values.count(None)


def insufficient_features(event: FeatureEvent, minimum: int) -> bool:
    """True when the event carries ``features`` but fewer than ``minimum`` are present."""
    return event.features is not None and present_features(event) < minimum

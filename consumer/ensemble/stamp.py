"""What every prediction says about the models behind it (``ModelSetStamp``). Plain data.

Built once per worker from the loaded model set (``consumer.service.wiring``) and copied
into each ``Prediction``: the set's ``model_set`` (sha256 of its manifest.json), whether
its manifest calls it clinically valid, the PAT runtime label, and the manifest's own
ensemble weights when it gives them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: Which rule produced ``ensemble_depression``: the weighted mean of both scores, or the
#: one score present when the other model did not score the event.
EnsembleRule = Literal["weighted", "xgboost_only", "pat_only"]


@dataclass(frozen=True, slots=True)
class ModelSetStamp:
    """The model set's identity as predictions report it. Immutable, thread-safe."""

    model_set: str | None = None
    clinically_valid: bool = False
    pat_runtime: str | None = None
    #: (xgboost, pat) weights from the manifest; None: the ``ENSEMBLE__*_WEIGHT`` settings.
    weights: tuple[float, float] | None = None

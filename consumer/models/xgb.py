"""XGBoost booster adapter: next-day episode risk from the 36 sleep/circadian features.

The service's input matrix always has its columns in ``schemas.FEATURE_NAMES`` order.
A booster, however, scores columns by position in the order of its *own* stored
``feature_names``. The system this replaces fed the features in the wrong order, which
changes the probabilities several-fold without any error (REFERENCE.md §2). So, at load,
the adapter reads the booster's ``feature_names``, refuses a booster without them or
with a different set, and computes a permutation BY NAME; every batch is reordered into
the booster's order before ``inplace_predict``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import xgboost as xgb

from consumer.errors import ModelLoadError
from consumer.models.formats import sniff_xgboost
from schemas.events import FEATURE_NAMES

_CONTRACT_INDEX: Final = {name: i for i, name in enumerate(FEATURE_NAMES)}
_SUPPORTED_OBJECTIVES: Final = frozenset({"binary:logistic"})


def feature_permutation(booster_names: Sequence[str], *, source: str) -> npt.NDArray[np.intp]:
    """Column indices ``perm`` such that ``x[:, perm]`` is in the booster's stored order.

    ``x`` is in ``FEATURE_NAMES`` order; ``booster_names`` is the booster's
    ``feature_names``. Raises ModelLoadError (one line, naming the missing, unknown or
    duplicated names) unless the booster's names are exactly the 36 contract names.
    Pure, non-blocking.
    """
    names = list(booster_names)
    duplicated = sorted({n for n in names if names.count(n) > 1})
    missing = [n for n in FEATURE_NAMES if n not in set(names)]
    unknown = [n for n in names if n not in _CONTRACT_INDEX]
    if duplicated or missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown {', '.join(unknown)}")
        if duplicated:
            parts.append(f"duplicated {', '.join(duplicated)}")
        raise ModelLoadError(
            f"{source}: booster feature_names differ from the 36 contract names "
            f"({'; '.join(parts)}); retrain or rename the booster's features to "
            "schemas.FEATURE_NAMES"
        )
    return np.array([_CONTRACT_INDEX[n] for n in names], dtype=np.intp)


class XGBoostModel:
    """One binary:logistic booster behind the BatchModel protocol.

    Construct with :meth:`from_bytes` (what the registry does, after checking the sha256)
    or :meth:`from_file`. Thread-safe for one caller at a time.
    """

    def __init__(
        self,
        booster: xgb.Booster,
        *,
        name: str,
        version: str,
        nthread: int,
        source: str = "<booster>",
    ) -> None:
        names = booster.feature_names
        if not names:
            raise ModelLoadError(
                f"{source}: booster has no feature_names; set them to schemas.FEATURE_NAMES "
                "(booster.feature_names = [...]) and re-save it"
            )
        self._perm = feature_permutation(names, source=source)
        self._identity = bool(np.array_equal(self._perm, np.arange(len(FEATURE_NAMES))))
        _check_objective(booster, source)
        booster.set_param({"nthread": nthread})
        self._booster = booster
        self._name = name
        self._version = version
        self.trees: Final[int] = booster.num_boosted_rounds()

    @classmethod
    def from_bytes(
        cls, data: bytes, *, path: Path, name: str, version: str, nthread: int
    ) -> XGBoostModel:
        """Parse a JSON/UBJSON booster already read (and checksummed) from ``path``.

        Blocking (parsing), single-threaded. Raises ModelLoadError on a wrong format,
        missing or wrong feature names, or an unsupported objective.
        """
        sniff_xgboost(path, data)
        booster = xgb.Booster(params={"nthread": nthread})
        try:
            booster.load_model(bytearray(data))
        except xgb.core.XGBoostError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelLoadError(f"{path}: XGBoost cannot parse this model ({first})") from exc
        return cls(booster, name=name, version=version, nthread=nthread, source=str(path))

    @classmethod
    def from_file(cls, path: Path, *, name: str, version: str, nthread: int) -> XGBoostModel:
        """Read ``path`` and load it (no checksum check: the registry does that). Blocking."""
        return cls.from_bytes(
            path.read_bytes(), path=path, name=name, version=version, nthread=nthread
        )

    @property
    def name(self) -> str:
        return self._name

    @property
    def kind(self) -> str:
        return "xgboost"

    @property
    def version(self) -> str:
        return self._version

    @property
    def booster_feature_names(self) -> tuple[str, ...]:
        """The booster's own stored feature order (what its columns are fed in)."""
        return tuple(FEATURE_NAMES[i] for i in self._perm)

    def predict_batch(self, inputs: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """P(positive class) for each row of a float32 ``(n, 36)`` matrix in FEATURE_NAMES order.

        NaN means missing. Blocking; uses ``nthread`` threads. Raises ValueError on a wrong
        shape and xgboost's error on failure.
        """
        if inputs.ndim != 2 or inputs.shape[1] != len(FEATURE_NAMES):
            raise ValueError(f"expected shape (n, {len(FEATURE_NAMES)}), got {inputs.shape}")
        if inputs.shape[0] == 0:
            return np.zeros(0, dtype=np.float64)
        x = inputs if self._identity else inputs[:, self._perm]
        x = np.ascontiguousarray(x, dtype=np.float32)
        scores = self._booster.inplace_predict(x, missing=np.nan, validate_features=False)
        return np.asarray(scores, dtype=np.float64).reshape(-1)

    def warmup(self, rows: int = 1) -> None:
        """Score ``rows`` all-missing rows. Blocking, raises on failure. Worker-only (after
        fork)."""
        self.predict_batch(np.full((rows, len(FEATURE_NAMES)), np.nan, dtype=np.float32))


def _check_objective(booster: xgb.Booster, source: str) -> None:
    """Refuse boosters whose output is not a positive-class probability."""
    config = json.loads(booster.save_config())
    objective = config.get("learner", {}).get("objective", {}).get("name", "?")
    if objective not in _SUPPORTED_OBJECTIVES:
        raise ModelLoadError(
            f"{source}: booster objective is {objective}; moodstream needs binary:logistic "
            "(output = P(positive class))"
        )

"""Synthetic inputs and labels for the demo models and the synthetic producer. numpy only.

Everything is vectorised and driven by a caller-owned ``numpy.random.Generator``, so the
same seed gives the same data. Values stay inside the physical ranges of the event
contract (REFERENCE.md §2): hours within 0-24, fractions within 0-1, counts and
amplitudes non-negative, Z-scores about -3 to 4. The generative rules for the labels are
documented in :mod:`consumer.models.demo`.

NOT real data: nothing trained on it is clinically valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from schemas.events import ACTIVITY_MINUTES, FEATURE_BASES, FEATURE_NAMES

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

#: Per base: (population mean of MN, spread of MN across people, MN low, MN high, typical SD).
_BASE_SPECS: Final[dict[str, tuple[float, float, float, float, float]]] = {
    "ST_long": (7.6, 1.0, 3.0, 13.0, 1.0),
    "ST_short": (0.7, 0.4, 0.0, 4.0, 0.5),
    "WT_long": (1.0, 0.4, 0.0, 4.0, 0.4),
    "WT_short": (0.3, 0.15, 0.0, 2.0, 0.2),
    "LongSleepWindow_length": (9.0, 1.1, 4.0, 14.0, 1.2),
    "LongSleepWindow_number": (1.1, 0.1, 1.0, 2.0, 0.3),
    "ShortSleepWindow_length": (1.0, 0.5, 0.0, 5.0, 0.6),
    "ShortSleepWindow_number": (0.45, 0.25, 0.0, 3.0, 0.5),
    "Sleep_percentage": (0.37, 0.05, 0.15, 0.7, 0.05),
    "Sleep_amplitude": (0.9, 0.25, 0.1, 3.0, 0.2),
    "Circadian_phase": (23.0, 1.2, 0.0, 24.0, 0.9),  # clock hour, wraps at 24
    "Circadian_amplitude": (1.05, 0.25, 0.1, 3.0, 0.25),
}
#: Loadings of each base's daily Z on three latent daily factors (sleep, phase, amplitude).
_LOADINGS: Final[dict[str, tuple[float, float, float]]] = {
    "ST_long": (0.8, 0.0, 0.0),
    "ST_short": (0.2, 0.0, 0.0),
    "WT_long": (0.3, 0.0, 0.0),
    "LongSleepWindow_length": (0.8, 0.0, 0.0),
    "Sleep_percentage": (0.7, 0.0, 0.0),
    "Circadian_phase": (0.0, 0.8, 0.0),
    "Sleep_amplitude": (0.0, 0.0, 0.7),
    "Circadian_amplitude": (0.0, -0.2, 0.8),
}
_Z_LOW: Final = -3.2
_Z_HIGH: Final = 4.2


def column(name: str) -> int:
    """Index of a feature name in ``FEATURE_NAMES`` order. Raises ValueError if unknown."""
    return FEATURE_NAMES.index(name)


def synthetic_baselines(rng: np.random.Generator, persons: int) -> tuple[F64, F64]:
    """Per-person baselines ``(MN, SD)``, each of shape (persons, 12) in FEATURE_BASES order."""
    spec = np.array([_BASE_SPECS[b] for b in FEATURE_BASES], dtype=np.float64)
    mean, spread, low, high, typical_sd = spec.T
    mn = mean + spread * rng.standard_normal((persons, len(FEATURE_BASES)))
    phase = FEATURE_BASES.index("Circadian_phase")
    mn[:, phase] %= 24.0
    mn = np.clip(mn, low, high)
    sd = typical_sd * rng.lognormal(0.0, 0.35, size=(persons, len(FEATURE_BASES)))
    sd = np.minimum(sd, np.where(spec[:, 3] <= 1.0, 0.5, 6.0))  # fractions: ≤ 0.5, others ≤ 6
    return mn, sd


def synthetic_zscores(rng: np.random.Generator, n: int) -> F64:
    """Daily Z-scores, (n, 12): correlated through three latent factors, heavy right tail."""
    factors = rng.standard_normal((n, 3))
    load = np.array([_LOADINGS.get(b, (0.0, 0.0, 0.0)) for b in FEATURE_BASES])
    own = np.sqrt(np.clip(1.0 - (load**2).sum(axis=1), 0.05, 1.0))
    noise = rng.standard_t(df=6, size=(n, len(FEATURE_BASES))) * 0.85
    z: F64 = np.clip(factors @ load.T + noise * own, _Z_LOW, _Z_HIGH)
    return z


def synthetic_features(
    rng: np.random.Generator,
    n: int = 1,
    *,
    mn: F64 | None = None,
    sd: F64 | None = None,
    missing_rate: float = 0.03,
) -> F32:
    """``n`` synthetic person-days of the 36 features, float32 (n, 36), FEATURE_NAMES order.

    ``mn``/``sd`` (shape (12,) or (n, 12), from :func:`synthetic_baselines`) keep one
    person's baselines constant across days, as in real data; without them each row is a
    new person. About ``missing_rate`` of the values are NaN (missing). Pure, fast.
    """
    if mn is None or sd is None:
        mn, sd = synthetic_baselines(rng, n)
    z = synthetic_zscores(rng, n)
    out = np.empty((n, len(FEATURE_NAMES)), dtype=np.float64)
    out[:, 0::3] = np.broadcast_to(mn, (n, len(FEATURE_BASES)))
    out[:, 1::3] = np.broadcast_to(sd, (n, len(FEATURE_BASES)))
    out[:, 2::3] = z
    if missing_rate > 0:
        out[rng.random(out.shape) < missing_rate] = np.nan
    return out.astype(np.float32)


@dataclass(frozen=True, slots=True)
class Cohort:
    """A synthetic training set: features (n, 36) float32 with NaN, and 0/1 labels per target."""

    features: F32
    labels: dict[str, npt.NDArray[np.int8]]


def _sigmoid(x: F64) -> F64:
    out: F64 = 1.0 / (1.0 + np.exp(-x))
    return out


def label_logits(x: F64) -> dict[str, F64]:
    """The documented generative rule (see :mod:`consumer.models.demo`), on complete features."""

    def f(name: str) -> F64:
        return x[:, column(name)]

    lsw, st = f("LongSleepWindow_length_Zscore"), f("ST_long_Zscore")
    amp, phase = f("Circadian_amplitude_Zscore"), f("Circadian_phase_Zscore")
    return {
        "depression": -2.3
        + 0.9 * lsw
        + 0.5 * st
        - 0.8 * amp
        + 0.4 * phase
        + 0.8 * np.maximum(lsw - 1.0, 0.0) * (amp < 0)
        + 0.3 * (f("LongSleepWindow_length_MN") - 9.0),
        "hypomania": -3.7
        - 0.8 * st
        - 0.6 * phase
        + 0.5 * f("WT_short_Zscore")
        + 0.5 * f("Circadian_phase_SD"),
        "mania": -4.8
        - 1.2 * st
        - 0.8 * lsw
        - 0.9 * phase
        + 0.6 * f("Sleep_amplitude_Zscore")
        + 0.7 * np.maximum(-st - 1.5, 0.0),
    }


def synthetic_cohort(
    rng: np.random.Generator, persons: int, days: int, *, missing_rate: float = 0.03
) -> Cohort:
    """``persons`` x ``days`` rows: per-person baselines, daily Z, labels drawn from the rule.

    Labels are drawn from the complete features; NaN is applied afterwards (a missing
    value hides information, it does not change the truth). Pure, fast.
    """
    mn, sd = synthetic_baselines(rng, persons)
    mn_rows, sd_rows = np.repeat(mn, days, axis=0), np.repeat(sd, days, axis=0)
    complete = synthetic_features(rng, persons * days, mn=mn_rows, sd=sd_rows, missing_rate=0.0)
    logits = label_logits(complete.astype(np.float64))
    labels = {k: (rng.random(v.shape) < _sigmoid(v)).astype(np.int8) for k, v in logits.items()}
    features = complete.copy()
    features[rng.random(features.shape) < missing_rate] = np.nan
    return Cohort(features=features, labels=labels)


def synthetic_week(rng: np.random.Generator, disrupted: bool) -> F32:
    """One week (10,080 minutes, oldest first, starting at midnight) of activity counts.

    Regular: sleep onset near 23:00 (±20 min day to day), about 7.5 h of quiet sleep,
    active days with a midday peak. Disrupted: sleep onset wandering by hours, broken
    sleep with restless minutes, a flattened day-night rhythm (lower days, busier nights).
    Non-negative whole counts as float32. Pure, vectorised (well under a millisecond).
    """
    days = ACTIVITY_MINUTES // 1440
    jitter_min, dur_sd_h, day_level, night_restless = (
        (150.0, 1.5, 0.55, 0.18) if disrupted else (20.0, 0.5, 1.0, 0.04)
    )
    onset_clock = 23 * 60 + rng.normal(0.0, 40.0) + rng.normal(0.0, jitter_min, days + 1)
    onsets = (np.arange(-1, days) * 1440 + onset_clock)[None, :]
    durations = np.clip(rng.normal(7.5, dur_sd_h, days + 1), 3.0, 12.0)[None, :] * 60.0
    minutes = np.arange(ACTIVITY_MINUTES, dtype=np.float64)[:, None]
    asleep = ((minutes >= onsets) & (minutes < onsets + durations)).any(axis=1)
    hour = (np.arange(ACTIVITY_MINUTES) % 1440) / 60.0
    profile = 1.0 + 0.35 * np.sin(2.0 * np.pi * (hour - 9.0) / 24.0)
    level = rng.lognormal(np.log(260.0), 0.3) * day_level
    awake = level * profile * rng.gamma(1.6, 1.0 / 1.6, ACTIVITY_MINUTES)
    awake *= rng.random(ACTIVITY_MINUTES) > 0.12  # still minutes while awake
    restless = rng.random(ACTIVITY_MINUTES) < night_restless
    sleeping = restless * rng.gamma(1.2, 40.0 if disrupted else 12.0, ACTIVITY_MINUTES)
    activity = np.where(asleep, sleeping, awake)
    return np.round(activity).astype(np.float32)


def synthetic_weeks(rng: np.random.Generator, disrupted: npt.NDArray[np.bool_]) -> F32:
    """Stack :func:`synthetic_week` for each flag: float32 (len(disrupted), 10080). Pure."""
    return np.stack([synthetic_week(rng, bool(flag)) for flag in disrupted])

"""What both peer apps share: arguments, the three boosters, scoring, the producer config.

Standalone (run with a peer's own venv python, which has numpy, xgboost and the peer's
framework but not moodstream): imports nothing from ``consumer``. Scoring follows the
service's contract: each booster is fed its own stored ``feature_names`` order, float32,
NaN for a null, ``inplace_predict`` with one thread; an event with fewer present features
than ``--min-present`` gets null scores. One prediction per event:
``{"event_id", "user_id", "next_day_risk": {depression, hypomania, mania}}``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

BOOSTERS = ("depression", "hypomania", "mania")


def parse_args(description: str) -> argparse.Namespace:
    """The command line every peer app takes. Raises SystemExit on a bad one."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--input", required=True, help="the features topic")
    parser.add_argument("--output", required=True, help="the predictions topic")
    parser.add_argument("--group", required=True)
    parser.add_argument("--models", required=True, type=Path, help="dir with manifest.json")
    parser.add_argument("--min-present", type=int, default=18)
    parser.add_argument("--state-dir", type=Path, default=None)
    return parser.parse_args()


def producer_config(bootstrap: str) -> dict[str, Any]:
    """The bench's output producer settings (the same for every system)."""
    return {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
    }


class Scorer:
    """The three demo boosters, loaded from the models dir's manifest. Not thread-safe."""

    def __init__(self, models: Path, min_present: int) -> None:
        manifest = json.loads((models / "manifest.json").read_text(encoding="utf-8"))
        files = {m["name"]: m["file"] for m in manifest["models"] if m["kind"] == "xgboost"}
        self.boosters = []
        for name in BOOSTERS:
            booster = xgb.Booster(params={"nthread": 1}, model_file=str(models / files[name]))
            booster.set_param({"nthread": 1})
            self.boosters.append(booster)
        self.names: list[str] = list(self.boosters[0].feature_names or [])
        index = {name: i for i, name in enumerate(self.names)}
        self.perms = [[index[n] for n in b.feature_names or []] for b in self.boosters]
        self.min_present = min_present
        self.first_seen: float | None = None

    def seen(self) -> None:
        """Note (once, on stdout) the wall time of the first record this process read."""
        if self.first_seen is None:
            self.first_seen = time.time()
            print(f"first_consumed_unix={self.first_seen:.6f}", flush=True)

    def score(self, events: list[dict[str, Any]]) -> list[bytes]:
        """One encoded prediction per event, in order. Blocks (the boosters)."""
        rows = []
        scored = []
        for index, event in enumerate(events):
            features = event.get("features") or {}
            present = sum(value is not None for value in features.values())
            if features and present >= self.min_present:
                scored.append(index)
                rows.append([_num(features.get(name)) for name in self.names])
        probs: list[list[float]] = [[] for _ in BOOSTERS]
        if rows:
            x = np.asarray(rows, dtype=np.float32)
            for k, (booster, perm) in enumerate(zip(self.boosters, self.perms, strict=True)):
                xk = np.ascontiguousarray(x[:, perm], dtype=np.float32)
                out = booster.inplace_predict(xk, missing=np.nan, validate_features=False)
                probs[k] = np.asarray(out, dtype=np.float64).reshape(-1).tolist()
        row_of = {index: row for row, index in enumerate(scored)}
        return [_encode(event, row_of.get(i), probs) for i, event in enumerate(events)]


def _num(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _encode(event: dict[str, Any], row: int | None, probs: list[list[float]]) -> bytes:
    risk = {name: None if row is None else probs[k][row] for k, name in enumerate(BOOSTERS)}
    prediction = {
        "event_id": event.get("event_id"),
        "user_id": event.get("user_id"),
        "next_day_risk": risk,
    }
    return json.dumps(prediction, separators=(",", ":")).encode()

"""The peer apps' scoring (``consumer/bench/peer_apps/peer_common.py``) gives moodstream's
probabilities, bit for bit, and the peers' venvs pin the project's xgboost and numpy.

``peer_common`` runs in the peers' own venvs and imports no moodstream code; it needs only
numpy and xgboost, which this venv has too, so it is loaded here from its file.
"""

from __future__ import annotations

import importlib.util
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import orjson
import xgboost as xgb

from consumer.bench.peer_venv import APPS, PEERS, SHARED_PINS
from consumer.ensemble.model_inputs import insufficient_features
from consumer.ensemble.scoring import feature_matrix
from consumer.models.xgb import XGBoostModel
from consumer.producer.synthetic_events import SyntheticEvents
from schemas import FeatureEvent
from schemas.events import FEATURE_NAMES

REPO = Path(__file__).resolve().parents[3]
BOOSTERS = ("depression", "hypomania", "mania")


def _peer_common() -> ModuleType:
    spec = importlib.util.spec_from_file_location("peer_common", APPS / "peer_common.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _models_dir(root: Path) -> Path:
    """Three tiny boosters, each storing its features in its own shuffled order."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, len(FEATURE_NAMES))).astype(np.float32)
    y = (np.nan_to_num(x[:, 0] + x[:, 7] - x[:, 30]) > 0).astype(np.float32)
    entries = []
    for seed, name in enumerate(BOOSTERS):
        order = list(FEATURE_NAMES)
        np.random.default_rng(seed).shuffle(order)
        cols = [FEATURE_NAMES.index(n) for n in order]
        data = xgb.DMatrix(x[:, cols], label=y, feature_names=order, missing=np.nan)
        params = {"objective": "binary:logistic", "max_depth": 3, "nthread": 1, "seed": seed}
        xgb.train(params, data, num_boost_round=8).save_model(str(root / f"{name}.json"))
        entries.append({"name": name, "kind": "xgboost", "file": f"{name}.json"})
    (root / "manifest.json").write_text(json.dumps({"models": entries}))
    return root


def _events(count: int) -> list[bytes]:
    source = SyntheticEvents(11, users=20, activity_share=0.0)
    values = [source.next_record(datetime.now(UTC)).value for _ in range(count)]
    sparse = orjson.loads(values[0])  # too few features: no scores, in both
    sparse["event_id"] = "00000000-0000-4000-8000-000000000000"
    sparse["features"] = {n: (1.0 if i < 5 else None) for i, n in enumerate(FEATURE_NAMES)}
    return [*values, orjson.dumps(sparse)]


def _moodstream_scores(models: Path, values: list[bytes]) -> dict[str, Any]:
    events = [FeatureEvent.model_validate_json(v) for v in values]
    rows = [i for i, e in enumerate(events) if not insufficient_features(e, 18)]
    x = feature_matrix(events, rows)
    found: dict[str, list[float | None]] = {e.event_id: [None] * 3 for e in events}
    for k, name in enumerate(BOOSTERS):
        model = XGBoostModel.from_file(models / f"{name}.json", name=name, version="t", nthread=1)
        for row, prob in zip(rows, model.predict_batch(x), strict=True):
            found[events[row].event_id][k] = float(prob)
    return found


def test_the_peers_scores_equal_moodstreams_bit_for_bit(tmp_path: Path) -> None:
    models = _models_dir(tmp_path)
    values = _events(200)
    scorer = _peer_common().Scorer(models, 18)
    outputs = [json.loads(out) for out in scorer.score([json.loads(v) for v in values])]
    assert len(outputs) == len(values)
    expected = _moodstream_scores(models, values)
    got = {o["event_id"]: [o["next_day_risk"][n] for n in BOOSTERS] for o in outputs}
    assert got == expected  # exact: the same floats, the same nulls
    assert got["00000000-0000-4000-8000-000000000000"] == [None, None, None]
    assert sum(s[0] is not None for s in got.values()) == 200


def test_the_peer_venvs_pin_the_projects_xgboost_and_numpy() -> None:
    lock = (REPO / "requirements" / "dev.txt").read_text()
    for pin in SHARED_PINS:
        name, version = pin.split("==")
        assert re.search(rf"^{re.escape(name)}=={re.escape(version)}\b", lock, re.MULTILINE), pin
    for peer in PEERS:
        assert set(SHARED_PINS) <= set(peer.requirements())
        assert all("==" in pin for pin in peer.requirements())
        assert (APPS / peer.app).is_file()

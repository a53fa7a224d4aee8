"""Bringing your own models, end to end with the real service and broker.

- A PAT converted from an encoder-only Keras H5 file (untrained head, no input scaling):
  ``moodstream run`` refuses to start while manifest.json calls the set clinically valid,
  and starts when it does not, every prediction then saying so.
- ``moodstream score --from`` reproduces the service's own predictions of the same events
  (``--expect`` them: exit 0), and exits 5 once a model file is changed; it reads stdin
  and names invalid lines.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import xgboost as xgb

from consumer import cli
from consumer.models.pat import PAT_CONFIGS
from consumer.settings import TopicSettings
from schemas import FEATURE_NAMES
from tests.fakes import event_bytes, event_dict
from tests.integration.harness import (
    REPO,
    TopicReader,
    moodstream,
    produce_raw,
    running_service,
    service_env,
)
from tests.keras_files import keras_weights, write_h5

pytestmark = pytest.mark.integration
S = PAT_CONFIGS["S"]


def _events() -> list[bytes]:
    """Features only, activity only, both, and too few features (PAT alone)."""
    few = event_dict(seed=14, activity=True)
    few["features"] = {n: (1.0 if i < 2 else None) for i, n in enumerate(FEATURE_NAMES)}
    return [
        event_bytes(seed=11),
        event_bytes(seed=12, features=False, activity=True),
        event_bytes(seed=13, activity=True),
        orjson.dumps(few),
    ]


def _serve(
    env: dict[str, str], tmp_path: Path, topics: TopicSettings
) -> tuple[list[dict[str, Any]], str]:
    """Run the service until it has published a prediction for each of ``_events()``;
    the predictions and the service's log."""
    events = _events()
    produce_raw(env["MOODSTREAM_KAFKA__BOOTSTRAP_SERVERS"], topics.features, [
        (f"k{i}".encode(), e) for i, e in enumerate(events)
    ])  # fmt: skip
    reader = TopicReader(env["MOODSTREAM_KAFKA__BOOTSTRAP_SERVERS"], topics.predictions)
    with running_service(env, tmp_path) as service:
        reader.wait_count(len(events), timeout_s=180)
        assert service.stop() == 0
    values = reader.values()
    reader.close()
    return values, service.logs()


def _set_valid(models_dir: Path, valid: bool) -> None:
    path = models_dir / "manifest.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | {"clinically_valid": valid}))


def test_an_untrained_pat_is_refused_while_called_valid_and_labelled_when_not(
    kafka_bootstrap: str, unique_topics: TopicSettings, unique_group: str, tmp_path: Path
) -> None:
    h5 = write_h5(tmp_path / "pat.h5", keras_weights(S.blocks, S.heads, S.patch, head=False))
    models_dir = tmp_path / "models"
    env = service_env(kafka_bootstrap, unique_topics, unique_group)
    convert = ["models", "convert-h5", str(h5), "--size", "S", "--dir", str(models_dir)]
    assert moodstream(*convert, env=env).returncode == 0
    env["MOODSTREAM_MODELS__DIR"] = str(models_dir)

    _set_valid(models_dir, True)
    refused = moodstream("run", env=env)
    assert refused.returncode == 1, refused.stderr
    assert "head is untrained" in refused.stderr and "no input scaling" in refused.stderr
    assert '"clinically_valid": false in manifest.json' in refused.stderr

    _set_valid(models_dir, False)
    predictions, logs = _serve(env, tmp_path, unique_topics)
    digest = hashlib.sha256((models_dir / "manifest.json").read_bytes()).hexdigest()
    assert '"event": "model_set"' in logs and digest in logs
    assert len(predictions) == 4
    for prediction in predictions:
        assert prediction["clinically_valid"] is False
        assert prediction["model_set"] == digest and prediction["pat_runtime"] == "onnx-fp32"
    with_activity = [p for p in predictions if p["models"]["pat"]["status"] == "ok"]
    assert len(with_activity) == 3
    assert all(p["ensemble_rule"] == "pat_only" for p in with_activity)  # no boosters here


def _other_booster(path: Path) -> None:
    """A depression booster that is not the demo's (another seed, another cohort)."""
    rng = np.random.default_rng(99)
    x = rng.normal(size=(300, len(FEATURE_NAMES))).astype(np.float32)
    data = xgb.DMatrix(x, label=(x[:, 5] > 0).astype(np.float32), feature_names=FEATURE_NAMES)
    params = {"objective": "binary:logistic", "max_depth": 3, "nthread": 1, "seed": 99}
    path.write_bytes(bytes(xgb.train(params, data, num_boost_round=20).save_raw("ubj")))


def test_score_from_reproduces_the_service_and_catches_a_changed_model(
    kafka_bootstrap: str, unique_topics: TopicSettings, unique_group: str, tmp_path: Path
) -> None:
    env = service_env(kafka_bootstrap, unique_topics, unique_group)
    served, _ = _serve(env, tmp_path, unique_topics)
    assert not any(p["partial"] for p in served)
    assert {p["ensemble_rule"] for p in served} == {"xgboost_only", "pat_only", "weighted"}
    events, expected = tmp_path / "events.jsonl", tmp_path / "expected.jsonl"
    events.write_bytes(b"".join(e + b"\n" for e in _events()))
    expected.write_text("".join(json.dumps(p) + "\n" for p in served))

    same = moodstream("score", "--from", str(events), "--expect", str(expected), env=env)
    assert same.returncode == 0, same.stderr
    assert "all match" in same.stderr
    scored = [json.loads(line) for line in same.stdout.splitlines()]
    assert [p["event_id"] for p in scored] == [json.loads(e)["event_id"] for e in _events()]

    changed = tmp_path / "changed"
    shutil.copytree(REPO / "models" / "demo", changed)
    _other_booster(tmp_path / "depression.ubj")
    add = ["models", "add", str(tmp_path / "depression.ubj"), "--name", "depression"]
    assert moodstream(*add, "--dir", str(changed), env=env).returncode == 0
    args = ["--from", str(events), "--expect", str(expected), "--dir", str(changed)]
    differs = moodstream("score", *args, env=env)
    assert differs.returncode == 5, differs.stderr
    assert "next_day_risk.depression" in differs.stderr and "model_set" in differs.stderr


class _Stdin:
    def __init__(self, data: bytes) -> None:
        self.buffer = io.BytesIO(data)


def test_score_reads_stdin_and_names_invalid_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [event_bytes(seed=1), b"", b'{"schema_version": 1}', event_bytes(seed=2)]
    monkeypatch.setattr(sys, "stdin", _Stdin(b"\n".join(lines) + b"\n"))
    assert cli.main(["score", "--from", "-", "--json", "--dir", str(REPO / "models" / "demo")]) == 1
    out, err = capsys.readouterr()
    predictions = [json.loads(line) for line in out.splitlines()]
    assert [p["user_id"] for p in predictions] == ["user-1", "user-2"]
    assert all(p["source"]["offset"] in (1, 4) for p in predictions)  # offsets: line numbers
    summary = json.loads(err.strip().splitlines()[-1])
    assert summary["scored"] == 2 and summary["compared"] is False
    assert len(summary["invalid"]) == 1 and summary["invalid"][0].startswith("line 3: ")

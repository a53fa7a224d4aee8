"""Bring your own models: ``models add`` lists a checked file with its checksum, ``--dir``
on the models commands, ``build-demo`` leaves a manifest that is not the demo's alone, and
a checksum mismatch points at ``models add``, not at the demo."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xgboost as xgb

from consumer import cli
from consumer.errors import ModelLoadError
from consumer.models.demo import foreign_manifest
from consumer.models.registry import load_model_set
from consumer.settings import ModelSettings
from schemas.events import FEATURE_NAMES

REPO = Path(__file__).resolve().parents[3]


def _booster(path: Path, seed: int, names: list[str] | None = None) -> Path:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(200, len(FEATURE_NAMES))).astype(np.float32)
    data = xgb.DMatrix(x, label=(x[:, 0] > 0).astype(np.float32), feature_names=names)
    params = {"objective": "binary:logistic", "max_depth": 2, "nthread": 1, "seed": seed}
    path.write_bytes(bytes(xgb.train(params, data, num_boost_round=3).save_raw("ubj")))
    return path


def _manifest(models_dir: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((models_dir / "manifest.json").read_text())
    return loaded


def test_add_copies_checks_and_lists_a_booster(tmp_path: Path) -> None:
    models_dir = tmp_path / "models"
    first = _booster(tmp_path / "mine.ubj", 1, list(FEATURE_NAMES))
    argv = ["models", "add", str(first), "--name", "mania", "--dir", str(models_dir)]
    assert cli.main([*argv, "--version", "team-1"]) == 0
    manifest = _manifest(models_dir)
    assert manifest["clinically_valid"] is False
    assert manifest["models"] == [
        {
            "name": "mania",
            "kind": "xgboost",
            "file": "mine.ubj",
            "sha256": hashlib.sha256(first.read_bytes()).hexdigest(),
            "version": "team-1",
        }
    ]
    assert (models_dir / "mine.ubj").read_bytes() == first.read_bytes()
    assert [b.name for b in load_model_set(ModelSettings(dir=models_dir)).boosters] == ["mania"]

    marked = _manifest(models_dir) | {"clinically_valid": True, "note": "checked by us"}
    (models_dir / "manifest.json").write_text(json.dumps(marked))
    second = _booster(tmp_path / "mine.ubj", 2, list(FEATURE_NAMES))  # a new drop, same name
    assert cli.main(argv) == 0
    after = _manifest(models_dir)
    assert after["clinically_valid"] is True and after["note"] == "checked by us"  # kept
    (entry,) = after["models"]
    digest = hashlib.sha256(second.read_bytes()).hexdigest()
    assert entry["sha256"] == digest and entry["version"] == f"mine-{digest[:8]}"
    assert load_model_set(ModelSettings(dir=models_dir)).boosters[0].version == entry["version"]
    assert (models_dir / "mine.ubj").read_bytes() == second.read_bytes()


def test_add_refuses_what_start_up_would_refuse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models_dir = tmp_path / "models"
    unnamed = _booster(tmp_path / "unnamed.ubj", 1)
    assert (
        cli.main(["models", "add", str(unnamed), "--name", "mania", "--dir", str(models_dir)]) == 1
    )
    assert "feature_names" in capsys.readouterr().err
    assert not (models_dir / "manifest.json").exists()
    named = _booster(tmp_path / "named.ubj", 1, list(FEATURE_NAMES))
    assert cli.main(["models", "add", str(named), "--name", "pat", "--dir", str(models_dir)]) == 1
    assert "--size" in capsys.readouterr().err


def test_a_checksum_mismatch_points_at_models_add(tmp_path: Path) -> None:
    models_dir = tmp_path / "models"
    path = _booster(tmp_path / "d.ubj", 1, list(FEATURE_NAMES))
    add = ["models", "add", str(path), "--name", "depression", "--dir", str(models_dir)]
    assert cli.main(add) == 0
    _booster(models_dir / "d.ubj", 5, list(FEATURE_NAMES))  # replaced without listing it
    with pytest.raises(ModelLoadError) as err:
        load_model_set(ModelSettings(dir=models_dir))
    message = str(err.value)
    assert "checksum mismatch" in message and "build-demo" not in message
    assert f"moodstream models add d.ubj --name depression --dir {models_dir}" in message


def test_build_demo_refuses_a_manifest_that_is_not_the_demos(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models_dir = tmp_path / "models"
    path = _booster(tmp_path / "m.ubj", 1, list(FEATURE_NAMES))
    assert cli.main(["models", "add", str(path), "--name", "mania", "--dir", str(models_dir)]) == 0
    before = (models_dir / "manifest.json").read_bytes()
    assert cli.main(["models", "build-demo", "--dir", str(models_dir)]) == 2
    err = capsys.readouterr().err
    assert "not the demo set's" in err and "mania" in err
    assert (models_dir / "manifest.json").read_bytes() == before
    assert foreign_manifest(REPO / "models" / "demo") is None  # the demo's own: rebuilt
    assert foreign_manifest(tmp_path / "empty") is None


def test_every_models_command_takes_dir() -> None:
    parser = cli.build_parser(["models"])
    for action in ("info", "export-onnx", "build-demo", "convert-h5", "add"):
        args = parser.parse_args(["models", action, *_required(action), "--dir", "/x"])
        assert args.dir == Path("/x"), action


def _required(action: str) -> list[str]:
    return {
        "convert-h5": ["f.h5", "--size", "S"],
        "add": ["f.ubj", "--name", "mania"],
    }.get(action, [])


def test_add_keeps_the_rest_of_the_manifest_and_its_weights_reach_the_stamp(
    tmp_path: Path,
) -> None:
    from consumer.service.wiring import model_set_stamp

    models_dir = tmp_path / "models"
    first = _booster(tmp_path / "d.ubj", 1, list(FEATURE_NAMES))
    assert (
        cli.main(["models", "add", str(first), "--name", "depression", "--dir", str(models_dir)])
        == 0
    )
    weights = {"xgboost_weight": 0.3, "pat_weight": 0.7}
    marked = _manifest(models_dir) | {"ensemble": weights, "owner": "team-a"}
    (models_dir / "manifest.json").write_text(json.dumps(marked))
    second = _booster(tmp_path / "m.ubj", 2, list(FEATURE_NAMES))
    assert (
        cli.main(["models", "add", str(second), "--name", "mania", "--dir", str(models_dir)]) == 0
    )
    after = _manifest(models_dir)
    assert after["owner"] == "team-a" and after["ensemble"] == weights
    assert [m["name"] for m in after["models"]] == ["depression", "mania"]
    loaded = load_model_set(ModelSettings(dir=models_dir))
    stamp = model_set_stamp(loaded)
    assert stamp.weights == (0.3, 0.7) and stamp.pat_runtime is None
    assert (
        stamp.model_set == hashlib.sha256((models_dir / "manifest.json").read_bytes()).hexdigest()
    )

"""Registry: a models directory loads only when every check passes, with one-line errors."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import xgboost as xgb

from consumer.errors import ModelLoadError
from consumer.models.pat import PAT_CONFIGS, PatNetwork, network_to_bytes
from consumer.models.protocol import BatchModel
from consumer.models.registry import ModelSet, load_model_set
from consumer.models.threads import THREAD_ENV_VARS, apply_thread_caps
from consumer.settings import ModelSettings
from schemas.events import FEATURE_NAMES


def _booster_bytes(names: list[str] | None = None, fmt: str = "ubj", seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(200, len(FEATURE_NAMES))).astype(np.float32)
    y = (x[:, 0] + x[:, 7] > 0).astype(np.float32)
    data = xgb.DMatrix(x, label=y, feature_names=names)
    params = {"objective": "binary:logistic", "max_depth": 3, "nthread": 1, "seed": seed}
    return bytes(xgb.train(params, data, num_boost_round=5).save_raw(fmt))


def _pat_bytes(size: str = "S") -> bytes:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return network_to_bytes(PatNetwork(PAT_CONFIGS[size]))


def _entry(name: str, file: str, data: bytes, size: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": name,
        "kind": "pat" if name == "pat" else "xgboost",
        "file": file,
        "sha256": hashlib.sha256(data).hexdigest(),
        "version": f"test-{name}",
    }
    if size:
        entry["size"] = size
    return entry


def _write(models_dir: Path, files: dict[str, bytes], entries: list[dict[str, Any]]) -> Path:
    models_dir.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (models_dir / name).write_bytes(data)
    manifest = {"models": entries, "clinically_valid": False, "note": "test models"}
    (models_dir / "manifest.json").write_text(json.dumps(manifest))
    return models_dir


@pytest.fixture(scope="module")
def full_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    names = list(FEATURE_NAMES)
    files = {
        "mania.json": _booster_bytes(names, "json", 1),
        "depression.ubj": _booster_bytes(names, "ubj", 2),
        "pat.safetensors": _pat_bytes("S"),
    }
    entries = [  # deliberately not in the canonical order
        _entry("pat", "pat.safetensors", files["pat.safetensors"], "S"),
        _entry("mania", "mania.json", files["mania.json"]),
        _entry("depression", "depression.ubj", files["depression.ubj"]),
    ]
    return _write(tmp_path_factory.mktemp("models"), files, entries)


def _load(models_dir: Path) -> ModelSet:
    # torch runtime: these directories hold no ONNX export (tests/unit/models/test_pat_runtimes.py)
    return load_model_set(ModelSettings(dir=models_dir, pat_runtime="torch"))


def _error(models_dir: Path) -> str:
    with pytest.raises(ModelLoadError) as err:
        _load(models_dir)
    message = str(err.value)
    assert "\n" not in message, message
    return message


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _edit_manifest(models_dir: Path, edit: Any) -> None:
    path = models_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


def test_full_dir_loads_in_canonical_order_and_is_left_untouched(full_dir: Path) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in full_dir.iterdir()}
    model_set = _load(full_dir)
    assert [b.name for b in model_set.boosters] == ["depression", "mania"]
    assert model_set.pat is not None and model_set.pat.config.size == "S"
    assert [m.name for m in model_set.all()] == ["depression", "mania", "pat"]
    assert all(isinstance(m, BatchModel) for m in model_set.all())
    assert [m.kind for m in model_set.all()] == ["xgboost", "xgboost", "pat"]
    assert [i.name for i in model_set.infos] == ["depression", "mania", "pat"]
    info = {i.name: i for i in model_set.infos}
    assert info["mania"].trees == 5 and info["mania"].parameters is None
    assert info["pat"].parameters == 287_265 and info["pat"].trees is None
    assert all(i.load_ms >= 0 for i in model_set.infos)
    assert not model_set.clinically_valid
    assert {p.name: p.stat().st_mtime_ns for p in full_dir.iterdir()} == before
    x = np.zeros((2, len(FEATURE_NAMES)), dtype=np.float32)
    assert model_set.boosters[0].predict_batch(x).shape == (2,)


def test_only_boosters_or_only_pat_is_valid(tmp_path: Path) -> None:
    data = _booster_bytes(list(FEATURE_NAMES))
    only_xgb = _write(tmp_path / "x", {"m.ubj": data}, [_entry("mania", "m.ubj", data)])
    assert _load(only_xgb).pat is None
    pat = _pat_bytes("S")
    only_pat = _write(
        tmp_path / "p", {"p.safetensors": pat}, [_entry("pat", "p.safetensors", pat, "S")]
    )
    assert _load(only_pat).boosters == ()


def test_missing_manifest(tmp_path: Path) -> None:
    assert "no manifest.json" in _error(tmp_path)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda m: m.update(models=[]), "models"),
        (lambda m: m["models"][1].update(kind="pat"), "cannot have kind"),
        (lambda m: m["models"][0].pop("size"), "needs a size"),
        (lambda m: m["models"][1].update(sha256="abc"), "sha256"),
        (lambda m: m["models"][1].update(file="../mania.json"), "plain file name"),
        (lambda m: m["models"][1].update(extra_key=1), "extra_key"),
        (lambda m: m["models"].append(dict(m["models"][1])), "duplicate model names"),
    ],
)
def test_malformed_manifest(full_dir: Path, tmp_path: Path, edit: Any, expected: str) -> None:
    models_dir = _copy(full_dir, tmp_path / "m")
    _edit_manifest(models_dir, edit)
    message = _error(models_dir)
    assert "malformed" in message and expected in message


def test_manifest_that_is_not_json(full_dir: Path, tmp_path: Path) -> None:
    models_dir = _copy(full_dir, tmp_path / "m")
    (models_dir / "manifest.json").write_text("{not json")
    assert "not valid JSON" in _error(models_dir)


def test_missing_file(full_dir: Path, tmp_path: Path) -> None:
    models_dir = _copy(full_dir, tmp_path / "m")
    (models_dir / "mania.json").unlink()
    message = _error(models_dir)
    assert "mania.json" in message and "missing" in message


def test_checksum_is_checked_before_parsing(
    full_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models_dir = _copy(full_dir, tmp_path / "m")
    (models_dir / "mania.json").write_bytes(pickle.dumps("not a model"))

    def parse_forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("parsed before the checksum was verified")

    monkeypatch.setattr(xgb.Booster, "load_model", parse_forbidden)
    message = _error(models_dir)
    assert "checksum mismatch" in message and "mania.json" in message


@pytest.mark.parametrize(
    ("file", "content", "expected"),
    [
        ("mania.pkl", pickle.dumps({"booster": 1}), "must be .json or .ubj"),
        ("mania.json", pickle.dumps({"booster": 1}), "pickle"),
        ("mania.json", b"binf\x00\x00\x00\x00old-binary", "old binary format"),
    ],
)
def test_wrong_format_booster(
    full_dir: Path, tmp_path: Path, file: str, content: bytes, expected: str
) -> None:
    models_dir = _copy(full_dir, tmp_path / "m")
    (models_dir / file).write_bytes(content)
    _edit_manifest(
        models_dir,
        lambda m: m["models"][1].update(file=file, sha256=hashlib.sha256(content).hexdigest()),
    )
    assert expected in _error(models_dir)


def test_wrong_format_pat(full_dir: Path, tmp_path: Path) -> None:
    models_dir = _copy(full_dir, tmp_path / "m")
    content = (models_dir / "pat.safetensors").read_bytes()
    (models_dir / "pat.pt").write_bytes(content)
    _edit_manifest(models_dir, lambda m: m["models"][0].update(file="pat.pt"))
    assert ".safetensors" in _error(models_dir)


def test_wrong_feature_names_say_which(tmp_path: Path) -> None:
    names = list(FEATURE_NAMES)
    names[names.index("Sleep_percentage_SD")] = "Sleep_pct_SD"
    data = _booster_bytes(names)
    models_dir = _write(tmp_path, {"mania.ubj": data}, [_entry("mania", "mania.ubj", data)])
    message = _error(models_dir)
    assert "missing Sleep_percentage_SD" in message and "unknown Sleep_pct_SD" in message


def test_booster_without_feature_names(tmp_path: Path) -> None:
    data = _booster_bytes(None)
    models_dir = _write(tmp_path, {"mania.ubj": data}, [_entry("mania", "mania.ubj", data)])
    assert "no feature_names" in _error(models_dir)


def test_pat_shapes_that_do_not_match_size(full_dir: Path, tmp_path: Path) -> None:
    models_dir = _copy(full_dir, tmp_path / "m")
    _edit_manifest(models_dir, lambda m: m["models"][0].update(size="L"))
    message = _error(models_dir)
    assert "PAT size S" in message and "manifest.json says L" in message
    data = _pat_bytes("M")
    untagged = _write(
        tmp_path / "u", {"p.safetensors": data}, [_entry("pat", "p.safetensors", data, "L")]
    )
    message = _error(untagged)
    assert "size" in message


def test_thread_caps_set_the_environment_and_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in THREAD_ENV_VARS:
        monkeypatch.setenv(name, "7")
    previous = torch.get_num_threads()
    try:
        apply_thread_caps(ModelSettings(torch_threads=1, xgboost_threads=1))
        assert all(os.environ[name] == "1" for name in THREAD_ENV_VARS)
        assert torch.get_num_threads() == 1
        apply_thread_caps(ModelSettings(torch_threads=1))  # interop already set: no error
    finally:
        torch.set_num_threads(previous)

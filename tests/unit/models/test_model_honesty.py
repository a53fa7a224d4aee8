"""Models that cannot lie about themselves: a PAT converted from an encoder-only H5 file
(untrained head, no input scaling) is refused at start-up while manifest.json calls the set
clinically valid, and loads, marked not valid, when it does not."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from consumer import cli
from consumer.errors import ModelLoadError
from consumer.models.clinical import untrusted_reasons
from consumer.models.formats import read_safetensors_header
from consumer.models.pat import PAT_CONFIGS, PatNetwork, network_to_bytes
from consumer.models.registry import load_model_set
from consumer.settings import ModelSettings
from schemas.events import ACTIVITY_MINUTES
from tests.keras_files import keras_weights, write_h5

pytest.importorskip("h5py")
S = PAT_CONFIGS["S"]


def _set_valid(models_dir: Path, valid: bool) -> None:
    path = models_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["clinically_valid"] = valid
    path.write_text(json.dumps(manifest))


def _convert_into(tmp_path: Path, *, head: bool, scaled: bool) -> Path:
    """``models convert-h5 --dir``: a PAT-S from a Keras H5 file, listed in a fresh dir."""
    h5 = write_h5(tmp_path / "pat.h5", keras_weights(S.blocks, S.heads, S.patch, head=head))
    models_dir = tmp_path / "models"
    argv = ["models", "convert-h5", str(h5), "--size", "S", "--dir", str(models_dir)]
    if scaled:
        np.save(tmp_path / "mean.npy", np.full(ACTIVITY_MINUTES, 120.0, dtype=np.float32))
        np.save(tmp_path / "std.npy", np.full(ACTIVITY_MINUTES, 80.0, dtype=np.float32))
        argv += ["--mean", str(tmp_path / "mean.npy"), "--std", str(tmp_path / "std.npy")]
    assert cli.main(argv) == 0
    return models_dir


def test_encoder_only_pat_is_refused_while_marked_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models_dir = _convert_into(tmp_path, head=False, scaled=False)
    manifest = json.loads((models_dir / "manifest.json").read_text())
    assert manifest["clinically_valid"] is False  # a new manifest never claims validity
    entry = manifest["models"][0]
    assert entry["name"] == "pat" and entry["file"] == "pat-s.safetensors"
    assert entry["onnx_file"] == "pat-s.onnx"  # the default runtime has its export
    settings = ModelSettings(dir=models_dir)

    loaded = load_model_set(settings)  # marked not valid: it starts
    assert loaded.clinically_valid is False and loaded.pat_runtime == "onnx-fp32"
    manifest_bytes = (models_dir / "manifest.json").read_bytes()
    assert loaded.digest == hashlib.sha256(manifest_bytes).hexdigest()
    assert "NO input scaling" in capsys.readouterr().out  # said when converting
    assert cli.main(["models", "info", "--json", "--dir", str(models_dir)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["model_set"] == loaded.digest and info["clinically_valid"] is False

    _set_valid(models_dir, True)
    with pytest.raises(ModelLoadError) as refused:
        load_model_set(settings)
    message = str(refused.value)
    assert "\n" not in message
    assert '"clinically_valid": true' in message and "pat-s.safetensors" in message
    assert "head is untrained" in message and "no input scaling" in message
    assert '"clinically_valid": false in manifest.json' in message
    assert cli.main(["models", "info", "--dir", str(models_dir)]) == 1
    assert "head is untrained" in capsys.readouterr().err


def test_a_trained_head_with_its_scaling_may_be_called_valid(tmp_path: Path) -> None:
    models_dir = _convert_into(tmp_path, head=True, scaled=True)
    _set_valid(models_dir, True)
    loaded = load_model_set(ModelSettings(dir=models_dir, pat_runtime="torch"))
    assert loaded.clinically_valid is True and loaded.pat_runtime == "torch-fp32"


def test_each_reason_a_file_gives_against_itself() -> None:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        network = PatNetwork(S)

    def reasons(metadata: dict[str, str]) -> list[str]:
        data = network_to_bytes(network, metadata)
        return untrusted_reasons(read_safetensors_header(data, source="x"), data)

    assert len(reasons({})) == 1 and "no input scaling" in reasons({})[0]  # mean 0, std 1
    network.mean = torch.full((ACTIVITY_MINUTES,), 3.0)
    network.std = torch.full((ACTIVITY_MINUTES,), 2.0)
    assert reasons({}) == []
    assert "its own metadata says clinically_valid: false" in reasons({"clinically_valid": "false"})
    assert "head is untrained" in reasons({"head": "untrained"})[0]
    assert "no input scaling" in reasons({"standardisation": "none: mean 0, std 1"})[0]

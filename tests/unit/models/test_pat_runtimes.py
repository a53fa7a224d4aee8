"""PAT runtimes: each against torch fp32 on fixed inputs, the ONNX export's checksum and
provenance, the calibration's choice and refusal, and a torch-free load."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

from consumer.errors import ModelLoadError
from consumer.models.formats import sha256_hex
from consumer.models.pat_calibrate import (
    RuntimeFigures,
    calibration_weeks,
    candidates,
    choose,
    measure,
)
from consumer.models.pat_config import PAT_CONFIGS, tensor_shapes
from consumer.models.pat_net import expected_shapes
from consumer.models.pat_runtime import load_pat_runtimes
from consumer.models.registry import load_model_set
from consumer.settings import ModelSettings

REPO = Path(__file__).resolve().parents[3]
DEMO_DIR = REPO / "models" / "demo"


def _pat_entry(models_dir: Path) -> dict[str, Any]:
    manifest = json.loads((models_dir / "manifest.json").read_text())
    return next(m for m in manifest["models"] if m["name"] == "pat")


def _edit_pat_entry(models_dir: Path, **fields: Any) -> None:
    path = models_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    for entry in manifest["models"]:
        if entry["name"] == "pat":
            entry.update(fields)
            for key in [k for k, v in entry.items() if v is None]:
                del entry[key]
    path.write_text(json.dumps(manifest))


@pytest.fixture(scope="module")
def runtimes() -> dict[str, Any]:
    labels = ["torch-fp32", "torch-bf16", "onnx-fp32"]
    return load_pat_runtimes(ModelSettings(dir=DEMO_DIR), labels)


@pytest.fixture(scope="module")
def weeks() -> np.ndarray:
    return calibration_weeks(8)


def test_torch_free_shape_table_matches_the_torch_module() -> None:
    for config in PAT_CONFIGS.values():
        assert list(tensor_shapes(config).items()) == list(expected_shapes(config).items())


def test_onnx_fp32_matches_torch_fp32_on_fixed_inputs(
    runtimes: dict[str, Any], weeks: np.ndarray
) -> None:
    reference = runtimes["torch-fp32"].predict_batch(weeks)
    onnx_out = runtimes["onnx-fp32"].predict_batch(weeks)
    assert onnx_out.shape == (8,) and onnx_out.dtype == np.float64
    assert float(np.max(np.abs(onnx_out - reference))) <= 1e-5
    assert float(np.ptp(reference)) > 0.05  # the weeks really differ in score


def test_torch_bf16_is_close_to_fp32_but_not_equal(
    runtimes: dict[str, Any], weeks: np.ndarray
) -> None:
    reference = runtimes["torch-fp32"].predict_batch(weeks)
    error = float(np.max(np.abs(runtimes["torch-bf16"].predict_batch(weeks) - reference)))
    assert 0.0 < error <= 0.01  # reduced precision really ran, within its bound


def test_measure_reports_each_runtime_against_the_reference(
    runtimes: dict[str, Any], weeks: np.ndarray
) -> None:
    predicts = {k: m.predict_batch for k, m in runtimes.items()}
    figures = {f.runtime: f for f in measure(predicts, weeks[:4], max_error=0.01)}
    assert set(figures) == {"torch-fp32", "torch-bf16", "onnx-fp32"}
    assert figures["torch-fp32"].max_abs_error == 0.0
    assert figures["onnx-fp32"].bound == 1e-5 and figures["onnx-fp32"].within_bound
    assert figures["torch-bf16"].bound == 0.01 and figures["torch-bf16"].within_bound
    assert all(f.sequences_per_cpu_s > 0 and f.weeks == 4 for f in figures.values())


def _fig(runtime: str, error: float, bound: float, speed: float) -> RuntimeFigures:
    return RuntimeFigures(runtime, error, bound, speed, 32)


def test_choose_refuses_a_requested_runtime_over_its_bound() -> None:
    figures = [_fig("torch-fp32", 0.0, 1e-5, 30.0), _fig("torch-bf16", 0.02, 0.01, 90.0)]
    with pytest.raises(ModelLoadError) as err:
        choose(figures, "torch-bf16")
    assert "torch-bf16 refused" in str(err.value) and "\n" not in str(err.value)
    assert choose(figures, "torch-fp32").runtime == "torch-fp32"


def test_auto_picks_the_fastest_runtime_within_its_bound() -> None:
    figures = [
        _fig("torch-fp32", 0.0, 1e-5, 30.0),
        _fig("onnx-fp32", 2e-7, 1e-5, 40.0),
        _fig("torch-bf16", 0.02, 0.01, 90.0),  # fastest but over its bound
    ]
    assert choose(figures, "auto").runtime == "onnx-fp32"
    figures[2] = _fig("torch-bf16", 0.003, 0.01, 90.0)
    assert choose(figures, "auto").runtime == "torch-bf16"


def test_candidates_follow_the_settings_and_the_cpu() -> None:
    auto = ModelSettings(pat_runtime="auto", pat_precision="bf16")
    assert candidates(auto, has_onnx=True, bf16_native=True) == [
        "torch-fp32",
        "onnx-fp32",
        "torch-bf16",
    ]
    assert candidates(auto, has_onnx=False, bf16_native=False) == ["torch-fp32"]
    fp32_only = ModelSettings(pat_runtime="auto")
    assert "torch-bf16" not in candidates(fp32_only, has_onnx=True, bf16_native=True)
    assert candidates(ModelSettings(), has_onnx=True, bf16_native=True) == ["onnx-fp32"]
    with pytest.raises(ValueError, match="runs fp32 only"):
        ModelSettings(pat_runtime="onnx", pat_precision="bf16")


def test_the_export_is_reproducible_and_is_the_committed_file() -> None:
    from consumer.models.pat_export import export_onnx

    entry = _pat_entry(DEMO_DIR)
    data = export_onnx((DEMO_DIR / entry["file"]).read_bytes(), size=entry["size"])
    assert sha256_hex(data) == entry["onnx_sha256"]
    assert sha256_hex((DEMO_DIR / entry["onnx_file"]).read_bytes()) == entry["onnx_sha256"]


@pytest.fixture
def demo_copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(DEMO_DIR, tmp_path / "models"))


def _load_error(models_dir: Path, **settings: Any) -> str:
    with pytest.raises(ModelLoadError) as err:
        load_model_set(ModelSettings(dir=models_dir, **settings))
    message = str(err.value)
    assert "\n" not in message
    return message


def test_the_onnx_checksum_is_verified_like_the_others(demo_copy: Path) -> None:
    path = demo_copy / _pat_entry(demo_copy)["onnx_file"]
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")
    message = _load_error(demo_copy)
    assert str(path) in message and "checksum mismatch" in message
    path.unlink()
    assert "is missing" in _load_error(demo_copy)


def test_an_export_of_other_weights_is_refused(demo_copy: Path) -> None:
    entry = _pat_entry(demo_copy)
    path = demo_copy / entry["onnx_file"]
    model = onnx.load_from_string(path.read_bytes())
    for prop in model.metadata_props:
        if prop.key == "moodstream.source_sha256":
            prop.value = "0" * 64
    path.write_bytes(model.SerializeToString())
    _edit_pat_entry(demo_copy, onnx_sha256=sha256_hex(path.read_bytes()))
    assert "exported from other PAT weights" in _load_error(demo_copy)


def test_the_onnx_runtime_needs_an_export(demo_copy: Path) -> None:
    _edit_pat_entry(demo_copy, onnx_file=None, onnx_sha256=None)
    assert "needs an ONNX export" in _load_error(demo_copy)
    model_set = load_model_set(ModelSettings(dir=demo_copy, pat_runtime="torch"))
    assert model_set.pat is not None and model_set.pat.runtime == "torch"


_TORCH_FREE = """
import os, sys
import numpy as np
from consumer.models.registry import load_model_set
from consumer.settings import ModelSettings
models = load_model_set(ModelSettings(dir=sys.argv[1]))
loaded = sorted(m for m in ("torch", "onnxruntime") if m in sys.modules)
threads = len(os.listdir("/proc/self/task"))
probs = models.pat.predict_batch(np.zeros((2, 10080), np.float32))
print(loaded, threads, models.pat.runtime, "torch" in sys.modules, probs.shape)
"""


def test_the_default_runtime_loads_without_torch_or_a_thread() -> None:
    """The supervisor's view: after loading, no torch, no onnxruntime, one thread; the
    session (and onnxruntime) come with the first prediction, still without torch."""
    done = subprocess.run(
        [sys.executable, "-c", _TORCH_FREE, str(DEMO_DIR)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=True,
    )
    assert done.stdout.split("\n")[0] == "[] 1 onnx False (2,)", done.stdout + done.stderr


def _cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


@pytest.mark.skipif(
    not _cuda_available(),
    reason="no CUDA device here: the GPU PAT path (python -m consumer.bench.gpu_pat) is only "
    "checked on a lent GPU machine",
)
def test_gpu_fp32_matches_cpu_fp32(runtimes: dict[str, Any], weeks: np.ndarray) -> None:
    import torch

    from consumer.models.pat import load_network

    entry = _pat_entry(DEMO_DIR)
    network = load_network((DEMO_DIR / entry["file"]).read_bytes(), size=entry["size"])
    with torch.inference_mode():
        gpu = network.to("cuda")(torch.from_numpy(weeks).to("cuda")).double().cpu().numpy()
    reference = runtimes["torch-fp32"].predict_batch(weeks)
    assert float(np.max(np.abs(gpu - reference))) <= 1e-5

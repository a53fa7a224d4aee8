"""PAT on a GPU (``MODELS__PAT_DEVICE``) without one: the settings it refuses, the runtimes
it considers and their bounds, what start-up says and does when no device is visible (a
real probe in a fresh interpreter), a GPU model that loads without touching CUDA, and the
lane the composition root gives it. The CUDA path itself runs on a GPU machine only
(tests/integration/test_pat_cuda.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from consumer.clock import SystemClock
from consumer.errors import ModelLoadError
from consumer.models.manifest import read_manifest
from consumer.models.pat_calibrate import (
    FP32_BOUND,
    RuntimeFigures,
    bound_for,
    choose,
    device_candidates,
    probe_cuda_in_subprocess,
)
from consumer.models.pat_runtime import build_runtime, read_pat_files, resolve_runtime
from consumer.models.registry import ModelSet
from consumer.service.wiring import build_ensemble
from consumer.settings import ModelSettings, Settings
from tests.fakes import FakeModel, cuda_visible

REPO = Path(__file__).resolve().parents[3]
DEMO_DIR = REPO / "models" / "demo"


def test_cuda_with_the_cpu_only_onnx_runtime_is_refused_with_what_to_set() -> None:
    with pytest.raises(ValidationError, match="MODELS__PAT_RUNTIME=torch"):
        ModelSettings(pat_device="cuda")
    assert ModelSettings(pat_device="cuda", pat_runtime="torch").pat_device == "cuda"
    assert ModelSettings(pat_device="auto").pat_runtime == "onnx"  # the CPU runtime if no GPU
    with pytest.raises(ValidationError):
        ModelSettings(pat_device_batch_rows=0)
    with pytest.raises(ValidationError):
        ModelSettings(pat_device_batch_wait_ms=-1)


@pytest.mark.parametrize(
    ("runtime", "precision", "expected"),
    [
        ("torch", "fp32", ["cuda-fp32"]),
        ("torch", "bf16", ["cuda-bf16"]),
        ("auto", "fp32", ["cuda-fp32"]),
        ("auto", "bf16", ["cuda-fp32", "cuda-bf16"]),
    ],
)
def test_the_gpu_follows_the_cpu_rules_for_runtime_and_precision(
    runtime: str, precision: str, expected: list[str]
) -> None:
    settings = ModelSettings.model_validate(
        {"pat_device": "cuda", "pat_runtime": runtime, "pat_precision": precision}
    )
    assert device_candidates(settings) == expected


def test_every_gpu_runtime_is_held_to_the_reduced_precision_bound() -> None:
    assert bound_for("torch-fp32", 0.01) == bound_for("onnx-fp32", 0.01) == FP32_BOUND
    assert bound_for("cuda-fp32", 0.005) == bound_for("cuda-bf16", 0.005) == 0.005


def test_no_runtime_within_bound_stops_start_up_with_the_figures() -> None:
    over = [RuntimeFigures("cuda-fp32", 0.02, 0.01, 9_000.0, 32)]
    with pytest.raises(ModelLoadError, match=r"cuda-fp32 2\.00e-02 > 0\.01"):
        choose(over, "auto")


def test_the_probe_runs_in_a_fresh_interpreter_and_agrees_with_torch() -> None:
    probe = probe_cuda_in_subprocess()
    if cuda_visible():
        assert probe.devices >= 1 and probe.name and probe.reason == "ok"
    else:
        assert probe.devices == 0 and probe.name is None
        assert "CUDA" in probe.reason


def _files(settings: ModelSettings) -> Any:
    entry = next(e for e in read_manifest(settings.dir).models if e.kind == "pat")
    return read_pat_files(settings.dir, entry)


@pytest.mark.skipif(cuda_visible(), reason="a CUDA device is visible here")
def test_without_a_device_cuda_stops_start_up_and_auto_falls_back_to_the_cpu() -> None:
    cuda = ModelSettings(dir=DEMO_DIR, pat_device="cuda", pat_runtime="torch")
    with pytest.raises(ModelLoadError, match="MODELS__PAT_DEVICE=cuda: no CUDA device"):
        resolve_runtime(cuda, _files(cuda))
    auto = ModelSettings(dir=DEMO_DIR, pat_device="auto")
    assert resolve_runtime(auto, _files(auto)) == ("onnx-fp32", [])


def test_a_gpu_model_loads_on_the_cpu_and_runs_in_device_sized_calls() -> None:
    """Loading never touches CUDA (the supervisor forks afterwards): this works without a
    GPU; the weights move at the model's first call, in the worker."""
    settings = ModelSettings(
        dir=DEMO_DIR, pat_device="cuda", pat_runtime="torch", pat_device_batch_rows=64
    )
    model = build_runtime("cuda-bf16", _files(settings), settings)
    assert (model.device, model.precision, model.runtime) == ("cuda", "bf16", "torch")
    assert model._sub_batch_size == 64  # type: ignore[attr-defined]
    assert all(p.device.type == "cpu" for p in model.network.parameters())  # type: ignore[attr-defined]


class _DevicePat(FakeModel):
    def __init__(self, device: str) -> None:
        super().__init__("pat")
        self.device = device


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_only_a_gpu_pat_gets_a_lane_that_gathers_rows(device: str) -> None:
    settings = Settings(
        models=ModelSettings(
            warmup=False,
            pat_device_batch_rows=128,
            pat_device_batch_wait_ms=8,
            pat_sub_batch_size=2,
        )
    )
    models = ModelSet(boosters=(), pat=_DevicePat(device), infos=())  # type: ignore[arg-type]
    ensemble, executors = build_ensemble(settings, models, SystemClock())
    try:
        lane = ensemble.pat
        assert lane is not None
        if device == "cuda":
            assert lane.batching is not None
            assert (lane.batching.max_rows, lane.batching.max_wait_s) == (128, 0.008)
            assert lane.admission.chunk_rows == 128
        else:
            assert lane.batching is None
            assert lane.admission.chunk_rows == 2
    finally:
        for executor in executors:
            executor.shutdown()

"""Predictions end to end with each CPU PAT runtime, and what each process maps.

One activity event per runtime through the real broker and `moodstream run`: its PAT
score must match torch fp32 in this process within the runtime's bound, and with the
default ``onnx`` runtime neither the supervisor nor the worker maps libtorch (the
supervisor does not map onnxruntime either: it runs no inference).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from consumer.models.pat_calibrate import native_bf16
from consumer.settings import ModelSettings, TopicSettings
from schemas.events import FeatureEvent
from tests.fakes import event_bytes
from tests.integration.harness import (
    REPO,
    TopicReader,
    produce_raw,
    running_service,
    service_env,
)

pytestmark = pytest.mark.integration

RUNTIMES = {  # label: (settings, bound against torch fp32)
    "onnx-fp32": ({}, 1e-5),
    "torch-fp32": ({"MODELS__PAT_RUNTIME": "torch"}, 1e-5),
    "torch-bf16": (
        {
            "MODELS__PAT_RUNTIME": "torch",
            "MODELS__PAT_PRECISION": "bf16",
            "MODELS__PAT_CALIBRATION_WEEKS": "4",
        },
        0.01,
    ),
}


def _maps(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def _reference(value: bytes) -> float:
    from consumer.models.pat_runtime import load_pat_runtimes

    event = FeatureEvent.model_validate_json(value)
    assert event.activity is not None
    week = np.asarray(event.activity, dtype=np.float32)[None, :]
    settings = ModelSettings(dir=REPO / "models" / "demo")
    return float(load_pat_runtimes(settings, ["torch-fp32"])["torch-fp32"].predict_batch(week)[0])


@pytest.mark.parametrize("runtime", list(RUNTIMES))
def test_predictions_with_each_cpu_runtime(
    runtime: str,
    kafka_bootstrap: str,
    unique_topics: TopicSettings,
    unique_group: str,
    tmp_path: Path,
) -> None:
    if runtime == "torch-bf16" and not native_bf16():
        pytest.skip("this CPU has no native bf16 (avx512_bf16 / amx_bf16): bf16 is refused")
    settings, bound = RUNTIMES[runtime]
    value = event_bytes(seed=7, features=False, activity=True)
    produce_raw(kafka_bootstrap, unique_topics.features, [(b"k", value)])
    predictions = TopicReader(kafka_bootstrap, unique_topics.predictions)
    env = service_env(kafka_bootstrap, unique_topics, unique_group, **settings)
    with running_service(env, tmp_path) as svc:
        predictions.wait_count(1, timeout_s=120)
        worker_pid = int(re.findall(r'"worker_pid": ?(\d+)', svc.logs())[0])
        supervisor_maps, worker_maps = _maps(svc.process.pid), _maps(worker_pid)
        assert svc.stop() == 0
    (prediction,) = predictions.values()
    predictions.close()
    assert prediction["models"]["pat"]["status"] == "ok"
    assert abs(prediction["current_depression"] - _reference(value)) <= bound
    assert (f'"chosen": "{runtime}"' in svc.logs()) == (runtime == "torch-bf16")
    if runtime == "onnx-fp32":
        assert "libtorch" not in supervisor_maps and "libtorch" not in worker_maps
        assert "onnxruntime" not in supervisor_maps and "onnxruntime" in worker_maps
    else:
        assert "libtorch" in worker_maps

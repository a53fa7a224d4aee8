"""PAT on a GPU: each GPU runtime against torch fp32 on the CPU, and the service end to end
with ``MODELS__PAT_DEVICE=cuda`` through the real broker (rows gathered across micro-batches,
every event answered, scores within the bound). Runs only where a CUDA device is visible:
CI has none, and the machines this project is lent with a GPU are checked by hand
(BENCHMARKS.md, "PAT on a GPU"). The batching itself is unit-tested with a fake clock
(tests/unit/ensemble/test_row_batching.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from consumer.models.pat_calibrate import calibration_weeks
from consumer.models.pat_runtime import load_pat_runtimes
from consumer.settings import ModelSettings, TopicSettings
from tests.fakes import cuda_visible, event_bytes
from tests.integration.harness import (
    REPO,
    TopicReader,
    produce_raw,
    running_service,
    service_env,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not cuda_visible(),
        reason="no CUDA device visible (torch.cuda.is_available() is false): the GPU lane "
        "is checked on a GPU machine",
    ),
]

DEMO_DIR = REPO / "models" / "demo"
BOUND = 0.01  # MODELS__PAT_MAX_ERROR's default: every GPU runtime is held to it


def test_each_gpu_runtime_is_within_its_bound_of_torch_fp32_on_the_cpu() -> None:
    settings = ModelSettings(dir=DEMO_DIR, pat_device="cuda", pat_runtime="torch")
    models = load_pat_runtimes(settings, ["torch-fp32", "cuda-fp32", "cuda-bf16"])
    weeks = calibration_weeks(64)
    reference = models["torch-fp32"].predict_batch(weeks)
    for label in ("cuda-fp32", "cuda-bf16"):
        error = float(np.max(np.abs(models[label].predict_batch(weeks) - reference)))
        assert error <= BOUND, f"{label}: max |Δ probability| {error:.2e}"


def test_the_service_scores_every_activity_event_on_the_gpu(
    kafka_bootstrap: str,
    unique_topics: TopicSettings,
    unique_group: str,
    tmp_path: Path,
) -> None:
    values = [event_bytes(seed=9_000 + i, activity=True) for i in range(200)]
    produce_raw(
        kafka_bootstrap, unique_topics.features, [(b"k%d" % i, v) for i, v in enumerate(values)]
    )
    predictions = TopicReader(kafka_bootstrap, unique_topics.predictions)
    env = service_env(
        kafka_bootstrap,
        unique_topics,
        unique_group,
        MODELS__PAT_DEVICE="cuda",
        MODELS__PAT_RUNTIME="auto",
        MODELS__PAT_PRECISION="bf16",
        MODELS__PAT_CALIBRATION_WEEKS="32",
        MODELS__PAT_DEVICE_BATCH_ROWS="64",
    )
    with running_service(env, tmp_path) as svc:
        predictions.wait_count(len(values), timeout_s=180)
        logs = svc.logs()
        assert svc.stop() == 0, logs[-2000:]
    assert '"chosen": "cuda-' in logs
    got = predictions.values()
    predictions.close()
    assert len({p["event_id"] for p in got}) == len(values)
    assert all(p["models"]["pat"]["status"] == "ok" for p in got)

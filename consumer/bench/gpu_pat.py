"""PAT on a GPU: sequences/s and peak GPU memory by size, dtype and batch, plus a check that
the GPU gives the CPU's probabilities. ``python -m consumer.bench.gpu_pat --out FILE.json``.

Not part of the service (which runs PAT on CPU) nor of CI (no GPU there): it answers the
capacity question "what would one GPU do for PAT", measured with CUDA events around
``inference_mode`` forwards after warm-up. Blocks for a minute or two; needs CUDA.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from consumer.models.pat import load_network
from consumer.models.pat_net import PAT_CONFIGS, PatNetwork
from consumer.models.synthetic import synthetic_weeks

BATCHES = (1, 8, 32, 128, 512)
WARMUP, REPS = 3, 10


def time_forward(network: PatNetwork, batch: torch.Tensor) -> float:
    """Median seconds per forward of ``batch`` (CUDA-event timed)."""
    with torch.inference_mode():
        for _ in range(WARMUP):
            network(batch)
        times = []
        for _ in range(REPS):
            start = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
            end = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
            start.record()
            network(batch)
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end) / 1000.0)
    return float(np.median(times))


def sweep(
    network: PatNetwork, size: str, dtype: torch.dtype, weeks: np.ndarray
) -> list[dict[str, Any]]:
    rows = []
    net = network.to("cuda", dtype=dtype).eval()
    for batch_size in BATCHES:
        reps = -(-batch_size // len(weeks))
        data = torch.from_numpy(np.tile(weeks, (reps, 1))[:batch_size]).to("cuda", dtype=dtype)
        torch.cuda.reset_peak_memory_stats()
        seconds = time_forward(net, data)
        rows.append(
            {
                "size": size,
                "dtype": str(dtype).removeprefix("torch."),
                "batch": batch_size,
                "ms_per_batch": round(seconds * 1000, 3),
                "sequences_per_s": round(batch_size / seconds, 1),
                "peak_gpu_mib": round(torch.cuda.max_memory_allocated() / 2**20, 1),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def agreement(models_dir: Path, weeks: np.ndarray) -> dict[str, float]:
    """Max |p_gpu - p_cpu| for the demo PAT-M (fp32 and bf16) on synthetic weeks."""
    data = (models_dir / "pat-m.safetensors").read_bytes()
    cpu = load_network(data, size="M").eval()
    x = torch.from_numpy(weeks)
    with torch.inference_mode():
        expected = cpu(x).numpy()
        gpu32 = load_network(data, size="M").to("cuda").eval()(x.cuda()).float().cpu().numpy()
        gpu16 = (
            load_network(data, size="M")
            .to("cuda", torch.bfloat16)
            .eval()(x.to("cuda", torch.bfloat16))
            .float()
            .cpu()
            .numpy()
        )
    return {
        "fp32_max_abs_diff": float(np.abs(gpu32 - expected).max()),
        "bf16_max_abs_diff": float(np.abs(gpu16 - expected).max()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--models-dir", type=Path, default=Path("models/demo"))
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device")
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32
    weeks = synthetic_weeks(np.random.default_rng(7), np.arange(16) % 3 == 0)
    started = time.monotonic()
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "agreement_vs_cpu": agreement(args.models_dir, weeks),
        "rows": [],
    }
    demo_m = load_network((args.models_dir / "pat-m.safetensors").read_bytes(), size="M")
    for size in ("S", "M", "L"):
        network = demo_m if size == "M" else PatNetwork(PAT_CONFIGS[size])
        for dtype in (torch.float32, torch.bfloat16):
            report["rows"] += sweep(network, size, dtype, weeks)
    report["seconds"] = round(time.monotonic() - started, 1)
    args.out.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The GPU lane in the service (issue 20): what a worker's CPU can feed a GPU, and, where
a CUDA device is visible, sequences per second at 1, 2 and 4 workers sharing it.

**Feed** (every machine): an all-activity backlog drained by one worker whose models
directory lists no PAT (a copy of the boosters and the manifest without the PAT entry),
so everything but PAT still runs: decoding 10,080 values per event, the boosters, the
loop, publishing. Its events per worker CPU-second is the most activity events one worker
core can hand a device however fast the device is: the bound a GPU worker pool meets
first, and the figure behind the break-even arithmetic (BENCHMARKS.md, "PAT on a GPU").

**On the GPU** (only where ``probe_cuda_in_subprocess`` sees a device): the same backlog
with ``MODELS__PAT_DEVICE=cuda``, ``auto``+``bf16`` (start-up calibration picks), at 1,
2 and 4 workers; sustained predictions per second = PAT sequences per second (every
event carries a week). Without a device the section says why it was skipped.

Blocking (about 20 s for the feed run at the quick size; each GPU run about as long).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from consumer.bench.endtoend import BenchContext, EndToEndPlan, run_config
from consumer.bench.workload import build_workload
from consumer.models.pat_calibrate import probe_cuda_in_subprocess

WORKLOAD = "activity_backlog"
GPU_WORKERS = (1, 2, 4)
GPU_ENV = {
    "MOODSTREAM_MODELS__PAT_DEVICE": "cuda",
    "MOODSTREAM_MODELS__PAT_RUNTIME": "auto",
    "MOODSTREAM_MODELS__PAT_PRECISION": "bf16",
}


def boosters_only_dir(models_dir: Path, into: Path) -> Path:
    """A copy of ``models_dir`` whose manifest lists every model but PAT. Blocking (copies
    the booster files; the checksums stay valid). Returns the new directory."""
    manifest = json.loads((models_dir / "manifest.json").read_text(encoding="utf-8"))
    kept = [m for m in manifest["models"] if m["kind"] != "pat"]
    into.mkdir(parents=True, exist_ok=True)
    for model in kept:
        shutil.copy2(models_dir / model["file"], into / model["file"])
    (into / "manifest.json").write_text(
        json.dumps({**manifest, "models": kept}, indent=2), encoding="utf-8"
    )
    return into


def run_gpu_lane(ctx: BenchContext, events: int) -> dict[str, Any]:
    """The feed run, then the GPU runs where a device is visible."""
    workload = build_workload(WORKLOAD, min(events, 400))
    out: dict[str, Any] = {"events": events, "workload": WORKLOAD}
    ctx.progress(f"GPU lane: feed bound, {events} activity events, 1 worker, no PAT")
    no_pat = boosters_only_dir(ctx.settings.models.dir, ctx.log_dir / "models-no-pat")
    env = {"MOODSTREAM_MODELS__DIR": str(no_pat)}
    feed = run_config(ctx, workload, 1, EndToEndPlan(events, 0.0, (), env=env, tag="no-pat"))
    out["feed"] = {
        "events_per_worker_cpu_s": feed.get("events_per_worker_cpu_s"),
        "sustained_events_per_s": feed.get("sustained_events_per_s"),
        "exit_code": feed.get("exit_code"),
    }
    ctx.progress(f"  feed: {out['feed']['events_per_worker_cpu_s']} events per worker CPU-s")
    probe = probe_cuda_in_subprocess()
    out["cuda"] = {"devices": probe.devices, "name": probe.name, "reason": probe.reason}
    if probe.devices == 0:
        out["gpu"] = {"skipped": f"no CUDA device: {probe.reason}"}
        return out
    gpu: dict[str, Any] = {}
    for workers in GPU_WORKERS:
        ctx.progress(f"GPU lane: {events} activity events, {workers} workers, PAT on {probe.name}")
        plan = EndToEndPlan(events, 0.0, (), env=GPU_ENV, tag="cuda")
        run = run_config(ctx, workload, workers, plan)
        gpu[f"workers_{workers}"] = {
            "sequences_per_s": run.get("sustained_events_per_s"),
            "events_per_worker_cpu_s": run.get("events_per_worker_cpu_s"),
            "partial": run.get("partial"),
            "exit_code": run.get("exit_code"),
        }
    out["gpu"] = gpu
    return out

"""The bench's GPU lane section (issue 20): its boosters-only models directory loads as the
service loads models, and the summary says what ran and why the GPU part was skipped."""

from __future__ import annotations

from pathlib import Path

from consumer.bench.gpu_lane import boosters_only_dir
from consumer.bench.text import gpu_lane_table
from consumer.models.registry import load_model_set
from consumer.settings import ModelSettings

DEMO_DIR = Path(__file__).resolve().parents[3] / "models" / "demo"


def test_the_feed_run_loads_every_booster_verified_and_no_pat(tmp_path: Path) -> None:
    directory = boosters_only_dir(DEMO_DIR, tmp_path / "no-pat")
    models = load_model_set(ModelSettings(dir=directory))
    assert models.pat is None
    assert [b.name for b in models.boosters] == ["depression", "hypomania", "mania"]
    assert not list(directory.glob("pat*"))


def test_the_summary_gives_the_feed_and_the_gpu_rows_or_why_they_were_skipped() -> None:
    feed = {"events_per_worker_cpu_s": 812.5, "sustained_events_per_s": 640.0, "exit_code": 0}
    skipped = {
        "gpu_lane": {
            "feed": feed,
            "cuda": {"devices": 0, "name": None, "reason": "no driver"},
            "gpu": {"skipped": "no CUDA device: no driver"},
        }
    }
    text = gpu_lane_table(skipped)
    assert "812.5 events per worker CPU-s" in text and "skipped (no CUDA device: no driver)" in text
    ran = {
        "gpu_lane": {
            "feed": feed,
            "cuda": {"devices": 1, "name": "H200", "reason": "ok"},
            "gpu": {
                f"workers_{n}": {"sequences_per_s": 500.0 * n, "events_per_worker_cpu_s": 700.0}
                for n in (1, 2, 4)
            },
        }
    }
    lines = gpu_lane_table(ran).splitlines()
    assert "on H200" in lines[1] and len(lines) == 5 and "2000.0" in lines[-1]
    assert gpu_lane_table({}) == ""

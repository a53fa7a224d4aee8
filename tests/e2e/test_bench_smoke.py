"""``moodstream bench --smoke`` against the real broker: the whole machinery in a tiny run.

Runs the CLI as a user does; checks the JSON has every figure and ratio the benchmark
promises (``consumer.bench.report.check_shape``), that the PNG is written beside it, and
that the run's topics are gone afterwards. About a minute on 2 cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest
from confluent_kafka.admin import AdminClient  # type: ignore[attr-defined]

from consumer.bench.report import check_shape
from consumer.models.formats import sha256_hex

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(360)]

REPO: Final = Path(__file__).resolve().parents[2]
DEMO_DIR: Final = REPO / "models" / "demo"


def _verifies(models_dir: Path) -> bool:
    try:
        manifest = json.loads((models_dir / "manifest.json").read_text())
        return all(
            sha256_hex((models_dir / entry["file"]).read_bytes()) == entry["sha256"]
            for entry in manifest["models"]
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``models/demo`` when it is built and verifies, else a tiny demo set (shape only)."""
    if _verifies(DEMO_DIR):
        return DEMO_DIR
    from consumer.models.demo import BoosterRecipe, PatRecipe, build_demo

    out = tmp_path_factory.mktemp("bench-models")
    build_demo(
        out,
        boosters=tuple(BoosterRecipe(n, trees=20, persons=50)
                       for n in ("depression", "hypomania", "mania")),
        pat=PatRecipe(size="S", weeks=16, steps=2),
    )
    return out


def test_smoke_bench_writes_a_complete_result_and_cleans_up(
    kafka_bootstrap: str, models_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOODSTREAM_")}
    env.update({"MOODSTREAM_KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap,
                "MOODSTREAM_MODELS__DIR": str(models_dir)})
    done = subprocess.run(
        [sys.executable, "-m", "consumer", "bench", "--smoke", "--json", str(out)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert check_shape(doc) == []
    assert doc["mode"] == "smoke"
    assert set(doc["ratios"]) == {"features_only", "mixed"}
    for run in (doc["moodstream"]["features_only"]["workers_1"],
                doc["moodstream"]["mixed"]["workers_1"]):
        assert run["drain_missing"] == 0
        assert run["sustained_events_per_s"] > 0
        assert all(load["missing"] == 0 for load in run["latency"].values())
    assert out.with_suffix(".png").stat().st_size > 10_000
    assert "tightest limit" in done.stdout
    topics = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10).topics
    assert not [name for name in topics if name.startswith(f"bench.{doc['run_id']}.")]

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

import pytest
from confluent_kafka.admin import AdminClient

from consumer.bench.report import check_shape

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(360)]


def test_smoke_bench_writes_a_complete_result_and_cleans_up(
    kafka_bootstrap: str, demo_models: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOODSTREAM_")}
    env.update(
        {
            "MOODSTREAM_KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap,
            "MOODSTREAM_MODELS__DIR": str(demo_models),
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "consumer", "bench", "--smoke", "--json", "--out", str(out)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert json.loads(done.stdout) == doc  # --json: the same document on stdout
    assert check_shape(doc) == []
    assert doc["mode"] == "smoke"
    assert set(doc["ratios"]) == {"features_only", "mixed"}
    for run in (
        doc["moodstream"]["features_only"]["workers_1"],
        doc["moodstream"]["mixed"]["workers_1"],
    ):
        assert run["drain_missing"] == 0
        assert run["sustained_events_per_s"] > 0
        assert all(load["missing"] == 0 for load in run["latency"].values())
    windows = doc["windows"]  # the windows stage's section (issue 26)
    assert windows["day_chunks"]["per_worker_cpu_s"] > 0
    assert windows["minute_records"]["per_worker_cpu_s"] > 0
    assert windows["store"]["bytes_per_user_day"] > 0
    assert windows["restore"]["partitions"] == 6
    assert "minute_records_per_cpu_s" in done.stdout
    assert out.with_suffix(".png").stat().st_size > 10_000
    assert "tightest limit" in done.stdout
    topics = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10).topics
    assert not [name for name in topics if name.startswith(f"bench.{doc['run_id']}.")]

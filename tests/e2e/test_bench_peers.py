"""``moodstream bench --peers`` against the real broker, in a tiny run (opt-in).

Skipped unless ``MOODSTREAM_BENCH_PEERS=1``: the peers' venvs are downloaded from PyPI on
first use (about a minute), so this is never on ``make test``'s path. Checks that every
system drained the same backlog, the outputs were compared and equal, the figures and
ratios are there, and the run's topics are gone afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(900),
    pytest.mark.skipif(
        os.environ.get("MOODSTREAM_BENCH_PEERS") != "1",
        reason="set MOODSTREAM_BENCH_PEERS=1 (the peers' venvs need PyPI downloads)",
    ),
]


def test_peers_bench_drains_the_same_backlog_in_each_system(
    kafka_bootstrap: str, demo_models: Path, tmp_path: Path
) -> None:
    out = tmp_path / "peers.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOODSTREAM_")}
    env.update(
        {
            "MOODSTREAM_KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap,
            "MOODSTREAM_MODELS__DIR": str(demo_models),
        }
    )
    command = ["bench", "--peers", "--rounds", "2", "--events", "600", "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "consumer", *command],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["outputs_equal"] is True
    assert set(doc["medians"]) == {"moodstream", "arroyo", "quix"}
    assert [run["system"] for run in doc["runs"]] == [
        "moodstream", "arroyo", "quix", "arroyo", "quix", "moodstream",
    ]  # fmt: skip
    for run in doc["runs"]:
        assert run["missing"] == 0 and run["outputs"] == 600
        assert run["events_per_s"] and run["events_per_cpu_s"]
    assert len(doc["outputs"]["compared"]) == 5  # every run but the reference
    assert doc["ratios"]["events_per_s"]["ratio"] is not None
    assert doc["machine"]["load_avg_end"] is not None
    assert "moodstream / best peer" in done.stdout
    own = doc["engine_own"]  # two engine_cost runs on the same backlog
    assert len(own["own_us"]) == 2 and all(run["events"] == 600 for run in own["runs"])
    assert own["median_us"] > 0 and "engine's own CPU per event" in done.stdout
    topics = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10).topics
    assert not [name for name in topics if name.startswith(f"bench.{doc['run_id']}.")]

"""``moodstream demo --samples USERS`` against the real broker: both stages run, the
minute samples of the reference producer become weeks, the weeks predictions with their
coverage, the summary says so, and nothing of the demo is left running."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

from consumer.kafka.admin import create_topics, delete_topics, wait_for_topics
from consumer.settings import TopicSettings
from tests.integration.harness import REPO, service_env, wait_for
from tests.integration.test_operator_demo import _session_members

pytestmark = pytest.mark.integration

BOUND_S: Final = 240.0
PARTITIONS: Final = 2


@pytest.fixture
def demo_topics(kafka_bootstrap: str) -> Iterator[TopicSettings]:
    """Every topic of both stages, fresh; deleted afterwards."""
    suffix = uuid.uuid4().hex[:12]
    roles = (*TopicSettings().by_role(), *TopicSettings().windows_by_role())
    names_by_role = {role: f"demo.{role}.{suffix}" for role in roles}
    topics = TopicSettings.model_validate(
        {**names_by_role, "partitions": PARTITIONS, "replication_factor": 1}
    )
    names = list(topics.every())
    admin = {"bootstrap.servers": kafka_bootstrap}
    create_topics(admin, names, PARTITIONS, replication=1)
    wait_for_topics(admin, names, 30)
    yield topics
    delete_topics(admin, names)


def test_the_demo_with_samples_shows_weeks_scored_with_their_coverage(
    kafka_bootstrap: str, demo_topics: TopicSettings, unique_group: str, tmp_path: Path
) -> None:
    env = service_env(kafka_bootstrap, demo_topics, unique_group, MODELS__WARMUP="false")
    args = ["--workers", "1", "--count", "20", "--rate", "50", "--activity-share", "0"]
    args += ["--samples", "3", "--seed", "11", "--timeout-s", str(BOUND_S)]
    demo = subprocess.Popen(
        [sys.executable, "-m", "consumer", "demo", *args],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = demo.communicate(timeout=BOUND_S + 120)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert demo.returncode == 0, output[-3000:]
    assert "starting the windows stage" in output and "Traceback" not in output
    [windows] = [ln for ln in output.splitlines() if ln.startswith("windows: ")]
    scored = re.search(r"weeks scored (\d+) \(coverage median (\d\.\d+)\)", windows)
    assert scored is not None, windows
    assert int(scored.group(1)) >= 1 and 0.8 <= float(scored.group(2)) <= 1.0, windows
    summary = next(ln for ln in output.splitlines() if ln.startswith("summary:"))
    assert "events in 20 of 20 planned, predictions out 20 " in summary, summary
    wait_for(lambda: not _session_members(demo.pid), 10, "processes of the demo were left")

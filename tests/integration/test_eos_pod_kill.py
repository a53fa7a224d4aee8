"""A lost pod stalls nobody (issue 25, item 3). Two exactly-once services ("pods" pod-0 and
pod-1, each with its stable ``KAFKA__INSTANCE_ID``) share one input topic under a paced
producer (600 events/s). pod-0 is SIGKILLed mid-stream, its whole process group
(supervisor and worker): nothing leaves the group, and its open transaction, records
already written, is never ended by the client. The kubelet restarts a killed container in
the same pod, so pod-0 is started again with the same instance id: its ``init_transactions``
fences the dead producer and aborts that transaction at once (without it the broker
aborts it only after ``transaction.timeout.ms``, 60 s; measured 65 s). A read_committed
reader of every predictions partition (no group) then finds each event exactly once, and
no event acknowledged after the kill waited more than 15 s until its prediction was
readable under read_committed (RELIABILITY.md, "A lost pod").
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from functools import partial
from pathlib import Path

import pytest

from consumer.chaos.accounting import first_arrivals, totals
from consumer.chaos.traffic import PacedProducer, PredictionReader
from tests.integration.harness import REPO, Stream, free_port, wait_for

pytestmark = pytest.mark.integration

RATE_PER_S = 600
AFTER_KILL_S = 25.0  # produced after the kill: the 10 s session timeout, the rebalance, 15 s
MAX_WAIT_S = 15.0  # the bound for an event produced after the kill


@contextmanager
def _pod(env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[str]]:
    """`moodstream run` in its own process group (so it can be SIGKILLed whole); SIGTERM,
    then SIGKILL of the group, on exit."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "consumer", "run"],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            text=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=45)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _assigned(env: dict[str, str]) -> bool:
    """Whether the service's /readyz names a worker with partitions assigned."""
    url = f"http://127.0.0.1:{env['MOODSTREAM_OBSERVABILITY__PORT']}/readyz"
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            workers = json.loads(resp.read()).get("workers", {})
    except (OSError, ValueError):
        return False
    return any(worker.get("assigned") for worker in workers.values())


def _fenced_at(log: str) -> float | None:
    """Wall-clock time of the log's first ``transactional_id_fenced`` line, or None."""
    for line in log.splitlines():
        if '"transactional_id_fenced"' in line:
            return datetime.fromisoformat(json.loads(line)["ts"]).timestamp()
    return None


def _produce_until(producer: PacedProducer, since: float, survivor: subprocess.Popen[str]) -> None:
    """Keep the producer going until AFTER_KILL_S worth of events were acknowledged after
    ``since``; then stop it (waits for its acknowledgements)."""
    after = int(RATE_PER_S * AFTER_KILL_S)
    wait_for(
        lambda: sum(at >= since for at in list(producer.acked.values())) >= after,
        3 * AFTER_KILL_S,
        "the producer stalled",
        survivor,
    )
    producer.stop()


def test_a_killed_exactly_once_pod_stalls_no_subscriber(
    stream: Stream, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    envs = [
        stream.env(PROCESSING__GUARANTEE="exactly_once", KAFKA__INSTANCE_ID=f"pod-{i}")
        for i in range(2)
    ]
    config = {"bootstrap.servers": stream.bootstrap}
    reader = PredictionReader(config, stream.topics.predictions, stream.topics.partitions)
    producer = PacedProducer(config, stream.topics.features, RATE_PER_S)
    with ExitStack() as stack:
        victim, survivor = (stack.enter_context(_pod(env, tmp_path / f"pod-{i}.log"))
                            for i, env in enumerate(envs))  # fmt: skip
        for env, process in zip(envs, (victim, survivor), strict=True):
            wait_for(partial(_assigned, env), 120, "nothing assigned", process)
        reader.start()
        producer.start()
        wait_for(lambda: len(reader.predictions) >= 3 * RATE_PER_S, 60, "no predictions")
        killed_at = time.time()
        os.killpg(victim.pid, signal.SIGKILL)  # mid-transaction: one is open nearly always
        victim.wait(30)
        again = {**envs[0], "MOODSTREAM_OBSERVABILITY__PORT": str(free_port())}
        restarted = stack.enter_context(_pod(again, tmp_path / "pod-0-restarted.log"))
        _produce_until(producer, killed_at, survivor)
        wait_for(lambda: reader.have_all(set(producer.acked)), 120, "predictions missing")
        reader.stop()
        log = (tmp_path / "pod-0-restarted.log").read_text(errors="replace")
        assert restarted.poll() is None, log[-3000:]
    events, lost, duplicates = totals(producer.acked, reader.predictions)
    first = first_arrivals(reader.predictions)
    waits = {e: first[e] - at for e, at in producer.acked.items() if at >= killed_at}
    worst = max(waits, key=waits.__getitem__)
    fenced = _fenced_at(log)
    with capsys.disabled():
        print(
            f"\nexactly-once pod kill at {RATE_PER_S}/s: {events} events, {lost} lost, "
            f"{duplicates} duplicates; {len(waits)} acknowledged after the kill, longest "
            f"wait {waits[worst]:.2f} s (acknowledged {producer.acked[worst] - killed_at:.2f} "
            f"s after the kill); restarted pod fenced its predecessor "
            f"{'never' if fenced is None else f'{fenced - killed_at:.2f} s after the kill'}; "
            f"load average {os.getloadavg()[0]:.1f}"
        )
    assert producer.failed == {}
    assert lost == 0 and duplicates == 0
    assert fenced is not None, "the restarted pod fenced nothing"
    assert waits[worst] <= MAX_WAIT_S

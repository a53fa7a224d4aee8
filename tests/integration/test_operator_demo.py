"""``moodstream demo`` leaves nothing behind and shows the service's own error.

The demo runs in a session of its own; after it exits, no process of that session may
be left (service, workers, producer). Was: SIGTERM left the supervisor, two workers and
the producer running under PID 1.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest

from consumer.settings import TopicSettings
from tests.integration.harness import REPO, produce_raw, service_env, wait_for

BOUND_S: Final = 120.0


def _session(sid: int) -> dict[int, str]:
    """pid -> command line of the live processes whose session id is ``sid``."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[3]) == sid and fields[0] != "Z":
                found[int(entry.name)] = (entry / "cmdline").read_text().replace("\0", " ")
        except (OSError, ValueError, IndexError):
            continue
    return found


def _session_members(sid: int) -> list[str]:
    return list(_session(sid).values())


def _kill_session(sid: int) -> None:
    """After a failure: SIGKILL every process the test's demo left (by pid)."""
    for pid in _session(sid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _demo(env: dict[str, str], out: Path, *args: str) -> subprocess.Popen[bytes]:
    """The demo as a terminal would start it. A run launched as a background job (``cmd
    &`` without job control) ignores SIGINT, children inherit that across exec, and an
    ignored SIGINT stays ignored in Python: Ctrl-C could not reach the demo. So this process
    holds Python's own SIGINT handler while it starts the demo (reset to the default by
    exec; the demo's Python then turns SIGINT into KeyboardInterrupt, as in a terminal)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with out.open("wb") as sink:
            return subprocess.Popen(
                [sys.executable, "-m", "consumer", "demo", "--workers", "1", *args],
                env=env,
                cwd=REPO,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize(
    ("signum", "forever"),
    [
        (signal.SIGTERM, False),
        (signal.SIGINT, False),
        (signal.SIGTERM, True),
        (signal.SIGINT, True),
    ],
)
def test_a_signal_to_the_demo_leaves_no_process_behind(
    kafka_bootstrap: str,
    unique_topics: TopicSettings,
    unique_group: str,
    tmp_path: Path,
    signum: signal.Signals,
    forever: bool,
) -> None:
    env = service_env(kafka_bootstrap, unique_topics, unique_group, MODELS__WARMUP="false")
    # Was: one non-JSON record in the topic crashed the demo's view with a traceback.
    produce_raw(kafka_bootstrap, unique_topics.features, [(b"k", b"this is not JSON")])
    out = tmp_path / "demo.out"
    extra = ["--forever"] if forever else ["--count", "100000"]
    demo = _demo(env, out, "--rate", "100", "--activity-share", "0", *extra)
    try:
        wait_for(
            lambda: "predicted      " in out.read_text() and _predicted(out) > 0,
            BOUND_S,
            "the demo never showed predictions",
            alive=demo,
        )
        members = _session_members(demo.pid)
        assert any(" run --workers 1" in m for m in members), members
        assert any(" produce --synthetic" in m for m in members), members
        demo.send_signal(signum)
        code = demo.wait(timeout=BOUND_S)
    finally:
        _kill_session(demo.pid)
        demo.wait()
    assert code == 128 + signum, out.read_text()[-2000:]
    wait_for(lambda: not _session_members(demo.pid), 10, "processes of the demo were left")
    output = out.read_text()
    summary = next(ln for ln in output.splitlines() if ln.startswith("summary:"))
    events_in = int(summary.split("events in ")[1].split()[0].rstrip(","))
    assert 0 < events_in < 100_000, summary  # what was produced, not what was planned
    assert "unreadable records 1," in summary and "Traceback" not in output
    if forever:  # says what it does before the first frame (was: silent for 27 s)
        assert "producing until Ctrl-C at 100/s" in output


def _predicted(out: Path) -> int:
    frames = [ln for ln in out.read_text().splitlines() if "predicted" in ln and "s  in" in ln]
    return int(frames[-1].split("predicted")[1].split()[0]) if frames else 0


def test_the_demo_shows_the_services_own_error(
    kafka_bootstrap: str, unique_topics: TopicSettings, unique_group: str, tmp_path: Path
) -> None:
    """Was: 'exited with 2' and nothing else when the metrics port was taken."""
    env = service_env(kafka_bootstrap, unique_topics, unique_group, MODELS__WARMUP="false")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", int(env["MOODSTREAM_OBSERVABILITY__PORT"])))
        taken.listen()
        demo = subprocess.Popen(
            [sys.executable, "-m", "consumer", "demo", "--workers", "1", "--count", "10"],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        output, _ = demo.communicate(timeout=BOUND_S)
    assert demo.returncode == 2, output
    assert "the service did not become ready (exit 2): moodstream: cannot serve metrics on" in (
        output
    )
    assert "MOODSTREAM_OBSERVABILITY__PORT" in output and "Traceback" not in output
    wait_for(lambda: not _session_members(demo.pid), 10, "processes of the demo were left")


def test_a_killed_demo_leaves_no_process_behind(
    kafka_bootstrap: str, unique_topics: TopicSettings, unique_group: str, tmp_path: Path
) -> None:
    """SIGKILL gives the demo no chance to clean up: the kernel's parent-death signal makes
    its children (service and producer) stop themselves, and the service its workers."""
    env = service_env(kafka_bootstrap, unique_topics, unique_group, MODELS__WARMUP="false")
    out = tmp_path / "demo.out"
    demo = _demo(env, out, "--rate", "100", "--activity-share", "0", "--forever")
    try:
        wait_for(
            lambda: any(" produce --synthetic" in m for m in _session_members(demo.pid)),
            BOUND_S,
            "the demo never started its producer",
            alive=demo,
        )
        demo.send_signal(signal.SIGKILL)
        assert demo.wait(timeout=BOUND_S) == -signal.SIGKILL
        wait_for(lambda: not _session_members(demo.pid), 60, "processes of the demo were left")
    finally:
        _kill_session(demo.pid)

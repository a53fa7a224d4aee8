"""Settings a deployment sets, as the CLI sees them (issue 16 item 6): the example
Secret's ``REPLACE-ME`` hash key is refused, ``OBSERVABILITY__HOST=::`` serves IPv6 and
IPv4 clients, and the lag exporter reports a cluster it cannot read instead of dying."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]


def free_port(family: socket.AddressFamily = socket.AF_INET) -> int:
    with socket.socket(family) as sock:
        sock.bind(("::" if family == socket.AF_INET6 else "127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env_with(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOODSTREAM_")}
    return env | {f"MOODSTREAM_{k}": v for k, v in settings.items()}


@pytest.mark.parametrize("key", ["REPLACE-ME", "replace-me "])
def test_the_example_secrets_placeholder_hash_key_is_refused(key: str) -> None:
    env = env_with(
        OBSERVABILITY__USER_HASH_KEY=key,
        KAFKA__BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}",  # never reached
        KAFKA__CONNECT_TIMEOUT_S="1",
        OBSERVABILITY__PORT="0",
    )
    done = subprocess.run(
        [sys.executable, "-m", "consumer", "run"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("moodstream: ")]
    assert done.returncode == 2, done.stderr[-2000:]
    assert len(lines) == 1 and "OBSERVABILITY__USER_HASH_KEY is a placeholder" in lines[0]
    assert key.strip() not in lines[0]  # a secret's value is never echoed


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_host_any_ipv6_serves_both_families_and_an_unreadable_cluster_is_reported(
    tmp_path: Path,
) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    port = free_port(socket.AF_INET6)
    env = env_with(
        OBSERVABILITY__HOST="::",
        OBSERVABILITY__PORT=str(port),
        KAFKA__BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}",  # nothing listens there
    )
    log = (tmp_path / "lag.log").open("w")
    command = [sys.executable, "-m", "consumer", "lag", "--serve", "--timeout-s", "1"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        status, body = 0, ""
        while '"last_read_ok": false' not in body and time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "lag.log").read_text()
            try:
                status, body = get(f"http://[::1]:{port}/readyz")
            except OSError:
                time.sleep(0.1)
        assert status == 503 and '"last_read_ok": false' in body  # a read failed: unready
        assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200  # IPv4 on the same socket
        status, body = get(f"http://[::1]:{port}/metrics")
        values = {s.name: s.value for f in text_string_to_metric_families(body) for s in f.samples}
        assert values["moodstream_group_lag_read_success"] == 0
        assert "moodstream_group_lag" not in values
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()

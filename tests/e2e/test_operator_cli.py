"""Issue 15: the CLI as an operator meets it with wrong settings, no broker needed.

Each case runs ``moodstream`` as a user does and expects exactly one ``moodstream: ...``
line with the documented exit code (2: settings, 4: the cluster), no traceback, and a
prompt end: an address nobody listens on with a long connect timeout shows any wait.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest

REPO: Final = Path(__file__).resolve().parents[2]
LONG_CONNECT_S: Final = "120"
PROMPT_S: Final = 20.0  # far below LONG_CONNECT_S


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Result:
    code: int
    seconds: float
    stdout: str
    stderr: str

    def line(self) -> str:
        """The one ``moodstream: ...`` line; asserts one, and no traceback."""
        assert "Traceback" not in self.stderr, self.stderr[-3000:]
        lines = [ln for ln in self.stderr.splitlines() if ln.startswith("moodstream: ")]
        assert len(lines) == 1, f"expected one error line, got:\n{self.stderr[-3000:]}"
        return lines[0]


def cli(*args: str, **settings: str) -> Result:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("MOODSTREAM_")}
    env |= {
        "MOODSTREAM_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{_free_port()}",
        "MOODSTREAM_KAFKA__CONNECT_TIMEOUT_S": LONG_CONNECT_S,
        "MOODSTREAM_OBSERVABILITY__PORT": "0",
        "MOODSTREAM_OBSERVABILITY__HOST": "127.0.0.1",
        "MOODSTREAM_MODELS__WARMUP": "false",
    }
    env |= {f"MOODSTREAM_{k}": v for k, v in settings.items()}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "consumer", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    return Result(done.returncode, time.monotonic() - started, done.stdout, done.stderr)


@pytest.mark.parametrize("command", [("topics", "create"), ("run",)])
def test_equal_topic_names_stop_with_one_line(command: tuple[str, ...]) -> None:
    """Was: `topics create` segfaulted (exit 139) after creating some topics, and `run`
    looped (one bad message became 360 records in 12 s)."""
    result = cli(*command, TOPICS__DLQ="mood.features.v1")
    assert result.code == 2
    assert "TOPICS__DLQ and TOPICS__FEATURES are both 'mood.features.v1'" in result.line()


@pytest.mark.parametrize(
    ("setting", "value", "expected"),
    [
        ("KAFKA__EXTRA", "not json", "MOODSTREAM_KAFKA__EXTRA takes JSON"),
        ("KAFKA__EXTRA", '{"no.such.property": "1"}', "No such configuration property"),
        ("KAFKA__EXTRA", '{"linger.ms": "soon"}', "Invalid value"),
        ("KAFKA__SSL_CA_LOCATION", "/nonexistent/ca.pem", "no such file: /nonexistent/ca.pem"),
    ],
)
@pytest.mark.parametrize("command", [("lag",), ("topics", "create")])
def test_settings_that_reach_librdkafka_give_one_line(
    command: tuple[str, ...], setting: str, value: str, expected: str
) -> None:
    """Was: 18-41-line tracebacks."""
    result = cli(*command, **{setting: value})
    assert result.code == 2
    assert expected in result.line()
    assert result.seconds < PROMPT_S


def test_run_stops_on_a_property_librdkafka_refuses_instead_of_crash_looping() -> None:
    """Was: six worker crashes, exit 1, no cause."""
    result = cli("run", KAFKA__EXTRA='{"no.such.property": "1"}')
    assert result.code == 2
    assert 'No such configuration property: "no.such.property"' in result.line()
    assert result.stderr.count('"worker_exited"') == 1, result.stderr[-3000:]


def test_produce_with_no_users_is_refused() -> None:
    """Was: a ValueError traceback."""
    result = cli("produce", "--synthetic", "--users", "0")
    assert result.code == 2 and "--users must be >= 1" in result.line()


@pytest.mark.parametrize(
    ("servers", "expected"),
    [
        ("localhost:notaport", "the port must be a number"),
        (",", "has no host"),
    ],
)
def test_malformed_bootstrap_addresses_fail_at_once(servers: str, expected: str) -> None:
    """Was: 22 s, then 'unreachable'."""
    result = cli("lag", KAFKA__BOOTSTRAP_SERVERS=servers)
    assert result.code == 2 and expected in result.line()
    assert "MOODSTREAM_KAFKA__BOOTSTRAP_SERVERS" in result.line()


def test_an_unresolvable_host_fails_fast() -> None:
    """Was: the whole connect timeout (22 s at 20 s); now within about a second."""
    result = cli("lag", KAFKA__BOOTSTRAP_SERVERS="no-such-host.invalid:9092")
    assert result.code == 4
    assert "cannot resolve the Kafka bootstrap address no-such-host.invalid:9092" in result.line()
    assert result.seconds < PROMPT_S, f"took {result.seconds:.1f} s"


def test_an_infinite_connect_timeout_is_refused() -> None:
    """Was: accepted, then `lag` hung."""
    result = cli("lag", KAFKA__CONNECT_TIMEOUT_S="inf")
    assert result.code == 2 and "MOODSTREAM_KAFKA__CONNECT_TIMEOUT_S" in result.line()
    assert cli("lag", "--timeout-s", "inf").code == 2


def test_unknown_variables_are_named_with_the_closest_setting() -> None:
    misspelt = {"PROCESING__WORKERS": "3", "KAFKA_BOOTSTRAP_SERVERS": "b:1"}
    result = cli("config", "--json", KAFKA__GROUP_ID="g", **misspelt)
    assert result.code == 0, result.stderr
    warnings = [ln for ln in result.stderr.splitlines() if ln.startswith("moodstream warning:")]
    assert warnings == [
        "moodstream warning: unknown setting MOODSTREAM_KAFKA_BOOTSTRAP_SERVERS is ignored "
        "(did you mean MOODSTREAM_KAFKA__BOOTSTRAP_SERVERS?)",
        "moodstream warning: unknown setting MOODSTREAM_PROCESING__WORKERS is ignored "
        "(did you mean MOODSTREAM_PROCESSING__WORKERS?)",
    ]
    document = json.loads(result.stdout)
    assert document["MOODSTREAM_KAFKA__GROUP_ID"] == {"value": "g", "source": "env"}
    assert document["MOODSTREAM_PROCESSING__WORKERS"] == {"value": 1, "source": "default"}


def test_config_redacts_secrets() -> None:
    result = cli("config", KAFKA__SASL_PASSWORD="hunter2-never-shown")
    assert result.code == 0, result.stderr
    row = next(ln for ln in result.stdout.splitlines() if "SASL_PASSWORD" in ln).split()
    assert row == ["MOODSTREAM_KAFKA__SASL_PASSWORD", "env", "***"]
    assert "hunter2" not in result.stdout + result.stderr


@pytest.mark.parametrize("rate", ["0", "-5", "inf"])
def test_demo_refuses_a_rate_that_cannot_work(rate: str) -> None:
    """Was: --rate 0 accepted, then a silent failure."""
    result = cli("demo", "--rate", rate)
    assert result.code == 2 and "--rate must be" in result.line()


def test_lag_help_has_no_raw_markup() -> None:
    result = cli("lag", "--help")
    assert result.code == 0 and "``" not in result.stdout
    assert "never committed" in result.stdout

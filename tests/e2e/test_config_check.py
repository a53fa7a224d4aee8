"""Issue 28: ``moodstream config --check`` runs every check ``run`` makes before Kafka and
fails as ``run`` fails: the same one line, the same exit code. Plain ``config`` exiting 0
on settings ``run`` refuses was the complaint.

Each case runs the CLI as a user does, against an address nobody listens on (nothing may
be contacted), with a copy of the demo models (``models/demo`` or a tiny set).
"""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_operator_cli import Result, cli


@pytest.fixture
def models(demo_models: Path, tmp_path: Path) -> Path:
    target = tmp_path / "models"
    shutil.copytree(demo_models, target)
    return target


def moodstream(models_dir: Path, *args: str, **settings: str) -> Result:
    """``moodstream ARGS`` as ``test_operator_cli.cli`` runs it, with ``models_dir``."""
    return cli(*args, MODELS__DIR=str(models_dir), **settings)


def test_good_settings_pass_every_check(models: Path) -> None:
    result = moodstream(models, "config", "--check", "--json")
    assert result.code == 0, result.stderr[-3000:]
    document = json.loads(result.stdout)
    assert document["ok"] is True and len(document["model_set"]) == 64
    checks = " | ".join(document["checks"])
    for what in ("settings", "user hash key", "models in", "metrics address", "KAFKA__EXTRA"):
        assert what in checks


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"OBSERVABILITY__USER_HASH_KEY": "REPLACE-ME"}, "USER_HASH_KEY is a placeholder"),
        ({"KAFKA__EXTRA": '{"no.such.property": "1"}'}, "No such configuration property"),
    ],
)
def test_check_refuses_what_run_refuses_with_runs_words(
    models: Path, settings: dict[str, str], expected: str
) -> None:
    plain = moodstream(models, "config", **settings)
    assert plain.code == 0  # plain `config` only shows the settings
    check = moodstream(models, "config", "--check", **settings)
    run = moodstream(models, "run", **settings)
    assert check.code == run.code == 2
    assert expected in check.line()
    assert check.line() == run.line()


def test_check_refuses_a_checksum_mismatch_as_run_does(models: Path) -> None:
    manifest = json.loads((models / "manifest.json").read_text())
    victim = models / manifest["models"][0]["file"]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    check = moodstream(models, "config", "--check")
    run = moodstream(models, "run")
    assert check.code == run.code == 1
    assert "sha256" in check.line() or "checksum" in check.line()
    assert check.line() == run.line()


def test_check_refuses_a_missing_models_dir(tmp_path: Path) -> None:
    check = moodstream(tmp_path / "nowhere", "config", "--check")
    assert check.code == 1
    assert "no manifest.json" in check.line() and "MOODSTREAM_MODELS__DIR" in check.line()


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield int(sock.getsockname()[1])


def test_check_refuses_a_taken_metrics_port(models: Path, taken_port: int) -> None:
    check = moodstream(models, "config", "--check", OBSERVABILITY__PORT=str(taken_port))
    assert check.code == 2
    assert f"cannot serve metrics on 127.0.0.1:{taken_port}" in check.line()
    assert "MOODSTREAM_OBSERVABILITY__PORT" in check.line()


def test_check_refuses_settings_that_do_not_parse_as_json_under_json(models: Path) -> None:
    check = moodstream(models, "config", "--check", "--json", KAFKA__EXTRA="not json")
    assert check.code == 2 and check.stdout == ""
    error = json.loads(check.stderr.strip().splitlines()[-1])["error"]
    assert error["class"] == "ConfigError" and error["exit_code"] == 2
    assert error["message"].startswith("invalid settings: MOODSTREAM_KAFKA__EXTRA is not JSON")


def test_a_command_gives_up_at_its_timeout_with_exit_124(tmp_path: Path) -> None:
    """``produce`` waits for a cluster nobody runs (the connect timeout is 120 s): the
    generic ``--timeout-s`` ends it first, as one JSON error under ``--json``."""
    result = moodstream(tmp_path, "produce", "--synthetic", "--count", "1", "--timeout-s", "2")
    assert result.code == 124
    assert result.line() == "moodstream: gave up after --timeout-s 2 s"
    as_json = moodstream(tmp_path, "produce", "--synthetic", "--timeout-s", "1", "--json")
    error = json.loads(as_json.stderr.strip().splitlines()[-1])["error"]
    assert as_json.code == 124 and error["class"] == "CommandTimedOut"


def test_run_stops_as_on_sigterm_at_its_timeout(models: Path) -> None:
    """``run --timeout-s``: a graceful stop (exit 0), not a failure, long before the
    cluster nobody runs could be given up on."""
    result = moodstream(models, "run", "--timeout-s", "2", PROCESSING__SHUTDOWN_TIMEOUT_S="5")
    assert result.code == 0, result.stderr[-3000:]
    assert '"supervisor_stopped"' in result.stderr

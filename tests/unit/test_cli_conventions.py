"""Issue 28, item 6: one CLI convention. Every command has ``--json`` (a flag) and
``--timeout-s``; errors are rendered once, as JSON under ``--json``; the exit codes are one
enum with one meaning each, documented in docs/cli.md; old spellings still work, with a
deprecation line. In-process (``cli.main``), no broker needed."""

from __future__ import annotations

import argparse
import json
import re
import signal
from pathlib import Path
from typing import Any, Final

import pytest

from consumer.cli import build_parser, main
from consumer.commands.conventions import (
    DEADLINE,
    arm_deadline,
    disarm_deadline,
    error_document,
    json_and_out,
    leaf_parsers,
    wants_json,
)
from consumer.errors import (
    CommandTimedOut,
    ConfigError,
    ExitCode,
    KafkaSetupError,
    ModelLoadError,
    MoodstreamError,
    PoisonFloodError,
)

REPO: Final = Path(__file__).resolve().parents[2]
ROW = re.compile(r"^\| (\d+) \| ([A-Z_]+) \| (.+) \|$")


def _documented_codes() -> dict[int, str]:
    text = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    table = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    return {int(m[1]): m[2] for line in table.splitlines() if (m := ROW.match(line))}


def test_every_documented_exit_code_is_the_enum_and_the_enum_is_documented() -> None:
    documented = _documented_codes()
    assert documented == {int(code): code.name for code in ExitCode}
    assert len(set(documented.values())) == len(documented)  # one name, one meaning each


def test_errors_carry_distinct_codes_from_the_enum() -> None:
    from consumer.commands import broker, cluster, score

    codes: dict[type[MoodstreamError], int] = {
        ConfigError: 2,
        KafkaSetupError: 4,
        ModelLoadError: 1,
        MoodstreamError: 1,
        PoisonFloodError: 6,
        CommandTimedOut: 124,
    }
    for error, code in codes.items():
        assert isinstance(error.exit_code, ExitCode) and int(error.exit_code) == code, error
    # `broker status` keeps 3 for "not running" (as init scripts do); the poison flood moved
    not_running = {int(broker.EXIT_NOT_RUNNING), int(cluster.EXIT_NOT_RUNNING)}
    assert not_running == {int(ExitCode.NOT_RUNNING)} == {3}
    assert int(score.EXIT_DIFFERENT) == int(ExitCode.DIFFERS) == 5


def test_the_workers_exit_codes_are_the_commands() -> None:
    from consumer.commands.run import PoisonFloodExit
    from consumer.service.worker import ExitCode as WorkerExit

    pairs = [
        (WorkerExit.CONFIG, ExitCode.CONFIG),
        (WorkerExit.KAFKA_SETUP, ExitCode.KAFKA),
        (WorkerExit.POISON_FLOOD, ExitCode.POISON_FLOOD),
        (WorkerExit.CRASHED, ExitCode.FAILED),
    ]
    assert all(int(worker) == int(command) for worker, command in pairs)
    assert int(PoisonFloodExit.exit_code) == int(ExitCode.POISON_FLOOD)


def _leaves() -> dict[str, argparse.ArgumentParser]:
    return {leaf.prog: leaf for leaf in leaf_parsers(build_parser())}


def test_every_command_has_a_json_flag_and_timeout_s() -> None:
    leaves = _leaves()
    assert "moodstream run" in leaves and "moodstream broker status" in leaves
    assert len(leaves) >= 20
    for prog, parser in leaves.items():
        options = parser._option_string_actions
        assert "--json" in options and "--timeout-s" in options, prog
        flag = options["--json"]
        # a flag: takes no value (or, for bench/chaos, an optional deprecated PATH)
        assert flag.nargs == 0 or (flag.nargs == "?" and flag.const is True), prog
        assert "--timeout" not in options or options["--timeout"].help == argparse.SUPPRESS


@pytest.mark.parametrize(
    "command", [["run"], ["demo"], ["tail", "features"], ["lag"], ["dlq", "redrive"]]
)
def test_a_command_with_its_own_wait_keeps_its_timeout(command: list[str]) -> None:
    args = build_parser(command).parse_args([*command, "--timeout-s", "5"])
    assert getattr(args, DEADLINE, None) is None  # no generic deadline: its own bound


def test_other_commands_get_the_generic_deadline() -> None:
    args = build_parser(["config"]).parse_args(["config", "--timeout-s", "2.5"])
    assert getattr(args, DEADLINE) == 2.5


def test_the_deadline_raises_timed_out_in_the_main_thread() -> None:
    arm_deadline(0.05)
    try:
        with pytest.raises(CommandTimedOut, match=r"gave up after --timeout-s 0\.05 s"):
            signal.pause()  # returns only through the alarm's exception
    finally:
        disarm_deadline()
    with pytest.raises(ConfigError, match="--timeout-s must be a finite number"):
        arm_deadline(float("inf"))


def test_a_timeout_that_cannot_work_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["config", "--timeout-s", "0", "--json"])
    assert code == ExitCode.CONFIG  # 0 is refused before anything runs
    error = json.loads(capsys.readouterr().err.strip().splitlines()[-1])["error"]
    assert error["message"] == "--timeout-s must be a finite number of seconds > 0"


def test_error_document_shape() -> None:
    exc = KafkaSetupError("cannot resolve the Kafka bootstrap address x:1")
    assert error_document(exc) == {
        "error": {
            "class": "KafkaSetupError",
            "message": "cannot resolve the Kafka bootstrap address x:1",
            "exit_code": 4,
            "hint": KafkaSetupError.hint,
        }
    }
    assert KafkaSetupError.hint and ConfigError.hint and CommandTimedOut.hint


def _json_error(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    captured = capsys.readouterr()
    assert captured.out == ""  # stdout carries results only
    lines = [ln for ln in captured.err.splitlines() if ln.startswith('{"error"')]
    assert len(lines) == 1, captured.err
    document = json.loads(lines[0])
    assert set(document["error"]) == {"class", "message", "exit_code", "hint"}
    return dict(document["error"])


def test_a_usage_error_is_json_under_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lag", "--no-such-flag", "--json"]) == 2
    error = _json_error(capsys)
    assert error["class"] == "UsageError" and error["exit_code"] == 2
    assert "unrecognized arguments: --no-such-flag" in error["message"]


def test_a_usage_error_is_argparse_text_without_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tail"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: moodstream tail")
    assert "moodstream tail: error: the following arguments are required: topic" in err


def test_a_settings_error_is_json_under_json(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOODSTREAM_PROCESSING__WORKERS", "0")
    assert main(["config", "--json"]) == 2
    error = _json_error(capsys)
    assert error["class"] == "ConfigError"
    assert error["message"] == (
        "invalid settings: MOODSTREAM_PROCESSING__WORKERS: Input should be greater than or "
        "equal to 1"
    )


def test_a_command_error_is_json_under_json(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOODSTREAM_OBSERVABILITY__USER_HASH_KEY", "REPLACE-ME")
    assert main(["run", "--json"]) == 2
    error = _json_error(capsys)
    assert error["message"].startswith("MOODSTREAM_OBSERVABILITY__USER_HASH_KEY is a placeholder")


def test_wants_json_stops_at_a_double_dash() -> None:
    assert wants_json(["lag", "--json"]) and wants_json(["bench", "--json=x.json"])
    assert not wants_json(["produce", "--", "--json"]) and not wants_json(["lag"])


def test_bench_and_chaos_take_json_as_a_flag_and_out_as_the_file(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for command in ("bench", "chaos"):
        parser = build_parser([command])
        args = parser.parse_args([command, "--json", "--out", "r.json"])
        assert json_and_out(args) == (True, Path("r.json"))
        assert json_and_out(parser.parse_args([command])) == (False, None)
        old = parser.parse_args([command, "--json", "old.json"])
        assert json_and_out(old) == (False, Path("old.json"))  # the old spelling, one release
        assert "--json PATH is deprecated, use --out old.json" in capsys.readouterr().err
        both = parser.parse_args([command, "--json", "a.json", "--out", "b.json"])
        with pytest.raises(ConfigError, match="give the file once"):
            json_and_out(both)


@pytest.mark.parametrize("command", [["tail", "features"], ["demo"]])
def test_the_old_timeout_spelling_still_works_with_a_warning(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    args = build_parser(command).parse_args([*command, "--timeout", "7"])
    assert args.timeout == 7.0
    assert "--timeout is deprecated, use --timeout-s" in capsys.readouterr().err
    assert build_parser(command).parse_args([*command, "--timeout-s", "8"]).timeout == 8.0


def test_models_add_json_prints_only_the_result_on_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from schemas.events import FEATURE_NAMES
    from tests.unit.models.test_models_add import _booster

    path = _booster(tmp_path / "mine.ubj", 1, list(FEATURE_NAMES))
    models_dir = tmp_path / "models"
    argv = ["models", "add", str(path), "--name", "mania", "--dir", str(models_dir), "--json"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["name"] == "mania" and result["models_dir"] == str(models_dir)
    assert (models_dir / result["file"]).is_file() and len(result["sha256"]) == 64
    assert "listed mania" in captured.err  # the words for people, on stderr


def test_an_os_error_is_one_line_or_one_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    from consumer.commands.conventions import report_error

    exc = PermissionError(13, "Permission denied", "/root/out.json")
    assert report_error(exc, as_json=False) == 1
    assert capsys.readouterr().err == (
        "moodstream: [Errno 13] Permission denied: '/root/out.json'\n"
    )
    assert report_error(exc, as_json=True) == 1
    error = json.loads(capsys.readouterr().err)["error"]
    assert error == {
        "class": "PermissionError",
        "message": "[Errno 13] Permission denied: '/root/out.json'",
        "exit_code": 1,
        "hint": "",
    }


def test_text_tables_align_columns_to_the_widest_cell_without_trailing_spaces() -> None:
    from consumer.commands.text_table import aligned

    lines = aligned([("A", "LONG HEADER", "Z"), ("wide cell", "x", "")])
    assert lines == ["A          LONG HEADER  Z", "wide cell  x"]
    with pytest.raises(ValueError):
        aligned([("A", "B"), ("only one",)])

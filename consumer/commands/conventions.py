"""The one CLI convention every ``moodstream`` command follows (docs/cli.md).

- ``--json`` is a flag: the result as JSON on stdout, and an error as one JSON object
  ``{"error": {"class", "message", "exit_code", "hint"}}`` on stderr (stdout carries only
  results). Where a file is written, ``--out PATH`` names it.
- ``--timeout-s S``: a command with its own wait (``lag``, ``dlq redrive``, ``tail``,
  ``demo``, ``run``) says what it bounds; every other command gives up after S seconds
  with exit 124 (:class:`~consumer.errors.CommandTimedOut`).
- Exit codes: :class:`~consumer.errors.ExitCode`, one meaning each.

:func:`add_conventions` gives every command that lacks them ``--json`` and ``--timeout-s``;
``cli.main`` renders every error through :func:`report_error`. Nothing here blocks.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from consumer.errors import CommandTimedOut, ConfigError, ExitCode, MoodstreamError

#: ``dest`` of the generic ``--timeout-s`` (a command's own ``--timeout-s`` uses its own).
DEADLINE = "deadline_s"


class UsageError(ConfigError):
    """argparse refused the command line (exit 2, as argparse's own)."""

    hint = "`moodstream COMMAND --help` lists a command's arguments"

    def __init__(self, message: str, parser: argparse.ArgumentParser) -> None:
        super().__init__(message)
        self.parser = parser


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are raised (``UsageError``), so that
    ``cli.main`` renders them like every other error (as JSON under ``--json``)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self)


def wants_json(argv: list[str]) -> bool:
    """Whether the command line asks for ``--json`` (before a ``--``). Pure."""
    head = argv[: argv.index("--")] if "--" in argv else argv
    return any(a == "--json" or a.startswith("--json=") for a in head)


def report_error(exc: MoodstreamError | OSError, as_json: bool) -> int:
    """Print ``exc`` on stderr: ``moodstream: <message>`` (a usage error: the usage line
    and argparse's ``prog: error: message``), or one JSON object. Returns its exit code
    (1 for an OSError)."""
    code = int(getattr(exc, "exit_code", ExitCode.FAILED))
    if as_json:
        print(json.dumps(error_document(exc)), file=sys.stderr, flush=True)
    elif isinstance(exc, UsageError):
        exc.parser.print_usage(sys.stderr)
        print(f"{exc.parser.prog}: error: {exc}", file=sys.stderr, flush=True)
    else:
        print(f"moodstream: {exc}", file=sys.stderr, flush=True)
    return code


def error_document(exc: MoodstreamError | OSError) -> dict[str, Any]:
    """``{"error": {"class", "message", "exit_code", "hint"}}`` for ``exc``. Pure."""
    return {
        "error": {
            "class": type(exc).__name__,
            "message": str(exc),
            "exit_code": int(getattr(exc, "exit_code", ExitCode.FAILED)),
            "hint": getattr(exc, "hint", ""),
        }
    }


def leaf_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """Every parser under ``parser`` that runs a command (has a ``handler`` default)."""
    if parser.get_default("handler") is not None:
        yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                yield from leaf_parsers(child)


def add_conventions(parser: argparse.ArgumentParser) -> None:
    """Add ``--json`` and ``--timeout-s`` to every command that does not define them."""
    for leaf in leaf_parsers(parser):
        options = leaf._option_string_actions
        if "--json" not in options:
            leaf.add_argument(
                "--json", action="store_true", help="an error as one JSON object on stderr"
            )
        if "--timeout-s" not in options:
            leaf.add_argument(
                "--timeout-s",
                dest=DEADLINE,
                type=float,
                default=None,
                metavar="S",
                help="give up after S seconds (exit 124)",
            )


@contextmanager
def text_to_stderr(as_json: bool) -> Iterator[None]:
    """Under ``--json``, what a command prints for people goes to stderr, so that stdout
    carries only the JSON result. Without it, nothing changes."""
    if not as_json:
        yield
        return
    with redirect_stdout(sys.stderr):
        yield


def positive_seconds(value: float | None, flag: str) -> float | None:
    """``value`` when it is a finite number of seconds above 0 (or None); else ConfigError."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{flag} must be a finite number of seconds > 0")
    return value


def _timed_out(seconds: float) -> Any:
    def handler(_signum: int, _frame: FrameType | None) -> None:
        raise CommandTimedOut(f"gave up after --timeout-s {seconds:g} s")

    return handler


def arm_deadline(seconds: float | None) -> None:
    """From now, ``seconds`` later raise CommandTimedOut in the main thread (SIGALRM,
    between two Python steps). None: no deadline. Raises ConfigError for a bad value."""
    if positive_seconds(seconds, "--timeout-s") is None:
        return
    assert seconds is not None
    signal.signal(signal.SIGALRM, _timed_out(seconds))
    signal.setitimer(signal.ITIMER_REAL, seconds)


def disarm_deadline() -> None:
    """Cancel a deadline set by :func:`arm_deadline` (a no-op without one)."""
    signal.setitimer(signal.ITIMER_REAL, 0)


class _Deprecated(argparse.Action):
    """An old spelling that still works for one release, with a note on stderr."""

    def __init__(self, *args: Any, new: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.new = new

    def __call__(
        self, parser: Any, namespace: Any, values: Any, option_string: str | None = None
    ) -> None:
        print(
            f"moodstream warning: {option_string} is deprecated, use {self.new}",
            file=sys.stderr,
        )
        setattr(namespace, self.dest, values)


def deprecated_option(parser: argparse.ArgumentParser, old: str, new: str, dest: str) -> None:
    """Accept ``old`` (hidden from --help) as ``new``, with a deprecation line on stderr."""
    parser.add_argument(
        old, dest=dest, type=float, action=_Deprecated, new=new, help=argparse.SUPPRESS
    )


def add_json_and_out(parser: argparse.ArgumentParser, out_help: str) -> None:
    """``--json`` (flag: the results as JSON on stdout) and ``--out PATH`` (the file). The
    old ``--json PATH`` still writes PATH, with a deprecation line (see json_and_out)."""
    parser.add_argument(
        "--json",
        nargs="?",
        const=True,
        default=False,
        metavar="PATH",
        help="print the results as JSON on stdout, the table on stderr (--json PATH: "
        "deprecated spelling of --out PATH)",
    )
    parser.add_argument("--out", type=Path, default=None, metavar="PATH", help=out_help)


def json_and_out(args: argparse.Namespace) -> tuple[bool, Path | None]:
    """``(as_json, out)`` from add_json_and_out's options; ``--json PATH`` (deprecated)
    means ``--out PATH``. Raises ConfigError when both name a file."""
    if isinstance(args.json, str):
        if args.out is not None:
            raise ConfigError("give the file once: --out PATH (--json is a flag now)")
        print(
            f"moodstream warning: --json PATH is deprecated, use --out {args.json} "
            "(--json alone prints the results as JSON)",
            file=sys.stderr,
        )
        return False, Path(args.json)
    return bool(args.json), args.out

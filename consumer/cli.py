"""The ``moodstream`` command: a thin dispatcher over ``consumer.commands.*``.

Each command module exposes ``register(subparsers) -> None``; the parser it adds
sets ``handler`` (``Callable[[argparse.Namespace, Settings], int]``) as a default.
Settings are read once here, so every command agrees on topics, group and cluster.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence

from pydantic import ValidationError
from pydantic_settings import SettingsError

from consumer import __version__
from consumer.commands.conventions import (
    DEADLINE,
    Parser,
    add_conventions,
    arm_deadline,
    disarm_deadline,
    report_error,
    wants_json,
)
from consumer.errors import ConfigError, ExitCode, MoodstreamError
from consumer.settings import Settings
from consumer.settings_env import error_line, unknown_variables, unparsable_line

COMMAND_MODULES = (
    "broker",
    "registry",
    "topics",
    "acls",
    "run",
    "produce",
    "tail",
    "lag",
    "dlq",
    "config",
    "models",
    "bench",
    "demo",
    "chaos",
    "schemas",
    "score",
)

Handler = Callable[[argparse.Namespace, Settings], int]


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``moodstream`` parser. Given ``argv`` naming a subcommand, only that command's
    module is imported (``moodstream run`` loads nothing of the bench, chaos, demo or
    local-broker tooling); otherwise every command is registered, for help and errors."""
    parser = Parser(
        prog="moodstream",
        description="Streaming mood-episode risk prediction on Kafka (XGBoost + PAT ensemble). "
        "Settings come from MOODSTREAM_* environment variables.",
    )
    parser.add_argument("--version", action="version", version=f"moodstream {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    first = next((a for a in argv or () if not a.startswith("-")), None)
    names = (first,) if first in COMMAND_MODULES else COMMAND_MODULES
    for name in names:
        try:
            module = importlib.import_module(f"consumer.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"consumer.commands.{name}":
                raise
            continue
        module.register(sub)
    add_conventions(parser)
    return parser


def load_settings() -> Settings:
    """Warn (stderr) about every unknown ``MOODSTREAM_*`` variable, then read the settings.

    Raises ConfigError (exit 2) with one line on any invalid value.
    """
    for unknown in unknown_variables(Settings, os.environ):
        print(f"moodstream warning: {unknown.warning()}", file=sys.stderr)
    try:
        return Settings()
    except ValidationError as exc:
        lines = [error_line(Settings, tuple(e["loc"]), e["msg"]) for e in exc.errors()]
        raise ConfigError("invalid settings: " + "; ".join(lines)) from None
    except SettingsError as exc:
        detail = str(exc.__cause__ or exc)
        raise ConfigError(
            "invalid settings: " + unparsable_line(Settings, os.environ, detail)
        ) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every error it raises on purpose is rendered here, once (text, or
    JSON under ``--json``: see ``commands/conventions.py``). Returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = wants_json(argv)
    try:
        args = build_parser(argv).parse_args(argv)
        settings = load_settings()
        handler: Handler = args.handler
        arm_deadline(getattr(args, DEADLINE, None))
        try:
            return handler(args, settings)
        finally:
            disarm_deadline()  # before an error is reported: that must not time out
    except (MoodstreamError, OSError) as exc:  # OSError: a file or socket the user named
        return report_error(exc, as_json)
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED

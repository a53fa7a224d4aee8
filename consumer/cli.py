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
from consumer.errors import ConfigError, MoodstreamError
from consumer.settings import Settings
from consumer.settings_env import unknown_variables

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
    parser = argparse.ArgumentParser(
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
    return parser


def _settings_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = "__".join(str(p).upper() for p in err["loc"])
        parts.append(f"MOODSTREAM_{where}: {err['msg']}" if where else err["msg"])
    return "invalid settings: " + "; ".join(parts)


def _unparsable(exc: SettingsError) -> str:
    """pydantic-settings' message names the group (``kafka``); say what to fix."""
    cause = f" ({exc.__cause__})" if exc.__cause__ is not None else ""
    return (
        f"invalid settings: {exc}{cause}; a dict setting such as MOODSTREAM_KAFKA__EXTRA "
        'takes JSON, for example {"fetch.min.bytes": "1"}'
    )


def load_settings() -> Settings:
    """Warn (stderr) about every unknown ``MOODSTREAM_*`` variable, then read the settings.

    Raises ConfigError (exit 2) with one line on any invalid value.
    """
    for unknown in unknown_variables(Settings, os.environ):
        print(f"moodstream warning: {unknown.warning()}", file=sys.stderr)
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(_settings_error(exc)) from None
    except SettingsError as exc:
        raise ConfigError(_unparsable(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"moodstream: {exc}", file=sys.stderr)
        return exc.exit_code
    handler: Handler = args.handler
    try:
        return handler(args, settings)
    except MoodstreamError as exc:
        print(f"moodstream: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130

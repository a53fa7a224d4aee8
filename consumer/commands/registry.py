"""``moodstream registry start|stop|status``: the local Schema Registry (Apicurio, in
memory, on 127.0.0.1), built once from Maven Central.

stdout carries only the result (the URL for ``SCHEMA_REGISTRY__URL``, or JSON with
``--json``); progress goes to stderr. ``status`` exits 0 when it runs and 3 when not.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from consumer.localkafka.registry import LocalRegistry
from consumer.settings import Settings

EXIT_NOT_RUNNING = 3


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "registry",
        help="run a local Schema Registry (Apicurio, in memory; built once from Maven Central)",
    )
    actions = parser.add_subparsers(dest="registry_action", required=True, metavar="ACTION")
    for name, handler, text in (
        ("start", start_command, "start it (builds it once) and wait until it answers"),
        ("stop", stop_command, "stop it (SIGTERM, then SIGKILL after 30 s); schemas are lost"),
        ("status", status_command, "exit 0 if it runs, 3 if not"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("--json", action="store_true", help="print the result as JSON")
        action.set_defaults(handler=handler)


def _registry(settings: Settings) -> LocalRegistry:
    progress = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    return LocalRegistry(settings.broker, settings.local_registry, progress=progress)


def _emit(as_json: bool, payload: dict[str, Any], text: str) -> None:
    print(json.dumps(payload) if as_json else text, flush=True)


def start_command(args: argparse.Namespace, settings: Settings) -> int:
    """Start the registry. Blocks: the first call builds it (about a minute)."""
    registry = _registry(settings)
    pid = registry.start()
    payload = {
        "url": registry.url,
        "pid": pid,
        "compatibility": settings.local_registry.compatibility,
    }
    _emit(args.json, payload, registry.url)
    return 0


def stop_command(args: argparse.Namespace, settings: Settings) -> int:
    """Stop the registry if it runs. Blocks up to about 40 s."""
    pid = _registry(settings).stop()
    text = (
        f"stopped the local registry (pid {pid})" if pid else "the local registry was not running"
    )
    _emit(args.json, {"stopped": pid is not None, "pid": pid}, text)
    return 0


def status_command(args: argparse.Namespace, settings: Settings) -> int:
    """Report whether the registry runs. Never blocks."""
    status = _registry(settings).status()
    text = f"running (pid {status.pid}) at {status.url}" if status.running else "not running"
    _emit(args.json, {"running": status.running, "url": status.url, "pid": status.pid}, text)
    return 0 if status.running else EXIT_NOT_RUNNING

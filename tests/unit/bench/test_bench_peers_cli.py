"""``moodstream bench --peers``'s command line: its flags, and what it refuses before any
broker or venv is touched."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumer.cli import build_parser
from consumer.commands.bench import PRINT_JSON, handle
from consumer.errors import ConfigError
from consumer.settings import Settings


def test_peers_takes_rounds_events_and_a_bare_json() -> None:
    args = build_parser(["bench"]).parse_args(
        ["bench", "--peers", "--rounds", "2", "--events", "500", "--json"]
    )
    assert args.peers and args.rounds == 2 and args.events == 500
    assert args.json == PRINT_JSON
    named = build_parser(["bench"]).parse_args(["bench", "--peers", "--json", "x.json"])
    assert named.json == Path("x.json") and named.rounds is None


def test_peers_is_a_mode_of_its_own() -> None:
    with pytest.raises(SystemExit):
        build_parser(["bench"]).parse_args(["bench", "--peers", "--quick"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--json"], "--json needs a PATH"),
        (["--rounds", "2"], "go with --peers"),
        (["--peers", "--rounds", "0"], "at least 1"),
        (["--peers", "--events", "0"], "at least 1"),
        (["--peers", "--json", "out.txt"], ".json file"),
    ],
)
def test_wrong_combinations_are_refused_before_any_work(argv: list[str], message: str) -> None:
    args = build_parser(["bench"]).parse_args(["bench", *argv])
    with pytest.raises(ConfigError, match=message):
        handle(args, Settings())


def test_peers_refuse_a_cluster_they_could_not_reach() -> None:
    args = build_parser(["bench"]).parse_args(["bench", "--peers"])
    settings = Settings.model_validate({"kafka": {"security_protocol": "SSL"}})
    with pytest.raises(ConfigError, match="PLAINTEXT"):
        handle(args, settings)

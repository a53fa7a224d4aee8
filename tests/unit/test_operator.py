"""Issue 15 (the first hour of an operator), the pure parts: settings checked against
each other and bounded, unknown variables named, where each setting came from, the
dead-letter summary, JSON-lines input, and the demo's view surviving unreadable records."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from pydantic import ValidationError

from consumer.commands.demo import _account
from consumer.demo.view import DemoTally
from consumer.intake.dead_letter_log import DeadLetterSummary
from consumer.producer.event_lines import Refusals, valid_records
from consumer.settings import KafkaSettings, Settings, TopicSettings
from consumer.settings_env import effective_settings, setting_variables, unknown_variables
from tests.fakes import event_bytes, event_dict

# -- item 2: topic names -------------------------------------------------------------------


def test_equal_topic_names_are_refused_naming_both_settings() -> None:
    with pytest.raises(ValidationError) as caught:
        TopicSettings(dlq="mood.features.v1")
    assert "TOPICS__DLQ and TOPICS__FEATURES are both 'mood.features.v1'" in str(caught.value)
    with pytest.raises(ValidationError, match="TOPICS__ALERTS is empty"):
        TopicSettings(alerts=" ")


# -- items 4 and 7: values that cannot work ------------------------------------------------


@pytest.mark.parametrize(
    ("servers", "why"),
    [
        (",", "has no host"),
        ("localhost:notaport", "the port must be a number"),
        ("b1:9092,:9092", "has no host"),
        ("b1:70000", "the port must be a number"),
    ],
)
def test_bootstrap_addresses_that_cannot_work_are_refused(servers: str, why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        KafkaSettings(bootstrap_servers=servers)


def test_good_bootstrap_addresses_pass() -> None:
    for servers in ("", "b1:9092", "b1:9092, b2:9093", "SASL_SSL://b1:9093", "[::1]:9092", "b1"):
        assert KafkaSettings(bootstrap_servers=servers).bootstrap_servers == servers


@pytest.mark.parametrize("value", ["inf", "nan", "601"])
def test_connect_timeout_must_be_finite_and_bounded(value: str) -> None:
    with pytest.raises(ValidationError, match="connect_timeout_s"):
        KafkaSettings.model_validate({"connect_timeout_s": value})


def test_no_duration_accepts_infinity() -> None:
    with pytest.raises(ValidationError, match="finite"):
        Settings.model_validate({"processing": {"shutdown_timeout_s": "inf"}})


def test_a_missing_tls_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="no such file"):
        KafkaSettings(ssl_ca_location=str(tmp_path / "ca.pem"))
    (tmp_path / "ca.pem").write_text("x")
    assert KafkaSettings(ssl_ca_location=str(tmp_path / "ca.pem")).ssl_ca_location
    assert KafkaSettings(ssl_ca_location="probe").ssl_ca_location == "probe"


# -- item 5: unknown variables, where each setting came from ------------------------------


def test_unknown_variables_name_the_closest_setting() -> None:
    env = {
        "MOODSTREAM_KAFKA_BOOTSTRAP_SERVERS": "b:1",
        "MOODSTREAM_PROCESING__WORKERS": "2",
        "MOODSTREAM_KAFKA__GROUP_ID": "g",  # known
        "moodstream_topics__features": "f",  # known, any case
        "MOODSTREAM_KAFKA__EXTRA__fetch.min.bytes": "1",  # one librdkafka property
        "MOODSTREAM_KAFKA": "{}",  # a whole group as JSON
        "MOODSTREAM_FUZZ_EXAMPLES": "10",  # the test suite's own
        "MOODSTREAM_ZZZ": "1",
        "OTHER_VAR": "1",
    }
    found = {u.name: u.closest for u in unknown_variables(Settings, env)}
    assert found == {
        "MOODSTREAM_KAFKA_BOOTSTRAP_SERVERS": "MOODSTREAM_KAFKA__BOOTSTRAP_SERVERS",
        "MOODSTREAM_PROCESING__WORKERS": "MOODSTREAM_PROCESSING__WORKERS",
        "MOODSTREAM_ZZZ": None,
    }


def test_effective_settings_say_where_each_came_from_and_hide_secrets() -> None:
    settings = Settings.model_validate(
        {
            "kafka": {
                "group_id": "g",
                "sasl_password": "hunter2",
                "extra": {"sasl.oauthbearer.client.secret": "s3", "fetch.min.bytes": "1"},
            }
        }
    )
    env = {
        "MOODSTREAM_KAFKA__GROUP_ID": "g",
        "MOODSTREAM_KAFKA__SASL_PASSWORD": "hunter2",
        "MOODSTREAM_KAFKA__EXTRA": "{}",
    }
    rows = {r.variable: r for r in effective_settings(settings, env)}
    assert rows["MOODSTREAM_KAFKA__GROUP_ID"].source == "env"
    assert rows["MOODSTREAM_KAFKA__GROUP_ID"].value == "g"
    assert rows["MOODSTREAM_KAFKA__CLIENT_ID"].source == "default"
    assert rows["MOODSTREAM_KAFKA__SASL_PASSWORD"].value == "***"
    assert rows["MOODSTREAM_OBSERVABILITY__USER_HASH_KEY"].value == "***"
    assert rows["MOODSTREAM_KAFKA__EXTRA"].value == {
        "sasl.oauthbearer.client.secret": "***",
        "fetch.min.bytes": "1",
    }
    assert rows["MOODSTREAM_PROCESSING__GUARANTEE"].value == "at_least_once"
    assert "hunter2" not in repr(rows) and "s3" not in repr(rows)


# -- item 9: the dead-letter summary line, JSON-lines input --------------------------------


def test_dead_letter_summary_is_rate_limited_and_counts_by_reason() -> None:
    summary = DeadLetterSummary(interval_s=60.0)
    assert summary.due(0.0) is None  # nothing to say
    summary.add("invalid_json")
    assert summary.due(1.0) == {"invalid_json": 1}  # the first one at once
    for _ in range(500):
        summary.add("too_large")
    summary.add("invalid_json")
    assert summary.due(30.0) is None  # too soon
    assert summary.due(61.0) == {"invalid_json": 1, "too_large": 500}
    assert summary.due(200.0) is None  # counts were reset


def test_json_lines_are_validated_and_refusals_counted() -> None:
    good = [event_bytes(seed=i) for i in range(3)]
    missing = orjson.dumps({k: v for k, v in event_dict(seed=9).items() if k != "user_id"})
    lines = [good[0] + b"\n", b"not json\n", b"\n", good[1] + b"\r\n", missing + b"\n", good[2]]
    refusals = Refusals()
    records = list(valid_records(lines, max_bytes=262_144, strict_fields=True, refusals=refusals))
    assert [r.value for r in records] == good
    assert [r.line for r in records] == [1, 4, 6]
    assert [r.key for r in records] == [b"user-0", b"user-1", b"user-2"]
    assert dict(refusals.by_reason) == {"invalid_json": 1, "missing_field": 1}
    assert [(line, reason) for line, reason, _ in refusals.samples] == [
        (2, "invalid_json"),
        (5, "missing_field"),
    ]


# -- item 6: the demo's view -----------------------------------------------------------


class _Msg:
    def __init__(self, topic: str, value: bytes | None, ts_ms: int = 5_000) -> None:
        self._topic, self._value, self._ts = topic, value, ts_ms

    def topic(self) -> str:
        return self._topic

    def value(self) -> bytes | None:
        return self._value

    def timestamp(self) -> tuple[int, int]:
        return (1, self._ts)


def test_the_demo_view_counts_unreadable_records_instead_of_crashing() -> None:
    topics = TopicSettings()
    tally = DemoTally(planned=1, started_at=0.0, since_ms=1_000)
    for msg in (
        _Msg(topics.features, b"\xff not json"),
        _Msg(topics.features, None),
        _Msg(topics.predictions, b"[1, 2]"),
        _Msg(topics.alerts, b"{}"),
        _Msg(topics.features, orjson.dumps({"event_id": "a"})),
        _Msg(topics.predictions, orjson.dumps({"event_id": "a", "partial": False})),
    ):
        _account(tally, msg, topics)
    assert tally.unreadable == 4
    assert tally.consumed == 1 and tally.predicted == {"a"} and tally.done()


def test_forever_counts_this_runs_records_by_time() -> None:
    tally = DemoTally(planned=None, started_at=0.0, since_ms=1_000)
    tally.produced("old", 999)
    tally.produced("new", 1_000)
    tally.prediction(orjson.dumps({"event_id": "old", "partial": False}), 999)
    tally.prediction(orjson.dumps({"event_id": "new", "partial": True}), 1_200)
    assert tally.consumed == 1 and tally.predicted == {"new"} and tally.partial == 1
    assert not tally.done()  # --forever never completes on its own


# -- item 10: the docs document every setting (docs/settings.md) and command (docs/cli.md) ---

REPO = Path(__file__).resolve().parents[2]


def _documented(variable: str, readme: str) -> bool:
    """``GROUP__NAME`` in the README, or ``__NAME`` on a line that names ``GROUP__``."""
    bare = variable.removeprefix("MOODSTREAM_")
    group, _, name = bare.partition("__")
    if f"`{bare}`" in readme or f"MOODSTREAM_{bare}`" in readme:
        return True
    return any(f"`__{name}`" in ln and f"`{group}__" in ln for ln in readme.splitlines())


def test_every_setting_is_in_the_readme() -> None:
    readme = (REPO / "docs" / "settings.md").read_text(encoding="utf-8")
    missing = [v for v in setting_variables(Settings) if not _documented(v, readme)]
    assert missing == []


def test_every_command_is_in_the_readme() -> None:
    import argparse

    from consumer.cli import build_parser

    readme = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")

    def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        return dict(actions[0].choices) if actions else {}

    missing = []
    for name, parser in subcommands(build_parser()).items():
        if f"`moodstream {name}" not in readme:
            missing.append(name)
        for action in subcommands(parser):
            if not any(f"moodstream {name}" in ln and action in ln for ln in readme.splitlines()):
                missing.append(f"{name} {action}")
    assert missing == []


def test_no_variable_the_project_uses_is_warned_about() -> None:
    """Every ``MOODSTREAM_*`` name in the code, tests, deploy files and docs is a setting
    (or a known test/tool variable), so nobody is told their correct variable is unknown."""
    import re

    pattern = re.compile(r"MOODSTREAM_[A-Z][A-Z0-9_]*[A-Z0-9]")
    example = re.compile(r"unknown setting MOODSTREAM_\S+")  # docs/settings.md's sample warning
    skip = {Path(__file__).name, "test_operator_cli.py"}  # misspellings on purpose
    paths = [REPO / "Makefile", *REPO.glob("*.md"), *(REPO / "docs").rglob("*.md")]
    for folder in ("consumer", "tests", "deploy", "schemas"):
        paths += [p for p in (REPO / folder).rglob("*") if p.is_file() and p.name not in skip]
    names: set[str] = set()
    for path in paths:
        if path.suffix in {".py", ".yml", ".yaml", ".md", ".json", ""}:
            text = example.sub("", path.read_text(encoding="utf-8", errors="ignore"))
            names |= set(pattern.findall(text))
    assert [u.name for u in unknown_variables(Settings, dict.fromkeys(names, "1"))] == []


def test_no_help_shows_raw_markup() -> None:
    """Was: ``lag --help`` printed the module docstring's reST."""
    import argparse

    from consumer.cli import build_parser

    def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        return dict(actions[0].choices) if actions else {}

    raw = []
    for name, parser in subcommands(build_parser()).items():
        for label, each in [(name, parser), *subcommands(parser).items()]:
            text = each.format_help()
            if "``" in text or ":mod:`" in text or ":func:`" in text:
                raw.append(label)
    assert raw == []

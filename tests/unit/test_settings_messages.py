"""Issue 28: a settings error names the variable to change (one that exists) in the
project's words, not pydantic's ("Value error, ...") and not a group such as
``MOODSTREAM_KAFKA`` that nobody sets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final

import pytest

from consumer.cli import load_settings
from consumer.errors import ConfigError, ModelLoadError, without_library_words
from consumer.settings import Settings
from consumer.settings_env import error_line, setting_variables, unparsable_line

REPO: Final = Path(__file__).resolve().parents[2]


def test_a_leaf_setting_is_named_by_its_variable() -> None:
    line = error_line(Settings, ("processing", "workers"), "Input should be >= 1")
    assert line == "MOODSTREAM_PROCESSING__WORKERS: Input should be >= 1"


def test_a_key_inside_a_dict_setting_names_the_variable_and_the_key() -> None:
    line = error_line(Settings, ("kafka", "extra", "linger.ms"), "Input should be a valid string")
    assert line == "MOODSTREAM_KAFKA__EXTRA (key 'linger.ms'): Input should be a valid string"


def test_a_group_validator_keeps_its_own_names_without_library_words() -> None:
    message = "Value error, TOPICS__DLQ and TOPICS__FEATURES are both 'x': every topic needs..."
    line = error_line(Settings, ("topics",), message)
    assert line == "TOPICS__DLQ and TOPICS__FEATURES are both 'x': every topic needs..."


def test_a_group_validator_naming_nothing_points_at_the_groups_variables() -> None:
    line = error_line(Settings, ("kafka",), "Assertion failed, something is off")
    assert line == "MOODSTREAM_KAFKA__*: something is off"


def test_every_named_variable_exists() -> None:
    leaves = setting_variables(Settings)
    for loc in [("kafka", "sasl_password"), ("models", "dir"), ("kafka", "extra", "a")]:
        name = error_line(Settings, loc, "m").split(" ", 1)[0].rstrip(":")
        assert name in leaves, name


def test_non_json_in_a_dict_setting_names_that_variable() -> None:
    env = {"MOODSTREAM_KAFKA__EXTRA": "not json", "MOODSTREAM_KAFKA__GROUP_ID": "g"}
    line = unparsable_line(Settings, env, "Expecting value: line 1 column 1 (char 0)")
    assert line.startswith(
        "MOODSTREAM_KAFKA__EXTRA is not JSON (Expecting value: line 1 column 1 (char 0))"
    )
    assert "MOODSTREAM_KAFKA__EXTRA takes JSON" in line


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("MOODSTREAM_TOPICS__DLQ", "mood.features.v1", "TOPICS__DLQ and TOPICS__FEATURES"),
        ("MOODSTREAM_KAFKA__SECURITY_PROTOCOL", "SASL_SSL", "KAFKA__SASL_MECHANISM is required"),
        ("MOODSTREAM_KAFKA__EXTRA", "[1", "MOODSTREAM_KAFKA__EXTRA is not JSON"),
        ("MOODSTREAM_KAFKA__CONNECT_TIMEOUT_S", "inf", "MOODSTREAM_KAFKA__CONNECT_TIMEOUT_S: "),
    ],
)
def test_load_settings_says_it_in_the_projects_words(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert expected in message
    assert "Value error" not in message and "EnvSettingsSource" not in message
    assert "MOODSTREAM_KAFKA:" not in message and "MOODSTREAM_TOPICS:" not in message


def test_a_malformed_manifest_is_described_without_library_words(tmp_path: Path) -> None:
    from consumer.models.manifest import read_manifest

    demo = json.loads((REPO / "models" / "demo" / "manifest.json").read_text())
    demo["models"].append(dict(demo["models"][0]))
    (tmp_path / "manifest.json").write_text(json.dumps(demo))
    with pytest.raises(ModelLoadError) as caught:
        read_manifest(tmp_path)
    assert "duplicate model names" in str(caught.value)
    assert "Value error" not in str(caught.value)


def test_without_library_words() -> None:
    assert without_library_words("Value error, x is empty") == "x is empty"
    assert without_library_words("Input should be a valid integer") == (
        "Input should be a valid integer"
    )

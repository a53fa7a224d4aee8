"""docs/settings.md and docs/metrics.md stay true to the code.

When one of these fails, regenerate the pages from a clone and commit them:

    PYTHONPATH=$PWD python -m consumer.commands.reference_docs
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Literal

import pytest
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, Field, SecretStr

from consumer.commands.metrics_doc import registered
from consumer.commands.reference_docs import BEGIN, END, expected, main, splice
from consumer.commands.settings_doc import accepts, default_text, field_comments, setting_rows
from consumer.observability.lag_exporter import LagGauges
from consumer.observability.metrics import Metrics
from consumer.settings import Settings
from consumer.settings_env import setting_variables
from consumer.windows_stage.metrics import WindowsMetrics

REPO = Path(__file__).resolve().parents[2]
REGENERATE = "stale: run `PYTHONPATH=$PWD python -m consumer.commands.reference_docs`"


@pytest.mark.parametrize("page", ["settings.md", "metrics.md"])
def test_the_page_is_what_the_code_generates(page: str) -> None:
    current, wanted = expected(page)
    assert current == wanted, f"docs/{page} is {REGENERATE}"


def test_check_mode_agrees_and_writes_nothing() -> None:
    before = (REPO / "docs" / "settings.md").read_bytes()
    assert main(["--check"]) == 0
    assert (REPO / "docs" / "settings.md").read_bytes() == before


def test_every_setting_has_a_row_with_its_variable() -> None:
    page = (REPO / "docs" / "settings.md").read_text(encoding="utf-8")
    generated = page[page.index(BEGIN) : page.index(END)]
    missing = [var for var in setting_variables(Settings) if f"| `{var}` |" not in generated]
    assert missing == []
    assert len(setting_variables(Settings)) > 80


def _doc_series() -> dict[str, tuple[str, tuple[str, ...]]]:
    """name -> (type, labels) from the table in docs/metrics.md."""
    page = (REPO / "docs" / "metrics.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(moodstream_\w+)` \| (\w+) \| ([^|]*) \|", page, re.MULTILINE)
    return {name: (kind, tuple(re.findall(r"`(\w+)`", labels))) for name, kind, labels in rows}


def test_every_registered_series_is_in_the_metrics_page_with_its_type_and_labels() -> None:
    service, windows, exporter = CollectorRegistry(), CollectorRegistry(), CollectorRegistry()
    Metrics(service, models=("depression", "pat"))
    WindowsMetrics(windows)
    LagGauges(exporter)
    code: dict[str, tuple[str, tuple[str, ...]]] = {}
    for registry in (service, windows, exporter):
        labels = {s.name: s.labels for s in registered(registry, "")}
        for family in registry.collect():
            name = family.name + ("_total" if family.type == "counter" else "")
            code[name] = (family.type, labels[name])
    assert len(code) >= 50  # the service's, the windows stage's and the exporter's families
    assert _doc_series() == code


def test_splice_replaces_only_between_the_markers() -> None:
    page = f"# Title\nhand\n{BEGIN}\nold\n{END}\nafter\n"
    done = splice(page, "new")
    assert done == f"# Title\nhand\n{BEGIN}\n\nnew\n\n{END}\nafter\n"
    assert splice(done, "new") == done
    with pytest.raises(ValueError, match="needs the lines"):
        splice("no markers", "new")


class _Colour(StrEnum):
    RED = "red"


class _Example(BaseModel):
    """An example group."""

    #: The mode, said
    #: on two lines.
    mode: Literal["a", "b"] = "a"
    colour: _Colour = _Colour.RED
    # a plain comment counts too
    limit: float | None = Field(default=None, gt=0, le=10)
    secret: SecretStr = SecretStr("dev")
    cache: Path = Path.home() / ".cache" / "x"
    extra: dict[str, str] = Field(default_factory=dict, description="raw | pairs")
    flag: bool = False


def test_field_comments_and_descriptions_reach_the_rows() -> None:
    assert field_comments(_Example) == {
        "mode": "The mode, said on two lines.",
        "limit": "a plain comment counts too",
    }
    rows = setting_rows(_Example, "X_")
    assert rows[0] == "| `X_MODE` | `a` \\| `b` | `a` | The mode, said on two lines. |"
    assert rows[5] == "| `X_EXTRA` | JSON object | `{}` | raw \\| pairs |"
    assert rows[1] == "| `X_COLOUR` | `red` | `red` | - |"
    assert len(rows) == len(_Example.model_fields)


def test_accepts_and_defaults_read_the_same_on_every_machine() -> None:
    fields = _Example.model_fields
    assert accepts(fields["limit"]) == "number, > 0, ≤ 10, or unset"
    assert accepts(fields["colour"]) == "`red`"
    assert default_text(fields["limit"]) == "*(unset)*"
    assert default_text(fields["secret"]) == "*(a built-in development value)*"
    assert default_text(fields["cache"]) == "`~/.cache/x`"
    assert default_text(fields["flag"]) == "`false`"

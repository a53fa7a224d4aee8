"""The settings reference of ``docs/settings.md``, generated from the Settings object.

One row per leaf setting of :class:`~consumer.settings.Settings` (nested groups walked
the way :func:`~consumer.settings_env.setting_variables` names them): the variable, what
it accepts (type, allowed values, bounds), its default and its description, taken from
``Field(description=...)`` or else the ``#:``/``#`` comment lines right above the field in
its class. Defaults that depend on the machine are written the same everywhere (the home
directory as ``~``, a computed default by its function's first sentence), so the page is
identical wherever it is generated. Pure apart from reading the settings modules' source.
"""

from __future__ import annotations

import enum
import inspect
import re
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from consumer.settings_env import DELIMITER, PREFIX

HEADER = "| variable | accepts | default | description |\n|---|---|---|---|"
_BOUNDS = (
    (annotated_types.Ge, "ge", "≥"),
    (annotated_types.Gt, "gt", ">"),
    (annotated_types.Le, "le", "≤"),
    (annotated_types.Lt, "lt", "<"),
)


def _cell(text: str) -> str:
    """Markdown table cell text: reST double backquotes as code, pipes escaped, one line."""
    return " ".join(text.replace("``", "`").replace("|", "\\|").split())


def field_comments(model: type[BaseModel]) -> dict[str, str]:
    """Field name -> the comment lines (``#:`` or ``#``) right above it in ``model``'s class
    body, joined. Reads the source file; raises OSError when it cannot be read."""
    lines, _ = inspect.getsourcelines(model)
    found: dict[str, str] = {}
    pending: list[str] = []
    for line in lines[1:]:
        stripped = line.strip()
        if stripped.startswith("#"):
            pending.append(stripped.lstrip("#:").strip())
            continue
        match = re.match(r"\s{4}(\w+)\s*:", line)
        if match and match.group(1) in model.model_fields and pending:
            found[match.group(1)] = " ".join(pending)
        pending = []
    return found


def _non_none(annotation: Any) -> tuple[Any, bool]:
    """(the annotation without ``None``, whether ``None`` was allowed)."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        optional = len(args) < len(get_args(annotation))
        return (args[0] if len(args) == 1 else Union[tuple(args)]), optional  # noqa: UP007
    return annotation, False


def accepts(info: FieldInfo) -> str:
    """What a field accepts, in words: allowed values, a type name, bounds. Pure."""
    annotation, optional = _non_none(info.annotation)
    if get_origin(annotation) is Literal:
        kind = " \\| ".join(f"`{v}`" for v in get_args(annotation))
    elif isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        kind = " \\| ".join(f"`{m.value}`" for m in annotation)
    elif annotation is bool:
        kind = "`true` \\| `false`"
    elif annotation is SecretStr:
        kind = "secret text (never printed)"
    elif get_origin(annotation) is dict:
        kind = "JSON object"
    elif annotation is Path:
        kind = "path"
    else:
        kind = {int: "integer", float: "number", str: "text"}.get(annotation, str(annotation))
    bounds = [
        f"{sign} {getattr(meta, attr):g}"
        for meta in info.metadata
        for cls, attr, sign in _BOUNDS
        if isinstance(meta, cls)
    ]
    return ", ".join([kind, *bounds]) + (", or unset" if optional else "")


def default_text(info: FieldInfo) -> str:
    """The default as the page shows it, the same on every machine. Pure."""
    if info.default_factory is not None:
        if info.default_factory is dict:
            return "`{}`"
        doc = inspect.getdoc(info.default_factory) or info.default_factory.__name__
        return "*(" + _cell(doc.split(". ")[0].rstrip(".")) + ")*"
    value = info.default
    if value is None or value is PydanticUndefined:
        return "*(unset)*"
    if isinstance(value, SecretStr):
        return "*(a built-in development value)*"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, enum.Enum):
        return f"`{value.value}`"
    if isinstance(value, Path):
        home = str(Path.home())
        text = str(value)
        return f"`{'~' + text[len(home) :] if text.startswith(home) else text}`"
    if value == "":
        return "*(empty)*"
    return f"`{value}`"


def setting_rows(model: type[BaseModel], prefix: str = PREFIX) -> list[str]:
    """One table row per leaf setting of ``model``, in declaration order. Reads the
    settings modules' source for comments; raises OSError when it cannot."""
    rows: list[str] = []
    comments = field_comments(model)
    for name, info in model.model_fields.items():
        variable = f"{prefix}{name.upper()}"
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows += setting_rows(annotation, variable + DELIMITER)
            continue
        description = _cell(info.description or comments.get(name, "")) or "-"
        rows.append(f"| `{variable}` | {accepts(info)} | {default_text(info)} | {description} |")
    return rows


def settings_table(model: type[BaseModel]) -> str:
    """The generated reference for ``model``: per group of settings a heading, the group's
    docstring and its table, newline-terminated. Reads source like :func:`setting_rows`."""
    parts: list[str] = []
    for name, info in model.model_fields.items():
        group = info.annotation
        if not (isinstance(group, type) and issubclass(group, BaseModel)):
            continue
        variable = f"{PREFIX}{name.upper()}{DELIMITER}"
        parts.append(f"### `{variable}*`\n")
        if group.__doc__:
            parts.append(_cell(inspect.cleandoc(group.__doc__)) + "\n")
        parts.append(HEADER + "\n" + "\n".join(setting_rows(group, variable)) + "\n")
    return "\n".join(parts)

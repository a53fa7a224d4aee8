"""What the ``MOODSTREAM_*`` environment means to :class:`~consumer.settings.Settings`.

Pure functions over a settings class and an environment mapping (pass ``os.environ``):
the variable name of every setting, the unknown ``MOODSTREAM_*`` variables with the
closest known name (misspellings are otherwise silently ignored), the settings in
effect with where each came from, secrets redacted, for ``moodstream config``, and the
values of ``MOODSTREAM_<NAME>_FILE`` variables (a setting read from a file, such as a
mounted Kubernetes Secret).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

from consumer.errors import ConfigError

PREFIX = "MOODSTREAM_"
FILE_SUFFIX = "_FILE"
DELIMITER = "__"
MASK = "***"
# Variables read by the test suite and tools, not by Settings.
NOT_SETTINGS = frozenset(
    {
        "MOODSTREAM_FUZZ_EXAMPLES",
        "MOODSTREAM_TEST_MODELS_DIR",
        "MOODSTREAM_LIVE_ARTIFACTS",
        "MOODSTREAM_WHEEL_REPORT",
        "MOODSTREAM_BENCH_PEERS",
    }
)
_SECRET_HINTS = ("password", "secret", "token", "jaas", "key")


def setting_variables(model: type[BaseModel], prefix: str = PREFIX) -> dict[str, str]:
    """Variable name (upper case) -> dotted setting path, for every leaf setting. Pure."""
    names: dict[str, str] = {}
    for field_name, info in model.model_fields.items():
        name = f"{prefix}{field_name.upper()}"
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            for var, path in setting_variables(annotation, name + DELIMITER).items():
                names[var] = f"{field_name}.{path}"
        else:
            names[name] = field_name
    return names


def _group_variables(leaves: Mapping[str, str]) -> set[str]:
    """``MOODSTREAM_KAFKA`` etc.: a whole group as one JSON variable is accepted too."""
    groups = set()
    for var in leaves:
        parts = var[len(PREFIX) :].split(DELIMITER)
        for i in range(1, len(parts)):
            groups.add(PREFIX + DELIMITER.join(parts[:i]))
    return groups


@dataclass(frozen=True)
class UnknownVariable:
    name: str
    closest: str | None

    def warning(self) -> str:
        hint = f" (did you mean {self.closest}?)" if self.closest else ""
        return f"unknown setting {self.name} is ignored{hint}"


def unknown_variables(model: type[BaseModel], env: Mapping[str, str]) -> list[UnknownVariable]:
    """Every ``MOODSTREAM_*`` variable that no setting reads, with the closest known
    variable name (difflib), sorted by name. Case-insensitive like the settings. Pure."""
    leaves = setting_variables(model)
    known = set(leaves) | _group_variables(leaves) | NOT_SETTINGS
    known |= {var + FILE_SUFFIX for var in leaves}
    dict_fields = [var for var, path in leaves.items() if path == "kafka.extra"]
    found = []
    for name in sorted(env):
        upper = name.upper()
        if not upper.startswith(PREFIX) or upper in known:
            continue
        if any(upper.startswith(var + DELIMITER) for var in dict_fields):
            continue  # MOODSTREAM_KAFKA__EXTRA__<property>: one librdkafka property
        found.append(UnknownVariable(name, _closest(upper, leaves)))
    return found


def _closest(name: str, leaves: Mapping[str, str]) -> str | None:
    """The known variable most like ``name``, compared without the common prefix."""
    bare = {var[len(PREFIX) :]: var for var in leaves}
    close = difflib.get_close_matches(name[len(PREFIX) :], sorted(bare), n=1, cutoff=0.7)
    return bare[close[0]] if close else None


@dataclass(frozen=True)
class Effective:
    variable: str
    value: Any
    source: str  # "env" or "default"


def _plain(value: Any, secret: bool) -> Any:
    if isinstance(value, SecretStr) or (secret and value is not None):
        return MASK
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {k: (MASK if _is_secret(k) else v) for k, v in value.items()}
    return value


def _is_secret(name: str) -> bool:
    lowered = name.lower()
    return any(hint in lowered for hint in _SECRET_HINTS)


def effective_settings(settings: BaseModel, env: Mapping[str, str]) -> list[Effective]:
    """Every leaf setting's value in ``settings`` and whether the environment set it
    (its own variable, a group variable or a ``__``-nested key under it). Secrets are
    ``***``. Pure."""
    upper_env = {k.upper() for k in env}
    rows = []
    for var, path in setting_variables(type(settings)).items():
        value: Any = settings
        for part in path.split("."):
            value = getattr(value, part)
        group = PREFIX + var[len(PREFIX) :].split(DELIMITER)[0]
        from_env = (
            var in upper_env
            or group in upper_env
            or any(name.startswith(var + DELIMITER) for name in upper_env)
        )
        secret = _is_secret(var) and not var.endswith("_LOCATION")
        source = "file" if var + FILE_SUFFIX in upper_env else "env" if from_env else "default"
        rows.append(Effective(var, _plain(value, secret), source))
    return rows


def file_values(model: type[BaseModel], env: Mapping[str, str]) -> dict[str, str]:
    """``MOODSTREAM_<NAME>_FILE=/path`` -> ``{"MOODSTREAM_<NAME>": the file's text}`` (one
    trailing newline removed), for every leaf setting of ``model``. Case-insensitive like
    the settings. Reads the files (blocks on the filesystem only).

    Raises ConfigError naming the variable when a file cannot be read or is not UTF-8, or
    when both ``<NAME>`` and ``<NAME>_FILE`` are set (which one wins would be a guess).
    The file's content is never put in a message.
    """
    by_upper = {name.upper(): name for name in env}
    values: dict[str, str] = {}
    for var in setting_variables(model):
        name = by_upper.get(var + FILE_SUFFIX)
        if name is None:
            continue
        if var in by_upper:
            raise ConfigError(f"{var} and {var}{FILE_SUFFIX} are both set: keep one")
        path = Path(env[name])
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"{var}{FILE_SUFFIX}: {path} is not UTF-8 text") from None
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise ConfigError(f"{var}{FILE_SUFFIX}: cannot read {path}: {reason}") from None
        values[var] = text.removesuffix("\n").removesuffix("\r")
    return values

"""One lock drives both ``make test``'s environment and the image (issue 16 item 2).

These fail when pyproject.toml, requirements/*, the Makefile, the Dockerfile or the
environment the tests run in drift apart. Refresh with ``make lock`` (docs/development.md).
"""

from __future__ import annotations

import importlib.util
import re
from importlib import metadata
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
REQ = ROOT / "requirements"
TARGET_ENV = {
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "python_version": "3.11",
    "python_full_version": "3.11.7",
}
Pins = dict[str, tuple[str, frozenset[str]]]


def lock_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("moodstream_lock", REQ / "lock.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pins(name: str) -> Pins:
    """``{canonical name: (version, hashes)}`` of a hashed lock file."""
    found: Pins = {}
    text = (REQ / name).read_text(encoding="utf-8")
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        match = re.match(r"([A-Za-z0-9][\w.-]*)==(\S+)", block)
        if match:
            hashes = frozenset(re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
            found[canonicalize_name(match[1])] = (match[2], hashes)
    return found


def torch_version() -> str:
    [line] = (REQ / "torch.txt").read_text().split()
    assert re.fullmatch(r"torch==\d+\.\d+\.\d+", line), line
    return line.split("==")[1]


def test_inputs_are_generated_from_pyproject() -> None:
    for name, text in lock_module().inputs().items():
        assert (REQ / name).read_text(encoding="utf-8") == text, f"run `make lock` ({name})"


@pytest.mark.parametrize("lock", ["runtime", "dev"])
def test_each_lock_was_compiled_from_the_current_inputs(lock: str) -> None:
    in_text = (REQ / f"{lock}.in").read_text(encoding="utf-8")
    head = (REQ / f"{lock}.txt").read_text(encoding="utf-8").split("\n", 3)
    assert head[1] == f"# inputs-sha256: {lock_module().digest(in_text)}", "run `make lock`"


def test_the_image_gets_exactly_the_tested_pins() -> None:
    runtime, dev = pins("runtime.txt"), pins("dev.txt")
    assert len(runtime) >= 15
    assert {name: dev.get(name) for name in runtime} == runtime
    for name, (version, hashes) in dev.items():
        assert hashes, f"{name}=={version} has no hash"
    left_out = lock_module().LEFT_OUT
    assert not [name for name in dev if left_out.match(name)]  # torch + CUDA stack


def test_every_declared_requirement_is_met_by_its_pin() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime, dev = pins("runtime.txt"), pins("dev.txt")
    extras = [r for e in lock_module().EXTRAS for r in project["optional-dependencies"][e]]
    for text, lock in [(r, runtime) for r in project["dependencies"]] + [(r, dev) for r in extras]:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate(TARGET_ENV):
            continue
        name = canonicalize_name(req.name)
        version = torch_version() if name == "torch" else lock[name][0]
        assert req.specifier.contains(version, prereleases=True), (text, version)


def test_the_environment_running_the_tests_is_the_lock() -> None:
    """``make venv`` installed dev.txt: a hand-installed other version shows up here."""
    wrong = {}
    for name, (version, _) in pins("dev.txt").items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = "missing"
        if installed != version:
            wrong[name] = (installed, version)
    assert wrong == {}, "installed vs locked; run `make venv`"
    assert metadata.version("torch").split("+")[0] == torch_version()


def test_makefile_installs_the_lock_and_never_the_project() -> None:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^LOCK = requirements/dev\.txt$", text, re.MULTILINE)
    assert "pip install -q --require-hashes -r $(LOCK)" in text
    assert "-r requirements/torch.txt" in text
    assert "--timeout 5 --retries 0" in text  # an unreachable TORCH_INDEX fails fast
    # ... quietly: pip's two ERROR lines give way to one line saying what happens instead.
    first_try = re.search(r"--index-url \$\(TORCH_INDEX\) -r requirements/torch\.txt([^\n]*)", text)
    assert first_try is not None and "2>/dev/null" in first_try.group(1)
    assert 'unreachable: installing from PyPI"; \\\n\t      false; }' in text
    assert not re.search(r"pip install[^\n]*(-e|--editable)\b", text)
    assert "RUN = PYTHONPATH=$(CURDIR) $(PY)" in text
    assert "requirements/lock.py" in text


def test_dockerfile_installs_the_lock_on_a_pinned_base() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim@sha256:[0-9a-f]{64}$", text, re.M)
    installs = re.findall(r"pip install ([^\n\\]*)", text)
    assert installs == [
        "--require-hashes -r requirements/runtime.txt ",
        '${TORCH_PIP_FLAGS} --index-url "${TORCH_INDEX}" -r requirements/torch.txt',
        "--no-deps --no-build-isolation . ",  # built with the locked setuptools
    ]
    assert "ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu" in text
    # The CPU wheel without dependencies by default (they are in the lock); the CUDA image
    # empties it so the wheel's nvidia-* libraries come along.
    assert "ARG TORCH_PIP_FLAGS=--no-deps" in text
    assert "COPY requirements/runtime.txt requirements/torch.txt requirements/" in text
    assert text.count("pip check") == 2  # builder and the shipped stage
    assert text.count("moodstream models info") == 2  # every checksum, start-up's code

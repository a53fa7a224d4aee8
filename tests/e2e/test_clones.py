"""Two clones sharing one environment each run their own code (issue 15 item 1).

The environment used to hold an editable install of whichever clone ran ``make`` last,
so the other clone's ``moodstream`` silently ran the newer clone's code. Here two copies
of this clone, told apart by their ``__version__``, share one environment (a stand-in
``python`` that runs the real one), and ``./moodstream`` and ``make shell`` in each must
run that copy's code, whichever order they run in.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COPIED = ("Makefile", "moodstream", "pyproject.toml", "requirements", "consumer", "schemas")


def make_clone(tmp_path: Path, name: str) -> Path:
    clone = tmp_path / name
    clone.mkdir()
    for item in COPIED:
        source = ROOT / item
        if source.is_dir():
            shutil.copytree(source, clone / item, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, clone / item)
    init = clone / "consumer" / "__init__.py"
    text = init.read_text().replace('__version__ = "0.1.0"', f'__version__ = "0.1.0+{name}"')
    init.write_text(text)
    return clone


@pytest.fixture
def shared_venv(tmp_path: Path) -> Path:
    """A venv whose ``python`` is this interpreter, with no project installed in it."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    return venv


def env_for(venv: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MAKEFLAGS")}
    return env | {"VENV": str(venv)}


def run(args: list[str], venv: Path, cwd: Path, stdin: str | None = None) -> str:
    done = subprocess.run(
        args, cwd=cwd, env=env_for(venv), input=stdin, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_each_clone_runs_its_own_code(tmp_path: Path, shared_venv: Path) -> None:
    a, b = make_clone(tmp_path, "a"), make_clone(tmp_path, "b")
    elsewhere = tmp_path  # not inside either clone
    for clone in (a, b, a):  # alternate: the last one set up must not win
        version = run([str(clone / "moodstream"), "--version"], shared_venv, elsewhere)
        assert version.strip() == f"moodstream 0.1.0+{clone.name}"


def test_make_shell_puts_this_clones_moodstream_first(tmp_path: Path, shared_venv: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("no make")
    a, b = make_clone(tmp_path, "a"), make_clone(tmp_path, "b")
    query = "make", "-s", "--eval", "print-stamp: ; @echo $(STAMP)", "print-stamp"
    stamp = Path(run(list(query), shared_venv, a).strip())
    assert stamp.parent == shared_venv  # the environment is shared, the stamp says so
    stamp.touch()  # the lock is installed (it is: this interpreter runs the tests)
    for clone in (b, a):
        out = run(["make", "-s", "shell"], shared_venv, clone, stdin="moodstream --version\n")
        assert f"moodstream 0.1.0+{clone.name}" in out

"""The package as a user installs it: ``python -m build`` gives an sdist and a wheel (the
wheel built from the sdist, so the sdist is complete), the wheel installs into a fresh
virtual environment, and the installed ``moodstream`` works outside any clone.

Nothing is downloaded: the build runs ``--no-isolation`` (the test environment's
setuptools), the wheel is installed with ``--no-deps --no-index``, and the fresh venv
sees the test environment's site-packages (torch, xgboost, ... ) through a ``.pth`` line
appended after its own site-packages. ``venv --system-site-packages`` would not do: the
"system" of a venv made from this interpreter is the base Python, not this environment.
A ``.pth`` line adds the directory only, so the test environment's editable install of
this checkout stays inactive and ``consumer`` must come from the wheel (checked).

Set MOODSTREAM_WHEEL_REPORT=FILE to keep the commands' output.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

from consumer import __version__
from tests.e2e.conftest import DEMO_DIR, verifies
from tests.fakes import event_bytes

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO / "schemas"


def run(*args: str | Path, cwd: Path, timeout_s: float = 120) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOODSTREAM_", "PYTHON"))}
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}{done.stderr[-4000:]}"
    return done.stdout


def build(out: Path) -> tuple[Path, Path]:
    run(sys.executable, "-m", "build", "--no-isolation", "--outdir", out, REPO, cwd=REPO)
    [sdist] = out.glob("moodstream-*.tar.gz")
    [wheel] = out.glob("moodstream-*.whl")
    return sdist, wheel


def fresh_venv(path: Path, wheel: Path) -> Path:
    run(sys.executable, "-m", "venv", "--without-pip", path, cwd=path.parent)
    python = path / "bin" / "python"
    purelib = run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=path)
    shared = sysconfig.get_path("purelib")
    (Path(purelib.strip()) / "zz_shared_deps.pth").write_text(shared + "\n", encoding="utf-8")
    pip = (sys.executable, "-m", "pip", "--python", python)
    run(*pip, "install", "-q", "--no-deps", "--no-index", wheel, cwd=path.parent)
    return path


def test_wheel_installs_and_runs_outside_the_clone(tmp_path: Path) -> None:
    assert verifies(DEMO_DIR), "models/demo does not verify: the wheel would carry it broken"
    sdist, wheel = build(tmp_path / "dist")
    venv = fresh_venv(tmp_path / "venv", wheel)
    elsewhere = tmp_path / "elsewhere"  # no models/demo here: the packaged copy is used
    elsewhere.mkdir()
    moodstream = venv / "bin" / "moodstream"

    origin = run(
        venv / "bin" / "python", "-c", "import consumer; print(consumer.__file__)", cwd=elsewhere
    )
    assert Path(origin.strip()).is_relative_to(venv), origin

    version = run(moodstream, "--version", cwd=elsewhere)
    assert version.strip() == f"moodstream {__version__}"

    info_text = run(moodstream, "models", "info", "--json", cwd=elsewhere)
    info = json.loads(info_text)
    manifest = json.loads((DEMO_DIR / "manifest.json").read_text(encoding="utf-8"))
    listed = {m["name"]: m["sha256"] for m in manifest["models"]}
    assert {m["name"]: m["sha256"] for m in info["models"]} == listed
    assert Path(info["dir"]).resolve().is_relative_to(venv.resolve()), info["dir"]
    assert info["clinically_valid"] is False
    _score_offline(moodstream, elsewhere)

    exported = run(
        venv / "bin" / "python",
        "-m",
        "schemas.export",
        "--out",
        tmp_path / "schemas",
        cwd=elsewhere,
    )
    written = sorted(Path(line) for line in exported.split())
    assert [p.name for p in written] == sorted(p.name for p in SCHEMAS.glob("*.schema.json"))
    for path in written:
        assert path.read_text(encoding="utf-8") == (SCHEMAS / path.name).read_text(encoding="utf-8")
    _report(sdist, wheel, version, info_text, exported)


def _score_offline(moodstream: Path, elsewhere: Path) -> None:
    """``score --from`` in the installed package: the packaged demo set scores the events,
    and the predictions it printed are what it reproduces (``--expect``, exit 0)."""
    events = elsewhere / "events.jsonl"
    events.write_bytes(b"".join(event_bytes(seed=s, activity=s == 1) + b"\n" for s in range(3)))
    printed = run(moodstream, "score", "--from", events, cwd=elsewhere)
    (elsewhere / "expected.jsonl").write_text(printed, encoding="utf-8")
    predictions = [json.loads(line) for line in printed.splitlines()]
    digest = hashlib.sha256((DEMO_DIR / "manifest.json").read_bytes()).hexdigest()
    assert [p["model_set"] for p in predictions] == [digest] * 3
    assert [p["ensemble_rule"] for p in predictions] == ["xgboost_only", "weighted", "xgboost_only"]
    run(moodstream, "score", "--from", events, "--expect", "expected.jsonl", cwd=elsewhere)


def _report(sdist: Path, wheel: Path, version: str, info: str, exported: str) -> None:
    target = os.environ.get("MOODSTREAM_WHEEL_REPORT")
    if target:
        sizes = f"{sdist.name} {sdist.stat().st_size} B\n{wheel.name} {wheel.stat().st_size} B\n"
        Path(target).write_text(
            f"{sizes}$ moodstream --version\n{version}$ moodstream models info --json\n{info}"
            f"$ python -m schemas.export --out DIR\n{exported}",
            encoding="utf-8",
        )

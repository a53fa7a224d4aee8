"""The peers' own pinned virtual environments, created on first use.

Each peer of ``moodstream bench --peers`` runs in ``<root>/<name>/venv`` (default root
``~/.cache/moodstream/peers``): quixstreams 3.28 pins confluent-kafka < 2.13, so it cannot
share the project's environment. The pins below (the framework, and the project's own
xgboost and numpy so that the boosters give the same bits) are installed from PyPI with
pip; a stamp keyed on them marks a finished install, so a changed pin rebuilds it. What
pip resolved is kept in ``freeze.txt`` beside it and reported with the figures.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from consumer.bench.service import BenchError
from consumer.localkafka.broker_proc import exclusive_lock

APPS = Path(__file__).resolve().parent / "peer_apps"
#: The project's xgboost and numpy (requirements/dev.txt): the same scores, bit for bit.
SHARED_PINS = ("xgboost-cpu==3.2.0", "numpy==2.4.6")
INSTALL_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class Peer:
    name: str
    label: str
    pins: tuple[str, ...]
    app: str  # script in peer_apps/

    def requirements(self) -> tuple[str, ...]:
        return (*self.pins, *SHARED_PINS)


PEERS = (
    Peer(
        "arroyo",
        "Arroyo 2.48: BatchStep(256, 20 ms) → RunTask → Unfold → Produce → CommitOffsets",
        ("sentry-arroyo==2.48.0",),
        "arroyo_app.py",
    ),
    Peer(
        "quix",
        "Quix Streams 3.28: BatchingSink scoring each partition's batch",
        ("quixstreams==3.28.1",),
        "quix_app.py",
    ),
)


@dataclass(frozen=True)
class PeerEnv:
    python: Path
    created_s: float | None  # None: it was already there
    freeze: tuple[str, ...]


def default_root() -> Path:
    return Path.home() / ".cache" / "moodstream" / "peers"


def ensure_env(peer: Peer, root: Path) -> PeerEnv:
    """The peer's venv, created (pip, from PyPI: about a minute) when absent or its pins
    changed. Two bench runs wait for each other (a file lock beside it).

    Blocks. Raises BenchError when venv or pip fails (with the tail of pip's output).
    """
    with exclusive_lock(root / f"{peer.name}.lock"):
        return _ensure_locked(peer, root)


def _ensure_locked(peer: Peer, root: Path) -> PeerEnv:
    home = root / peer.name
    venv = home / "venv"
    python = venv / "bin" / "python"
    stamp = home / f"stamp-{_digest(peer.requirements())}"
    created: float | None = None
    if not stamp.exists():
        started = time.monotonic()
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        _call([sys.executable, "-m", "venv", str(venv)], home)
        _call([str(python), "-m", "pip", "install", "-q", *peer.requirements()], home)
        freeze = _call([str(python), "-m", "pip", "freeze"], home)
        (home / "freeze.txt").write_text(freeze, encoding="utf-8")
        stamp.touch()
        created = round(time.monotonic() - started, 1)
    freeze_lines = (home / "freeze.txt").read_text(encoding="utf-8").split()
    return PeerEnv(python, created, tuple(freeze_lines))


def _call(command: list[str], cwd: Path) -> str:
    try:
        done = subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"{command[2:5]} timed out after {INSTALL_TIMEOUT_S:g} s") from None
    if done.returncode != 0:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-6:])
        raise BenchError(f"peer environment: {' '.join(command[:5])} failed: {tail}")
    return done.stdout


def _digest(pins: tuple[str, ...]) -> str:
    return hashlib.sha256("\n".join(pins).encode()).hexdigest()[:12]

"""``moodstream run`` refuses unsafe or broken model files before anything parses them,
and before any Kafka client exists.

Each case copies a models directory (``models/demo`` when it is built, else a tiny demo
set built once per session), breaks it one way, and runs the CLI as a user does, against
a Kafka address nobody listens on with a long connect timeout: if the models were
checked after the cluster, the run would end with "unreachable" (or time out) instead.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest

from consumer.models.formats import sha256_hex

REPO: Final = Path(__file__).resolve().parents[2]
BOUND_S: Final = 30.0
CONNECT_TIMEOUT_S: Final = 120  # longer than BOUND_S: a Kafka wait would show


class Detonator:
    """Unpickling this creates ``path``: proof that someone ran pickle on the file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Callable[[str], int], tuple[str]]:
        return os.system, (f"touch {self.path}",)


def pickle_bomb(marker: Path) -> bytes:
    return pickle.dumps(Detonator(marker), protocol=4)


@dataclass(frozen=True)
class Models:
    dir: Path
    manifest: dict[str, Any]

    def file(self, name: str) -> Path:
        entry = next(m for m in self.manifest["models"] if m["name"] == name)
        return self.dir / str(entry["file"])

    def set_checksum(self, name: str) -> None:
        """Make the manifest agree with the file as it is now (a consistent tampering)."""
        for entry in self.manifest["models"]:
            if entry["name"] == name:
                entry["sha256"] = sha256_hex(self.file(name).read_bytes())
        (self.dir / "manifest.json").write_text(json.dumps(self.manifest, indent=2))


@pytest.fixture
def models(demo_models: Path, tmp_path: Path) -> Models:
    target = tmp_path / "models"
    shutil.copytree(demo_models, target)
    return Models(target, json.loads((target / "manifest.json").read_text()))


@dataclass(frozen=True)
class Exit:
    code: int
    seconds: float
    stdout: str
    stderr: str

    def message(self) -> str:
        """The one ``moodstream: ...`` line of stderr (asserts there is exactly one)."""
        lines = [ln for ln in self.stderr.splitlines() if ln.startswith("moodstream: ")]
        assert len(lines) == 1, f"expected one error line, got:\n{self.stderr[-3000:]}"
        return lines[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cli() -> list[str]:
    script = Path(sys.executable).parent / "moodstream"
    return [str(script)] if script.exists() else [sys.executable, "-m", "consumer"]


def run_with(models_dir: Path, **settings: str) -> Exit:
    """``moodstream run`` against an unreachable cluster; must end on its own.

    ``settings``: more ``MOODSTREAM_*`` variables, e.g. ``MODELS__PAT_RUNTIME="torch"``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOODSTREAM_")}
    env |= {f"MOODSTREAM_{name}": value for name, value in settings.items()}
    env |= {
        "MOODSTREAM_MODELS__DIR": str(models_dir),
        "MOODSTREAM_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{_free_port()}",
        "MOODSTREAM_KAFKA__CONNECT_TIMEOUT_S": str(CONNECT_TIMEOUT_S),
        "MOODSTREAM_OBSERVABILITY__PORT": "0",
        "MOODSTREAM_OBSERVABILITY__HOST": "127.0.0.1",
    }
    started = time.monotonic()
    try:
        done = subprocess.run(
            [*_cli(), "run"],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=2 * BOUND_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`moodstream run` with broken models still ran after {2 * BOUND_S:g} s")
    return Exit(done.returncode, time.monotonic() - started, done.stdout, done.stderr)


def assert_refused_before_kafka(result: Exit) -> str:
    assert result.code != 0
    assert result.seconds < BOUND_S, f"took {result.seconds:.1f} s"
    assert "worker_forked" not in result.stderr, "a worker (a Kafka client) was started"
    assert "unreachable" not in result.stderr
    return result.message()


def test_a_corrupted_file_fails_on_its_checksum_before_parsing(models: Models) -> None:
    path = models.file("depression")
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 16] = bytes(b ^ 0xFF for b in data[middle : middle + 16])
    path.write_bytes(bytes(data))
    message = assert_refused_before_kafka(run_with(models.dir))
    assert str(path) in message and "checksum" in message, message
    assert "JSON/UBJSON" not in message and "parse" not in message.lower(), message


def test_a_pickle_with_a_matching_checksum_is_refused_as_a_wrong_format(
    models: Models, tmp_path: Path
) -> None:
    marker = tmp_path / "pickle-was-loaded"
    path = models.file("depression")
    path.write_bytes(pickle_bomb(marker))
    models.set_checksum("depression")
    message = assert_refused_before_kafka(run_with(models.dir))
    assert str(path) in message, message
    assert "pickle" in message and "JSON/UBJSON" in message, message
    assert not marker.exists(), "the pickle was executed"


def test_pat_weights_as_a_pickle_are_refused_as_a_wrong_format(
    models: Models, tmp_path: Path
) -> None:
    marker = tmp_path / "pickle-was-loaded"
    path = models.file("pat")
    path.write_bytes(pickle_bomb(marker))
    models.set_checksum("pat")
    message = assert_refused_before_kafka(run_with(models.dir))
    assert str(path) in message and "safetensors" in message and "pickle" in message, message
    assert not marker.exists(), "the pickle was executed"


def test_a_corrupted_onnx_export_fails_on_its_checksum(models: Models) -> None:
    entry = next(m for m in models.manifest["models"] if m["name"] == "pat")
    if "onnx_file" not in entry:
        pytest.skip("this models dir has no ONNX export")
    path = models.dir / entry["onnx_file"]
    path.write_bytes(path.read_bytes() + b"\0")
    message = assert_refused_before_kafka(run_with(models.dir))
    assert str(path) in message and "checksum" in message, message


def test_a_reduced_precision_runtime_over_its_bound_is_refused(models: Models) -> None:
    """torch bf16 calibrated against torch fp32 at start-up, with a bound it cannot meet."""
    result = run_with(
        models.dir,
        MODELS__PAT_RUNTIME="torch",
        MODELS__PAT_PRECISION="bf16",
        MODELS__PAT_MAX_ERROR="1e-9",
        MODELS__PAT_CALIBRATION_WEEKS="4",
    )
    message = assert_refused_before_kafka(result)
    from consumer.models.pat_calibrate import native_bf16

    if native_bf16():
        assert "torch-bf16 refused" in message and "over the bound 1e-09" in message, message
    else:
        assert "no native bf16" in message, message


def test_a_missing_file_is_named(models: Models) -> None:
    path = models.file("mania")
    path.unlink()
    message = assert_refused_before_kafka(run_with(models.dir))
    assert str(path) in message and "missing" in message, message


def test_a_missing_manifest_is_named(models: Models) -> None:
    (models.dir / "manifest.json").unlink()
    message = assert_refused_before_kafka(run_with(models.dir))
    assert "manifest.json" in message and str(models.dir) in message, message


def test_the_pickle_bomb_would_go_off_if_loaded(tmp_path: Path) -> None:
    """Keeps the two pickle tests honest: their marker appears when the file is unpickled."""
    marker = tmp_path / "loaded"
    pickle.loads(pickle_bomb(marker))  # on purpose: our own bytes
    assert marker.exists()

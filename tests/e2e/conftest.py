"""Fixtures for the CLI tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final

import pytest

from consumer.models.formats import sha256_hex

DEMO_DIR: Final = Path(__file__).resolve().parents[2] / "models" / "demo"


def verifies(models_dir: Path) -> bool:
    """Every file the manifest lists exists with its checksum (not mid-rebuild, not stale)."""
    try:
        manifest = json.loads((models_dir / "manifest.json").read_text())
        return all(
            sha256_hex((models_dir / entry["file"]).read_bytes()) == entry["sha256"]
            for entry in manifest["models"]
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False


@pytest.fixture(scope="session")
def demo_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``models/demo`` when it verifies, else a tiny demo set built once (shape only)."""
    if verifies(DEMO_DIR):
        return DEMO_DIR
    from consumer.models.demo import BoosterRecipe, PatRecipe, build_demo

    out = tmp_path_factory.mktemp("tiny-models")
    boosters = tuple(
        BoosterRecipe(name, trees=20, persons=50) for name in ("depression", "hypomania", "mania")
    )
    build_demo(out, boosters=boosters, pat=PatRecipe(size="S", weeks=16, steps=2))
    return out

"""How the demo models are trained: seeded recipes, plain data (no torch, no xgboost).

Shared by :mod:`consumer.models.demo` (which trains and writes them) and
:mod:`consumer.models.pat_demo_train` (PAT's training run), so neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

SEED: Final = 20261125


@dataclass(frozen=True, slots=True)
class BoosterRecipe:
    """How one demo booster is trained (published-like sizes by default)."""

    name: str
    trees: int
    scale_pos_weight: float = 1.0
    persons: int = 400
    days: int = 30
    min_child_weight: float = 2.0
    gamma: float = 0.3
    seed: int = SEED


BOOSTER_RECIPES: Final[tuple[BoosterRecipe, ...]] = (
    BoosterRecipe("depression", trees=800, min_child_weight=30.0, gamma=4.0),
    BoosterRecipe(
        "hypomania", trees=648, scale_pos_weight=19.3, min_child_weight=200.0, gamma=20.0
    ),
    BoosterRecipe("mania", trees=987, min_child_weight=12.0, gamma=2.0),
)


@dataclass(frozen=True, slots=True)
class PatRecipe:
    """How the demo PAT is trained: a short, seeded, single-threaded run."""

    size: str = "M"
    weeks: int = 384
    steps: int = 48
    batch: int = 8
    lr: float = 5e-4
    flip: float = 0.1
    seed: int = SEED


#: The demo PAT as shipped.
DEMO_PAT_RECIPE: Final = PatRecipe()

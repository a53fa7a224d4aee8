"""The short, seeded PAT training run behind the demo model (see :mod:`consumer.models.demo`).

Kept apart from the loader so the service's import path never pulls in training code.
The caller (``demo.train_pat``) owns the torch global state: seed, one thread,
deterministic algorithms.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from consumer.models.demo_recipes import PatRecipe
from consumer.models.pat import network_to_bytes
from consumer.models.pat_net import PAT_CONFIGS, PatNetwork

_HOLDOUT_FRACTION = 0.125
_STD_FLOOR = 1.0


def _fit_standardisation(network: PatNetwork, weeks: npt.NDArray[np.float32]) -> None:
    """Per-minute-position mean/std from the training weeks (std floored at one count)."""
    mean = weeks.astype(np.float64).mean(axis=0)
    std = np.maximum(weeks.astype(np.float64).std(axis=0), _STD_FLOOR)
    network.mean = torch.from_numpy(mean.astype(np.float32))
    network.std = torch.from_numpy(std.astype(np.float32))


def _accuracy(network: PatNetwork, x: torch.Tensor, y: torch.Tensor, batch: int) -> float:
    network.eval()
    with torch.inference_mode():
        probs = torch.cat([network(x[i : i + batch]) for i in range(0, len(x), batch)])
    return float(((probs >= 0.5).float() == y).float().mean())


def _train_steps(
    network: PatNetwork, recipe: PatRecipe, x_train: torch.Tensor, y_train: torch.Tensor
) -> None:
    """``recipe.steps`` AdamW steps on random mini-batches, with a short linear warm-up."""
    optimiser = torch.optim.AdamW(network.parameters(), lr=recipe.lr, weight_decay=0.01)
    warmup = max(1, recipe.steps // 8)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min(1.0, (step + 1) / warmup)
    )
    rng = np.random.default_rng(recipe.seed + 1)
    network.train()
    for _ in range(recipe.steps):
        idx = torch.from_numpy(rng.choice(len(x_train), size=recipe.batch, replace=False))
        loss = F.binary_cross_entropy_with_logits(network.logits(x_train[idx]), y_train[idx])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimiser.step()
        schedule.step()


def fit_pat(
    recipe: PatRecipe, training_set: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]
) -> bytes:
    """Train a fresh PAT for ``recipe.steps`` AdamW steps; return safetensors bytes.

    Blocking (CPU). The held-out accuracy goes into the file's metadata. Deterministic
    given torch's seed, thread count and deterministic-algorithms flag (set by caller).
    """
    weeks, labels = training_set
    holdout = max(1, int(len(weeks) * _HOLDOUT_FRACTION))
    x_train, y_train = torch.from_numpy(weeks[holdout:]), torch.from_numpy(labels[holdout:])
    network = PatNetwork(PAT_CONFIGS[recipe.size])
    _fit_standardisation(network, weeks[holdout:])
    _train_steps(network, recipe, x_train, y_train)
    accuracy = _accuracy(
        network, torch.from_numpy(weeks[:holdout]), torch.from_numpy(labels[:holdout]), recipe.batch
    )
    return network_to_bytes(
        network,
        {
            "clinically_valid": "false",
            "note": "synthetic demo model - NOT clinically valid",
            "trained_on": "synthetic weeks (label = circadian disruption)",
            "seed": str(recipe.seed),
            "steps": str(recipe.steps),
            "holdout_accuracy": f"{accuracy:.3f}",
        },
    )

"""The PAT network (Ruan et al. 2024) as plain PyTorch modules, faithful to the Keras original.

Layout (DESIGN.md §5, REFERENCE.md §3), for one week of 10,080 minute values::

    x ─ (x - mean) / std            per-minute-position standardisation (stored buffers)
      ─ reshape to patches          S, M: 560 patches of 18 min; L: 1,120 patches of 9 min
      ─ Linear(patch → 96)          patch embedding
      ─ + [sin | cos] positions     fixed, sin in the first 48 dims, cos in the last 48
      ─ blocks x (1 | 2 | 4)        post-norm: x = LN(x + MHA(x)); x = LN(x + FFN(x))
      ─ mean over tokens            global average pool
      ─ Linear(96 → 128) ReLU ─ Linear(128 → 1) ─ sigmoid   = P(PHQ-9 ≥ 10)

Attention follows Keras ``MultiHeadAttention(key_dim=96)``: 96 dims PER HEAD, so the
query/key/value projections are 96 → heads x 96 (with bias), the output projection
heads x 96 → 96, and the scale 1/sqrt(96). A Keras kernel of shape (96, heads, 96)
maps to ``weight = kernel.reshape(96, heads * 96).T`` here (head-major columns).
LayerNorm epsilon is 1e-6 as in Keras. Dropout (0.1 in training) is omitted: inference only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from consumer.models.pat_config import (
    EMBED_DIM,
    FFN_DIM,
    HEAD_DIM,
    LN_EPS,
    PAT_CONFIGS,
    PatConfig,
    PatSize,
    sinusoidal_positions,
)
from schemas.events import ACTIVITY_MINUTES

__all__ = [
    "EMBED_DIM",
    "FFN_DIM",
    "HEAD_DIM",
    "LN_EPS",
    "PAT_CONFIGS",
    "PatConfig",
    "PatNetwork",
    "PatSize",
    "encoder_parameter_count",
    "expected_shapes",
    "sinusoidal_positions",
]


class KerasStyleAttention(nn.Module):
    """Self-attention with ``key_dim`` per head, like Keras ``MultiHeadAttention``."""

    def __init__(self, embed: int, heads: int, key_dim: int) -> None:
        super().__init__()
        self.heads = heads
        self.key_dim = key_dim
        self.query = nn.Linear(embed, heads * key_dim)
        self.key = nn.Linear(embed, heads * key_dim)
        self.value = nn.Linear(embed, heads * key_dim)
        self.out = nn.Linear(heads * key_dim, embed)

    def _split(self, t: torch.Tensor) -> torch.Tensor:
        batch, tokens, _ = t.shape
        return t.view(batch, tokens, self.heads, self.key_dim).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self._split(self.query(x)), self._split(self.key(x)), self._split(self.value(x))
        attended = F.scaled_dot_product_attention(q, k, v)  # scale 1/sqrt(key_dim)
        batch, _, tokens, _ = attended.shape
        merged = attended.transpose(1, 2).reshape(batch, tokens, self.heads * self.key_dim)
        out: torch.Tensor = self.out(merged)
        return out


class PostNormBlock(nn.Module):
    """x = LN(x + MHA(x)); x = LN(x + FFN(x)), FFN = Linear(96→256) ReLU Linear(256→96)."""

    def __init__(self, config: PatConfig) -> None:
        super().__init__()
        self.attn = KerasStyleAttention(config.embed, config.heads, config.key_dim)
        self.norm1 = nn.LayerNorm(config.embed, eps=LN_EPS)
        self.ffn = nn.Sequential(
            nn.Linear(config.embed, config.ffn), nn.ReLU(), nn.Linear(config.ffn, config.embed)
        )
        self.norm2 = nn.LayerNorm(config.embed, eps=LN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.attn(x))
        out: torch.Tensor = self.norm2(x + self.ffn(x))
        return out


class PatNetwork(nn.Module):
    """Standardisation + PAT encoder + depression head. ``forward`` returns (batch,) probabilities.

    State dict: buffers ``mean``/``std`` (10,080 each), ``patch_embed.*``, ``blocks.N.*``
    (encoder) and ``head.*``. The positions are a non-persistent buffer computed from the
    config in numpy (never stored, never random, real even when built on the meta device).
    """

    mean: torch.Tensor
    std: torch.Tensor
    positions: torch.Tensor

    def __init__(self, config: PatConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("mean", torch.zeros(ACTIVITY_MINUTES))
        self.register_buffer("std", torch.ones(ACTIVITY_MINUTES))
        self.patch_embed = nn.Linear(config.patch, config.embed)
        self.blocks = nn.ModuleList(PostNormBlock(config) for _ in range(config.blocks))
        self.head = nn.Sequential(
            nn.Linear(config.embed, HEAD_DIM), nn.ReLU(), nn.Linear(HEAD_DIM, 1)
        )
        # from_numpy ignores a meta-device context: the table is always a real CPU tensor.
        table = sinusoidal_positions(config.tokens, config.embed)
        self.register_buffer("positions", torch.from_numpy(table), persistent=False)

    def encode(self, activity: torch.Tensor) -> torch.Tensor:
        """Raw (batch, 10080) activity → (batch, tokens, 96) encoder output."""
        x = (activity - self.mean) / self.std
        x = x.view(x.shape[0], self.config.tokens, self.config.patch)
        x = self.patch_embed(x) + self.positions
        for block in self.blocks:
            x = block(x)
        encoded: torch.Tensor = x
        return encoded

    def logits(self, activity: torch.Tensor) -> torch.Tensor:
        """Raw (batch, 10080) activity → (batch,) logits (before the sigmoid)."""
        pooled = self.encode(activity).mean(dim=1)
        out: torch.Tensor = self.head(pooled).squeeze(-1)
        return out

    def forward(self, activity: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(activity))


def encoder_parameter_count(network: PatNetwork) -> int:
    """Parameters of the encoder: everything except the head (buffers are not parameters)."""
    return sum(p.numel() for name, p in network.named_parameters() if not name.startswith("head."))


def expected_shapes(config: PatConfig) -> dict[str, tuple[int, ...]]:
    """Every stored tensor's name and shape for ``config``, computed on the meta device."""
    with torch.device("meta"):
        network = PatNetwork(config)
    return {name: tuple(t.shape) for name, t in network.state_dict().items()}

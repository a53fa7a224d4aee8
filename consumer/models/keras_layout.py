"""The Keras H5 ↔ PyTorch layout of PAT: the single name table and the array rearrangements.

Names follow the public PAT pretraining notebook (njacobsonlab/Pretrained-Actigraphy-
Transformer): ``dense`` patch embedding, ``encoder_layer_{n}_attention`` (Keras
``MultiHeadAttention`` with ``key_dim=96`` per head), ``_norm1``, ``_ff1``, ``_ff2``,
``_norm2``; the fine-tuning head ``dense_128`` → ``output``. Pure; see ``keras_h5``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from consumer.models.pat_net import PatConfig

F32 = npt.NDArray[np.float32]


class Transform(enum.Enum):
    """How one Keras array becomes one PyTorch tensor."""

    COPY = "copy"  # biases, LayerNorm gamma/beta
    DENSE_KERNEL = "dense_kernel"  # (in, out) → Linear weight (out, in)
    MHA_IN_KERNEL = "mha_in_kernel"  # (96, heads, key_dim) → (heads*key_dim, 96)
    MHA_IN_BIAS = "mha_in_bias"  # (heads, key_dim) → (heads*key_dim,)
    MHA_OUT_KERNEL = "mha_out_kernel"  # (heads, key_dim, 96) → (96, heads*key_dim)


@dataclass(frozen=True, slots=True)
class WeightRule:
    """One Keras variable (``{n}`` = block from 1) ↔ one state-dict entry (``{b}`` = from 0)."""

    keras: str
    torch: str
    transform: Transform


_T = Transform
_ATTN: Final = "encoder_layer_{n}_attention"
_BLOCK_TABLE: Final = (
    # (Keras variable, state-dict entry, transform); {n} = block from 1, {b} = from 0
    (f"{_ATTN}/query/kernel", "blocks.{b}.attn.query.weight", _T.MHA_IN_KERNEL),
    (f"{_ATTN}/query/bias", "blocks.{b}.attn.query.bias", _T.MHA_IN_BIAS),
    (f"{_ATTN}/key/kernel", "blocks.{b}.attn.key.weight", _T.MHA_IN_KERNEL),
    (f"{_ATTN}/key/bias", "blocks.{b}.attn.key.bias", _T.MHA_IN_BIAS),
    (f"{_ATTN}/value/kernel", "blocks.{b}.attn.value.weight", _T.MHA_IN_KERNEL),
    (f"{_ATTN}/value/bias", "blocks.{b}.attn.value.bias", _T.MHA_IN_BIAS),
    (f"{_ATTN}/attention_output/kernel", "blocks.{b}.attn.out.weight", _T.MHA_OUT_KERNEL),
    (f"{_ATTN}/attention_output/bias", "blocks.{b}.attn.out.bias", _T.COPY),
    ("encoder_layer_{n}_norm1/gamma", "blocks.{b}.norm1.weight", _T.COPY),
    ("encoder_layer_{n}_norm1/beta", "blocks.{b}.norm1.bias", _T.COPY),
    ("encoder_layer_{n}_ff1/kernel", "blocks.{b}.ffn.0.weight", _T.DENSE_KERNEL),
    ("encoder_layer_{n}_ff1/bias", "blocks.{b}.ffn.0.bias", _T.COPY),
    ("encoder_layer_{n}_ff2/kernel", "blocks.{b}.ffn.2.weight", _T.DENSE_KERNEL),
    ("encoder_layer_{n}_ff2/bias", "blocks.{b}.ffn.2.bias", _T.COPY),
    ("encoder_layer_{n}_norm2/gamma", "blocks.{b}.norm2.weight", _T.COPY),
    ("encoder_layer_{n}_norm2/beta", "blocks.{b}.norm2.bias", _T.COPY),
)


#: The single Keras ↔ PyTorch name table: patch embedding, per-block rules, head.
WEIGHT_RULES: Final[dict[str, tuple[WeightRule, ...]]] = {
    "patch": (
        WeightRule("dense/kernel", "patch_embed.weight", Transform.DENSE_KERNEL),
        WeightRule("dense/bias", "patch_embed.bias", Transform.COPY),
    ),
    "block": tuple(WeightRule(*row) for row in _BLOCK_TABLE),
    "head": (
        WeightRule("dense_128/kernel", "head.0.weight", Transform.DENSE_KERNEL),
        WeightRule("dense_128/bias", "head.0.bias", Transform.COPY),
        WeightRule("output/kernel", "head.2.weight", Transform.DENSE_KERNEL),
        WeightRule("output/bias", "head.2.bias", Transform.COPY),
    ),
}


def expanded_rules(config: PatConfig, *, head: bool) -> dict[str, tuple[str, Transform]]:
    """Keras variable name → (state-dict name, transform) for ``config``. Pure."""
    rules = list(WEIGHT_RULES["patch"])
    for b in range(config.blocks):
        rules += [
            WeightRule(r.keras.format(n=b + 1), r.torch.format(b=b), r.transform)
            for r in WEIGHT_RULES["block"]
        ]
    if head:
        rules += WEIGHT_RULES["head"]
    return {r.keras: (r.torch, r.transform) for r in rules}


def keras_shape(
    transform: Transform, torch_shape: tuple[int, ...], config: PatConfig
) -> tuple[int, ...]:
    """The Keras shape that converts to ``torch_shape`` under ``transform``. Pure."""
    heads, key_dim = config.heads, config.key_dim
    if transform is Transform.DENSE_KERNEL:
        return torch_shape[::-1]
    if transform is Transform.MHA_IN_KERNEL:
        return (torch_shape[1], heads, key_dim)
    if transform is Transform.MHA_IN_BIAS:
        return (heads, key_dim)
    if transform is Transform.MHA_OUT_KERNEL:
        return (heads, key_dim, torch_shape[0])
    return torch_shape


def to_torch(transform: Transform, array: npt.NDArray[Any]) -> F32:
    """Rearrange one Keras array (already shape-checked) into the PyTorch layout. Pure.

    MultiHeadAttention kernels flatten head-major, matching ``KerasStyleAttention``'s
    ``view(batch, tokens, heads, key_dim)``: column ``h * key_dim + k`` is head ``h``, dim ``k``.
    """
    a = np.asarray(array, dtype=np.float32)
    if transform is Transform.DENSE_KERNEL:
        a = a.T
    elif transform is Transform.MHA_IN_KERNEL:
        a = a.reshape(a.shape[0], -1).T
    elif transform is Transform.MHA_IN_BIAS:
        a = a.reshape(-1)
    elif transform is Transform.MHA_OUT_KERNEL:
        a = a.reshape(-1, a.shape[-1]).T
    return np.ascontiguousarray(a)

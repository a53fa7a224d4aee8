"""PAT sizes and the fixed position table: plain data and numpy, no torch.

Shared by the torch network (:mod:`consumer.models.pat_net`) and the torch-free ONNX
runtime (:mod:`consumer.models.pat_onnx`), so a worker that runs PAT with ONNX Runtime
never imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from consumer.errors import ModelLoadError
from schemas.events import ACTIVITY_MINUTES

EMBED_DIM: Final = 96
FFN_DIM: Final = 256
HEAD_DIM: Final = 128
_DTYPE: Final = "F32"
LN_EPS: Final = 1e-6

PatSize = Literal["S", "M", "L"]


@dataclass(frozen=True, slots=True)
class PatConfig:
    """One PAT size. ``tokens`` = 10,080 / ``patch``."""

    size: PatSize
    patch: int
    heads: int
    blocks: int
    embed: int = EMBED_DIM
    key_dim: int = EMBED_DIM
    ffn: int = FFN_DIM

    @property
    def tokens(self) -> int:
        return ACTIVITY_MINUTES // self.patch


PAT_CONFIGS: Final[dict[str, PatConfig]] = {
    "S": PatConfig(size="S", patch=18, heads=6, blocks=1),
    "M": PatConfig(size="M", patch=18, heads=12, blocks=2),
    "L": PatConfig(size="L", patch=9, heads=12, blocks=4),
}


def sinusoidal_positions(tokens: int, dim: int) -> npt.NDArray[np.float32]:
    """Fixed positions, ``[sin | cos]`` CONCATENATED (not interleaved), shape (tokens, dim).

    Column ``i < dim/2`` is ``sin(pos / 10000^(2i/dim))``, column ``dim/2 + i`` the matching
    cos. Computed with numpy (no torch ops, so it is safe in a pre-fork parent). Pure.
    """
    half = dim // 2
    pos = np.arange(tokens, dtype=np.float64)[:, None]
    rates = 1.0 / np.power(10_000.0, (2.0 * np.arange(half, dtype=np.float64)) / dim)
    angles = pos * rates[None, :]
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1).astype(np.float32)


def tensor_shapes(config: PatConfig) -> dict[str, tuple[int, ...]]:
    """Every stored tensor's name and shape for ``config``, in state-dict order. Pure.

    The same table :func:`consumer.models.pat_net.expected_shapes` reads off the torch
    module (a unit test holds them equal), without importing torch.
    """
    embed, width = config.embed, config.heads * config.key_dim
    shapes: dict[str, tuple[int, ...]] = {
        "mean": (ACTIVITY_MINUTES,),
        "std": (ACTIVITY_MINUTES,),
        "patch_embed.weight": (embed, config.patch),
        "patch_embed.bias": (embed,),
    }
    for b in range(config.blocks):
        layers: dict[str, tuple[int, int]] = {
            "attn.query": (width, embed),
            "attn.key": (width, embed),
            "attn.value": (width, embed),
            "attn.out": (embed, width),
            "norm1": (embed, 0),
            "ffn.0": (config.ffn, embed),
            "ffn.2": (embed, config.ffn),
            "norm2": (embed, 0),
        }
        for name, (rows, cols) in layers.items():
            shapes[f"blocks.{b}.{name}.weight"] = (rows, cols) if cols else (rows,)
            shapes[f"blocks.{b}.{name}.bias"] = (rows,)
    shapes.update(
        {
            "head.0.weight": (HEAD_DIM, embed),
            "head.0.bias": (HEAD_DIM,),
            "head.2.weight": (1, HEAD_DIM),
            "head.2.bias": (1,),
        }
    )
    return shapes


def check_header(header: dict[str, object], size: str, source: str) -> None:
    """Refuse a safetensors header whose size, tensor names, dtypes or shapes do not fit ``size``.

    Pure, torch-free. Raises ModelLoadError naming the tensor and both shapes.
    """
    meta = header.get("__metadata__") or {}
    file_size = meta.get("size") if isinstance(meta, dict) else None
    if file_size is not None and file_size != size:
        raise ModelLoadError(
            f"{source}: file metadata says PAT size {file_size} but manifest.json says {size}; "
            "fix the manifest's size"
        )
    want = tensor_shapes(PAT_CONFIGS[size])
    tensors = {k: v for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)}
    for name in sorted(set(want) & set(tensors), key=list(want).index):
        got = tuple(tensors[name].get("shape", ()))
        if got != want[name]:
            raise ModelLoadError(
                f"{source}: tensor {name} has shape {list(got)} but PAT-{size} needs "
                f"{list(want[name])}; is the size in manifest.json right?"
            )
        if tensors[name].get("dtype") != _DTYPE:
            raise ModelLoadError(
                f"{source}: tensor {name} is {tensors[name].get('dtype')}, PAT needs F32; "
                "re-save the weights as float32"
            )
    missing = sorted(set(want) - set(tensors))
    unknown = sorted(set(tensors) - set(want))
    if missing or unknown:
        raise ModelLoadError(
            f"{source}: tensors do not match PAT-{size} (missing: {', '.join(missing) or '-'}; "
            f"unexpected: {', '.join(unknown) or '-'}); is the size in manifest.json right?"
        )

"""Keras 2 legacy H5 files in the layout of the published PAT weights (Ruan et al. 2024),
written with h5py for the converter's tests: ``encoder_layer_1_transformer/
encoder_layer_1_attention/query/kernel:0``, ``dense/dense/kernel:0``, …"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

Arrays = dict[str, npt.NDArray[np.float32]]
E, FF, HEAD = 96, 256, 128


def keras_weights(blocks: int, heads: int, patch: int, *, head: bool, seed: int = 7) -> Arrays:
    """Random Keras-shaped weights keyed by Keras variable name (no ``:0``)."""
    rng = np.random.default_rng(seed)

    def r(*shape: int, scale: float = 0.1) -> npt.NDArray[np.float32]:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    w: Arrays = {"dense/kernel": r(patch, E, scale=0.3), "dense/bias": r(E)}
    for n in range(1, blocks + 1):
        a = f"encoder_layer_{n}_attention"
        for proj in ("query", "key", "value"):
            w[f"{a}/{proj}/kernel"], w[f"{a}/{proj}/bias"] = r(E, heads, E), r(heads, E)
        w[f"{a}/attention_output/kernel"] = r(heads, E, E, scale=0.05)
        w[f"{a}/attention_output/bias"] = r(E)
        for norm in ("norm1", "norm2"):
            w[f"encoder_layer_{n}_{norm}/gamma"] = 1 + r(E)
            w[f"encoder_layer_{n}_{norm}/beta"] = r(E)
        w[f"encoder_layer_{n}_ff1/kernel"], w[f"encoder_layer_{n}_ff1/bias"] = r(E, FF), r(FF)
        w[f"encoder_layer_{n}_ff2/kernel"], w[f"encoder_layer_{n}_ff2/bias"] = r(FF, E), r(E)
    if head:
        w["dense_128/kernel"], w["dense_128/bias"] = r(E, HEAD), r(HEAD)
        w["output/kernel"], w["output/bias"] = r(HEAD, 1), r(1)
    return w


def layer_group(variable: str) -> str:
    """The Keras layer holding a variable in an encoder-only file (the block for block vars)."""
    first = variable.split("/")[0]
    if first.startswith("encoder_layer_"):
        return "_".join(first.split("_")[:3]) + "_transformer"
    return first


def write_h5(path: Path, weights: Arrays, *, full_model: bool = False) -> Path:
    """Write Keras 2 legacy H5: ``save_weights`` layout, or ``model.save`` of a fine-tuned model.

    The full-model file nests the encoder as layer ``encoder_model`` under ``model_weights/``
    and carries optimizer state, which the converter must ignore.
    """
    import h5py

    with h5py.File(path, "w") as f:
        root = f.create_group("model_weights") if full_model else f
        groups: dict[str, list[str]] = {}
        for variable, array in weights.items():
            layer = layer_group(variable)
            if full_model and not variable.startswith(("dense_128/", "output/")):
                layer = "encoder_model"
            root.create_dataset(f"{layer}/{variable}:0", data=array)
            groups.setdefault(layer, []).append(f"{variable}:0")
        for layer, names in groups.items():
            root[layer].attrs["weight_names"] = [n.encode() for n in names]
        root.attrs["layer_names"] = [n.encode() for n in groups]
        if full_model:
            f.create_dataset("optimizer_weights/Adam/iter:0", data=np.int64(3))
    return path

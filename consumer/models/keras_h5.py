"""Convert the original PAT Keras H5 weights (Ruan et al. 2024) to our safetensors format.

Reads with h5py only (no TensorFlow); the result loads with
:func:`consumer.models.pat.load_network`. The whole Keras → PyTorch correspondence is the
table :data:`consumer.models.keras_layout.WEIGHT_RULES`: if a file names its weights
differently, adapt that table and nothing else.

What was checked against public sources (njacobsonlab/Pretrained-Actigraphy-Transformer,
``Pretraining/ALBERT_Pretraining.ipynb`` and ``Fine-tuning/PAT_finetuning.ipynb``):

* layer names: patch embedding ``Dense(96, name="dense")`` after a ``Reshape``; block *n*
  (from 1) is a nested functional model ``encoder_layer_{n}_transformer`` made of
  ``encoder_layer_{n}_attention`` (``MultiHeadAttention(num_heads, key_dim=embed_dim)``),
  ``encoder_layer_{n}_norm1``, ``encoder_layer_{n}_ff1`` (Dense 256 relu),
  ``encoder_layer_{n}_ff2`` (Dense 96) and ``encoder_layer_{n}_norm2`` (post-norm,
  LayerNormalization epsilon 1e-6); positions ``[sin | cos]`` concatenated, fixed;
* the encoder is saved as the Keras model ``encoder_model`` with ``model.save("….h5")``
  (TensorFlow 2.15, Keras 2, legacy H5), 274,720 parameters for PAT-S per the notebook's
  summary; the fine-tuning head is ``GlobalAveragePooling1D`` → ``Dense(128, relu,
  name="dense_128")`` → ``Dense(1, sigmoid, name="output")``;
* inputs are standardised per minute position (``StandardScaler`` over (n, 10080) weeks);
  the H5 files carry no mean/std, so they come from the caller (or default to 0 / 1);
* third-party h5py readers of the published ``PAT-{S,M,L}_29k_weights.h5`` files open
  datasets such as ``encoder_layer_1_transformer/encoder_layer_1_attention/query/kernel:0``
  (shape (96, heads, 96)), ``…/attention_output/kernel:0``, ``…_norm1/gamma:0``,
  ``…_ff1/kernel:0`` and ``dense/dense/kernel:0`` at the file root.

What is assumed (Keras 2 conventions, not seen in a PAT file here): datasets sit at
``[model_weights/]<layer group>/<variable name>:0``, where the variable name is what Keras
gave the variable (``encoder_layer_1_norm1/gamma``), the same whether the layer group is the
block (encoder-only files) or ``encoder_model`` (a saved fine-tuned model); EinsumDense
sub-layers of MultiHeadAttention are ``query``/``key``/``value``/``attention_output`` with
kernels (96, heads, 96) and (heads, 96, 96); Dense kernels are (in, out). Keras 3
``.weights.h5`` files (``layers/…/vars/0``) are not supported. No published PAT file was
opened here: ``tests/unit/models/test_keras_h5.py`` writes files in this layout and checks the
converted network against a numpy implementation of the Keras forward pass.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import torch

from consumer.errors import ModelLoadError
from consumer.models.keras_layout import (
    WEIGHT_RULES,
    Transform,
    expanded_rules,
    keras_shape,
    to_torch,
)
from consumer.models.pat import load_network, network_to_bytes
from consumer.models.pat_net import HEAD_DIM, PAT_CONFIGS, PatConfig, PatNetwork, expected_shapes
from schemas.events import ACTIVITY_MINUTES

HeadMode = Literal["auto", "init", "file"]
F32 = npt.NDArray[np.float32]

HEAD_INIT_SEED: Final = 0
_MODEL_WEIGHTS_GROUP: Final = "model_weights"
_SHOWN_NAMES: Final = 4


@dataclass(frozen=True, slots=True)
class _Found:
    """One weight read from the file: its full dataset path and its values."""

    dataset: str
    array: npt.NDArray[Any]


def _variable_name(relative: str) -> str:
    """``dense/dense/kernel:0`` → ``dense/kernel``: drop the layer group and the ``:0``."""
    name = relative.split("/", 1)[1] if "/" in relative else relative
    return name.removesuffix(":0")


def _datasets(group: Any, dataset_type: type) -> list[tuple[str, Any]]:
    """Every dataset under an h5py group, as (path relative to the group, dataset)."""
    items: list[tuple[str, Any]] = []

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, dataset_type):
            items.append((name, obj))

    group.visititems(visit)
    return items


def read_keras_weights(h5_path: Path) -> dict[str, _Found]:
    """Every weight in a Keras 2 H5 file, keyed by Keras variable name. Blocking (file I/O).

    Looks under ``model_weights/`` when present (a full ``model.save`` file; optimizer
    state is ignored), else at the root (``save_weights``). Raises ModelLoadError when
    h5py is missing, the file is not HDF5, or two datasets name the same variable.
    """
    try:
        import h5py
    except ImportError as exc:
        raise ModelLoadError("reading Keras .h5 files needs h5py: pip install h5py") from exc
    found: dict[str, _Found] = {}
    try:
        with h5py.File(h5_path, "r") as f:
            nested = _MODEL_WEIGHTS_GROUP in f
            root = f[_MODEL_WEIGHTS_GROUP] if nested else f
            prefix = f"{_MODEL_WEIGHTS_GROUP}/" if nested else ""
            for relative, dataset in _datasets(root, h5py.Dataset):
                name, path = _variable_name(relative), prefix + relative
                if name in found:
                    raise ModelLoadError(
                        f"{h5_path}: H5 datasets {found[name].dataset} and {path} "
                        f"both hold Keras variable {name}"
                    )
                found[name] = _Found(path, np.asarray(dataset[()]))
    except OSError as exc:
        raise ModelLoadError(f"{h5_path}: not a readable HDF5 (Keras .h5) file ({exc})") from exc
    return found


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOWN_NAMES])
    more = len(names) - _SHOWN_NAMES
    return f"{shown} (+{more} more)" if more > 0 else shown


def _convert_one(
    found: _Found,
    torch_shape: tuple[int, ...],
    transform: Transform,
    config: PatConfig,
    source: Path,
) -> F32:
    """Shape-, dtype- and value-check one Keras array, then rearrange it. Pure."""
    want = keras_shape(transform, torch_shape, config)
    got = tuple(found.array.shape)
    if got != want:
        raise ModelLoadError(
            f"{source}: H5 dataset {found.dataset} has shape {list(got)} but PAT-{config.size} "
            f"needs {list(want)}; is --size right?"
        )
    if not np.issubdtype(found.array.dtype, np.floating):
        raise ModelLoadError(
            f"{source}: H5 dataset {found.dataset} is {found.array.dtype}, not float"
        )
    if not np.all(np.isfinite(found.array)):
        raise ModelLoadError(f"{source}: H5 dataset {found.dataset} has NaN or infinite values")
    return to_torch(transform, found.array)


def convert_weights(
    found: dict[str, _Found], config: PatConfig, *, head: bool, source: Path
) -> dict[str, F32]:
    """Map Keras weights to state-dict arrays for ``config``. Pure.

    Raises ModelLoadError (one line) for a wrong shape (naming the H5 dataset and both
    shapes), a non-float or non-finite array, or missing or unexpected weights.
    """
    rules = expanded_rules(config, head=head)
    torch_shapes = expected_shapes(config)
    unexpected = sorted(found[k].dataset for k in set(found) - set(rules))
    missing = sorted(set(rules) - set(found))
    out: dict[str, F32] = {}
    for keras, (torch_name, transform) in rules.items():
        if keras in found:
            out[torch_name] = _convert_one(
                found[keras], torch_shapes[torch_name], transform, config, source
            )
    if missing or unexpected:
        raise ModelLoadError(
            f"{source}: H5 weights do not match PAT-{config.size} (missing Keras variables: "
            f"{_names(missing) or '-'}; unexpected datasets: {_names(unexpected) or '-'}); "
            "is --size right, and is this a PAT encoder file?"
        )
    return out


def has_head(found: dict[str, _Found]) -> bool:
    """Whether any depression-head weight (``dense_128``/``output``) is in the file. Pure."""
    return any(rule.keras in found for rule in WEIGHT_RULES["head"])


def init_head(config: PatConfig, seed: int = HEAD_INIT_SEED) -> dict[str, F32]:
    """A deterministic, UNTRAINED head: Glorot-uniform kernels, zero biases (Keras defaults).

    Pure: numpy's generator seeded with ``seed``, no torch randomness.
    """
    rng = np.random.default_rng(seed)
    out: dict[str, F32] = {}
    for index, (fan_in, fan_out) in ((0, (config.embed, HEAD_DIM)), (2, (HEAD_DIM, 1))):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        kernel = rng.uniform(-limit, limit, size=(fan_out, fan_in))
        out[f"head.{index}.weight"] = kernel.astype(np.float32)
        out[f"head.{index}.bias"] = np.zeros(fan_out, dtype=np.float32)
    return out


def _use_file_head(mode: HeadMode, found: dict[str, _Found], source: Path) -> bool:
    """Decide where the head comes from. Raises ModelLoadError when ``mode`` cannot be met."""
    present = has_head(found)
    if mode == "file" and not present:
        raise ModelLoadError(
            f"{source}: no depression head (dense_128, output) in the H5 file; "
            "the published encoders have none: use head 'init' (untrained) or 'auto'"
        )
    if mode == "init" and present:
        raise ModelLoadError(
            f"{source}: the H5 file has a trained head (dense_128, output); "
            "use head 'file' or 'auto' to keep it rather than replace it with an untrained one"
        )
    return present if mode == "auto" else mode == "file"


def load_vector_npy(path: Path) -> F32:
    """Read a 1-D float vector from a ``.npy`` file (no pickles). Blocking (file I/O).

    Raises ModelLoadError for an unreadable, pickled or non-numeric file.
    """
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path}: not a readable .npy array ({exc})") from exc
    if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.number):
        raise ModelLoadError(f"{path}: expected a numeric .npy array")
    return np.asarray(array, dtype=np.float32)


def standardisation(
    mean: npt.NDArray[Any] | None, std: npt.NDArray[Any] | None
) -> tuple[F32, F32, str]:
    """The ``mean``/``std`` buffers (10,080 each) and a metadata note. Pure.

    Both None → mean 0, std 1 (inputs must arrive standardised). Raises ModelLoadError
    when only one is given, for a wrong shape, non-finite values or a std that is not > 0.
    """
    if mean is None and std is None:
        note = (
            "none: mean 0, std 1 (no input scaling: raw activity counts reach the encoder; "
            "not clinically valid until converted with the training weeks' mean and std)"
        )
        return (np.zeros(ACTIVITY_MINUTES, np.float32), np.ones(ACTIVITY_MINUTES, np.float32), note)
    if mean is None or std is None:
        raise ModelLoadError("give both mean and std (one per minute position), or neither")
    out: list[F32] = []
    for label, values in (("mean", mean), ("std", std)):
        array = np.asarray(values, dtype=np.float32)
        if array.shape != (ACTIVITY_MINUTES,):
            raise ModelLoadError(
                f"{label} has shape {list(array.shape)} but PAT needs [{ACTIVITY_MINUTES}] "
                "(one value per minute of the week)"
            )
        if not np.all(np.isfinite(array)):
            raise ModelLoadError(f"{label} has NaN or infinite values")
        out.append(array)
    if not np.all(out[1] > 0):
        raise ModelLoadError(
            "std has zero or negative entries; every minute position needs std > 0"
        )
    return out[0], out[1], "given: mean and std per minute position"


def _metadata(h5_path: Path, file_head: bool, seed: int, std_note: str) -> dict[str, str]:
    """The safetensors metadata of a converted file. Blocking (hashes the H5 file)."""
    meta = {
        "source": "Keras H5, PAT (Ruan et al. 2024); converted by moodstream models convert-h5",
        "source_file": h5_path.name,
        "source_sha256": hashlib.sha256(h5_path.read_bytes()).hexdigest(),
        "standardisation": std_note,
    }
    if file_head:
        meta |= {"head": "trained (from the H5 file)", "clinically_valid": "unverified"}
    else:
        meta |= {
            "head": "untrained",
            "head_init": f"glorot-uniform kernels, zero biases, numpy seed {seed}",
            "clinically_valid": "false",
            "note": "pretrained PAT encoder with an UNTRAINED depression head - "
            "predictions are meaningless until the head is fine-tuned",
        }
    return meta


def _serialise(config: PatConfig, arrays: dict[str, F32], metadata: dict[str, str]) -> bytes:
    """State-dict arrays → safetensors bytes via :func:`network_to_bytes`. Blocking (copies)."""
    state = {name: torch.from_numpy(array) for name, array in arrays.items()}
    with torch.device("meta"):
        network = PatNetwork(config)
    network.load_state_dict(state, strict=True, assign=True)
    return network_to_bytes(network, metadata)


def convert_keras_h5(
    h5_path: Path,
    *,
    size: Literal["S", "M", "L"],
    mean: npt.NDArray[Any] | None,
    std: npt.NDArray[Any] | None,
    head: HeadMode = "auto",
    head_seed: int = HEAD_INIT_SEED,
) -> bytes:
    """Convert an original PAT Keras H5 file to safetensors bytes for ``load_network``.

    ``head``: ``"auto"`` keeps a head found in the file, else initialises one; ``"init"``
    always initialises (seeded, metadata ``head: untrained``); ``"file"`` requires it.
    ``mean``/``std``: per-minute-position standardisation, or both None for 0 / 1.
    Blocking (file I/O, a few MB). Raises ModelLoadError (one line) for an unknown size, an
    unreadable file, a wrong shape (naming the H5 dataset and both shapes), missing or
    unexpected weights, or bad mean/std. Deterministic: same inputs, same bytes.
    """
    if size not in PAT_CONFIGS:
        raise ModelLoadError(f"unknown PAT size {size!r}; use S, M or L")
    config = PAT_CONFIGS[size]
    mean_arr, std_arr, std_note = standardisation(mean, std)
    found = read_keras_weights(h5_path)
    file_head = _use_file_head(head, found, h5_path)
    arrays = convert_weights(found, config, head=file_head, source=h5_path)
    if not file_head:
        arrays |= init_head(config, head_seed)
    arrays |= {"mean": mean_arr, "std": std_arr}
    data = _serialise(config, arrays, _metadata(h5_path, file_head, head_seed, std_note))
    load_network(data, size=size, source=f"{h5_path} (converted)")  # refuses what cannot load
    return data

"""PAT (Pretrained Actigraphy Transformer, Ruan et al. 2024): loading, saving and the adapter.

The network itself lives in :mod:`consumer.models.pat_net` (re-exported here). Weights
are safetensors only; nothing here ever unpickles (no ``torch.load``).

Fork safety: the supervisor loads the models and later forks workers, and a parent that
ran a multi-threaded torch op before the fork can hang its children (REFERENCE.md §4).
So loading runs no torch compute at all: the module is built on the meta device (no
random init), the tensors are parsed by safetensors into numpy, wrapped with
``torch.from_numpy`` and attached with ``load_state_dict(assign=True)``; the position
table is computed in numpy.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import safetensors.numpy
import torch
from safetensors.torch import save as _save_bytes

from consumer.errors import ModelLoadError
from consumer.models.formats import read_safetensors_header, require_safetensors_suffix
from consumer.models.pat_config import check_header
from consumer.models.pat_net import (
    PAT_CONFIGS,
    PatConfig,
    PatNetwork,
    encoder_parameter_count,
    sinusoidal_positions,
)
from consumer.models.threads import cap_torch_threads
from schemas.events import ACTIVITY_MINUTES

__all__ = [
    "PAT_CONFIGS",
    "PatConfig",
    "PatModel",
    "PatNetwork",
    "canonical_safetensors",
    "encoder_parameter_count",
    "load_network",
    "network_to_bytes",
    "sinusoidal_positions",
]


def network_to_bytes(network: PatNetwork, metadata: dict[str, str] | None = None) -> bytes:
    """Serialise weights + standardisation buffers as safetensors bytes, with ``size`` metadata.

    Deterministic for identical tensors and metadata. Blocking (copies), raises nothing
    of its own.
    """
    meta = {"size": network.config.size, "format": "pt", **(metadata or {})}
    state = {k: v.detach().contiguous().to(torch.float32) for k, v in network.state_dict().items()}
    return canonical_safetensors(_save_bytes(state, metadata=meta))


def canonical_safetensors(data: bytes) -> bytes:
    """Rewrite a safetensors header with sorted keys so equal tensors give equal bytes.

    safetensors serialises ``__metadata__`` from a Rust HashMap, whose order changes from
    process to process; the tensor bytes and their offsets are left untouched. Pure.
    """
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    text = json.dumps(header, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data[8 + length :]


def load_network(data: bytes, *, size: str, source: str = "<pat>") -> PatNetwork:
    """Build a PatNetwork from safetensors bytes without running any torch compute.

    Blocking (parsing). Raises ModelLoadError for a non-safetensors file, an unknown size,
    or tensors whose names/shapes/dtypes do not match ``size`` (naming the tensor and both
    shapes). The result is in eval mode with ``requires_grad`` off.
    """
    if size not in PAT_CONFIGS:
        raise ModelLoadError(f"{source}: unknown PAT size {size!r}; use S, M or L")
    header = read_safetensors_header(data, source=source)
    check_header(header, size, source)
    try:
        arrays = safetensors.numpy.load(data)
    except Exception as exc:  # safetensors raises its own SafetensorError
        raise ModelLoadError(f"{source}: unreadable safetensors data ({exc})") from exc
    if not np.all(np.isfinite(arrays["std"]) & (arrays["std"] > 0)):
        raise ModelLoadError(f"{source}: buffer std has zero, negative or non-finite entries")
    state = {
        k: torch.from_numpy(np.array(a, dtype=np.float32, copy=True)) for k, a in arrays.items()
    }
    with torch.device("meta"):
        network = PatNetwork(PAT_CONFIGS[size])
    network.load_state_dict(state, strict=True, assign=True)
    network.requires_grad_(False)
    return network.eval()


class PatModel:
    """PAT behind the BatchModel protocol: raw activity (n, 10080) → P(depression) (n,).

    Runs in sub-batches of ``sub_batch_size`` under ``torch.inference_mode()`` (batching
    does not raise throughput on CPU; small sub-batches bound the peak memory);
    ``precision="bf16"`` runs under CPU bf16 autocast (fast only where the CPU has native
    bf16: AVX-512 BF16 / AMX). Thread-safe for one caller at a time.

    ``device="cuda"``: the weights stay on the CPU until the first call (``warmup`` in the
    worker, after the fork: a CUDA context never crosses a fork), then live on the GPU;
    each call copies its rows there and runs in sub-batches of the device batch bound
    (bf16 under CUDA autocast).
    """

    def __init__(
        self,
        network: PatNetwork,
        *,
        name: str = "pat",
        version: str,
        sub_batch_size: int = 8,
        precision: str = "fp32",
        device: str = "cpu",
    ) -> None:
        if sub_batch_size < 1:
            raise ValueError("sub_batch_size must be >= 1")
        if precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be fp32 or bf16, got {precision!r}")
        if device not in ("cpu", "cuda"):
            raise ValueError(f"device must be cpu or cuda, got {device!r}")
        self.device: Final[str] = device
        self._on_device = device == "cpu"  # a GPU model moves there at its first call
        self._network = network
        self._name = name
        self._version = version
        self._sub_batch_size = sub_batch_size
        self.config: Final[PatConfig] = network.config
        self.parameters: Final[int] = sum(p.numel() for p in network.parameters())
        self.encoder_parameters: Final[int] = encoder_parameter_count(network)
        self.runtime: Final[str] = "torch"
        self.precision: Final[str] = precision

    @classmethod
    def from_bytes(
        cls,
        data: bytes,
        *,
        path: Path,
        size: str,
        version: str,
        name: str = "pat",
        sub_batch_size: int = 8,
        torch_threads: int = 1,
        precision: str = "fp32",
        device: str = "cpu",
    ) -> PatModel:
        """Load safetensors bytes already read (and checksummed) from ``path``. Blocking.

        Caps torch's threads first. Raises ModelLoadError (see :func:`load_network`).
        """
        require_safetensors_suffix(path)
        cap_torch_threads(torch_threads)
        network = load_network(data, size=size, source=str(path))
        return cls(
            network,
            name=name,
            version=version,
            sub_batch_size=sub_batch_size,
            precision=precision,
            device=device,
        )

    @property
    def name(self) -> str:
        return self._name

    @property
    def kind(self) -> str:
        return "pat"

    @property
    def version(self) -> str:
        return self._version

    @property
    def network(self) -> PatNetwork:
        return self._network

    def predict_batch(self, inputs: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """P(PHQ-9 ≥ 10) per row of raw float32 activity ``(n, 10080)``.

        Blocking; uses the capped torch threads. Raises ValueError on a wrong shape and
        torch's error on failure.
        """
        if inputs.ndim != 2 or inputs.shape[1] != ACTIVITY_MINUTES:
            raise ValueError(f"expected shape (n, {ACTIVITY_MINUTES}), got {inputs.shape}")
        if not self._on_device:
            self._network.to(self.device)
            self._on_device = True
        x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32))
        out = np.empty(x.shape[0], dtype=np.float64)
        step = self._sub_batch_size
        bf16 = self.precision == "bf16"
        autocast = torch.autocast(self.device, dtype=torch.bfloat16, enabled=bf16)
        with torch.inference_mode(), autocast:
            for start in range(0, x.shape[0], step):
                probs = self._network(x[start : start + step].to(self.device))
                out[start : start + step] = probs.double().cpu().numpy()
        return out

    def warmup(self, rows: int = 1) -> None:
        """Score ``rows`` flat weeks. Blocking, raises on failure. Worker-only (after the fork).

        Thread caps are the caller's job (``apply_thread_caps`` first in every worker).
        """
        self.predict_batch(np.zeros((rows, ACTIVITY_MINUTES), dtype=np.float32))

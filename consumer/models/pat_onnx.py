"""PAT on ONNX Runtime (fp32): the same weights, exported by the project, run without torch.

The ``.onnx`` file is written by :func:`consumer.models.pat_export.export_onnx` from the
PAT safetensors and listed in ``manifest.json`` with its own sha256 (checked by the
registry before anything parses it). Its metadata names the sha256 of the safetensors it
was exported from; :func:`onnx_metadata` reads that with a few lines of protobuf parsing
(no ``onnx`` package, no ORT session), so a stale export is refused in the supervisor
without running anything.

Fork safety: importing onnxruntime starts a native background thread (seen with gdb:
a timed condition wait inside ``onnxruntime_pybind11_state``), so this module never
imports it at load: onnxruntime is imported and the session (with any thread pool)
created lazily on the first ``predict_batch``/``warmup``, which only ever happens in a
worker after the fork.
Sessions run on the calling thread: ``intra_op_num_threads`` = ``MODELS__TORCH_THREADS``
(1 by default: no pool at all), ``inter_op_num_threads`` = 1, sequential execution,
no spinning threads.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt

from consumer.errors import ModelLoadError
from consumer.models.pat_config import PatConfig
from schemas.events import ACTIVITY_MINUTES

if TYPE_CHECKING:
    import onnxruntime

ONNX_SUFFIX: Final = ".onnx"
INPUT_NAME: Final = "activity"
OUTPUT_NAME: Final = "probability"
_METADATA_FIELD: Final = 14  # ModelProto.metadata_props (StringStringEntryProto: key 1, value 2)


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes) -> list[tuple[int, bytes]]:
    """Top-level length-delimited fields of one protobuf message (others skipped). Pure."""
    found: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, pos = _varint(data, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ValueError("truncated field")
            found.append((number, data[pos : pos + length]))
            pos += length
        else:
            raise ValueError(f"unsupported wire type {wire}")
    return found


def onnx_metadata(data: bytes, *, source: str) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX model as a dict. Pure (parses bytes only).

    Raises ModelLoadError when the bytes are not a parseable protobuf message.
    """
    try:
        props = [value for number, value in _fields(data) if number == _METADATA_FIELD]
        pairs = [dict(_fields(prop)) for prop in props]
        return {p.get(1, b"").decode(): p.get(2, b"").decode() for p in pairs}
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{source}: not an ONNX model ({exc})") from exc


def check_onnx_export(data: bytes, *, path: Path, source_sha256: str, size: str) -> None:
    """Refuse an export that is not of the listed safetensors or not of this PAT size. Pure.

    Raises ModelLoadError naming the file and what to do.
    """
    if path.suffix.lower() != ONNX_SUFFIX:
        raise ModelLoadError(f"{path}: an ONNX export must end in {ONNX_SUFFIX}")
    meta = onnx_metadata(data, source=str(path))
    hint = "re-export it with `moodstream models export-onnx`"
    if meta.get("moodstream.source_sha256") != source_sha256:
        raise ModelLoadError(
            f"{path} was exported from other PAT weights (source sha256 "
            f"{meta.get('moodstream.source_sha256', '?')[:12]}…, the manifest's PAT is "
            f"{source_sha256[:12]}…); {hint}"
        )
    if meta.get("moodstream.size") != size:
        raise ModelLoadError(f"{path} is PAT-{meta.get('moodstream.size')}, not PAT-{size}; {hint}")


def session_options(threads: int) -> onnxruntime.SessionOptions:
    """Thread-capped, non-spinning, sequential session options. Imports onnxruntime."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.log_severity_level = 3
    return options


class OnnxPatModel:
    """PAT behind the BatchModel protocol on ONNX Runtime: (n, 10080) float32 → (n,) float64.

    Holds the verified ONNX bytes; the session is built on first use (after the fork).
    Sub-batches of ``sub_batch_size`` bound peak memory. Safe for one caller at a time.
    """

    def __init__(
        self,
        data: bytes,
        *,
        config: PatConfig,
        version: str,
        parameters: int,
        encoder_parameters: int,
        name: str = "pat",
        sub_batch_size: int = 4,
        threads: int = 1,
    ) -> None:
        if sub_batch_size < 1:
            raise ValueError("sub_batch_size must be >= 1")
        self._data = data
        self._name = name
        self._version = version
        self._sub_batch_size = sub_batch_size
        self._threads = threads
        self._session: Any = None
        self._lock = threading.Lock()
        self.config: Final[PatConfig] = config
        self.parameters: Final[int] = parameters
        self.encoder_parameters: Final[int] = encoder_parameters
        self.runtime: Final[str] = "onnx"
        self.precision: Final[str] = "fp32"
        self.device: Final[str] = "cpu"

    @property
    def name(self) -> str:
        return self._name

    @property
    def kind(self) -> str:
        return "pat"

    @property
    def version(self) -> str:
        return self._version

    def _get_session(self) -> Any:
        with self._lock:
            if self._session is None:
                import onnxruntime as ort

                self._session = ort.InferenceSession(
                    self._data,
                    session_options(self._threads),
                    providers=["CPUExecutionProvider"],
                )
            return self._session

    def predict_batch(self, inputs: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """P(PHQ-9 ≥ 10) per row of raw float32 activity ``(n, 10080)``.

        Blocking (creates the session on the first call). Raises ValueError on a wrong
        shape and onnxruntime's error on failure.
        """
        if inputs.ndim != 2 or inputs.shape[1] != ACTIVITY_MINUTES:
            raise ValueError(f"expected shape (n, {ACTIVITY_MINUTES}), got {inputs.shape}")
        x = np.ascontiguousarray(inputs, dtype=np.float32)
        session = self._get_session()
        out = np.empty(x.shape[0], dtype=np.float64)
        step = self._sub_batch_size
        for start in range(0, x.shape[0], step):
            (probs,) = session.run([OUTPUT_NAME], {INPUT_NAME: x[start : start + step]})
            out[start : start + step] = probs
        return out

    def warmup(self, rows: int = 1) -> None:
        """Build the session and score ``rows`` flat weeks. Blocking. Worker-only (after the
        fork)."""
        self.predict_batch(np.zeros((rows, ACTIVITY_MINUTES), dtype=np.float32))


def parameter_counts(header: dict[str, Any]) -> tuple[int, int]:
    """(all parameters, encoder parameters) from a PAT safetensors header. Pure.

    Buffers (``mean``, ``std``) are not parameters; the encoder is everything but ``head.*``.
    """
    counts = {
        name: int(np.prod(entry.get("shape", ())))
        for name, entry in header.items()
        if name != "__metadata__" and isinstance(entry, dict) and name not in ("mean", "std")
    }
    encoder = sum(n for name, n in counts.items() if not name.startswith("head."))
    return sum(counts.values()), encoder

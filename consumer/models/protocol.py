"""The one contract every model adapter honours (XGBoost boosters and PAT alike)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from consumer.models.pat_config import PatConfig


@runtime_checkable
class BatchModel(Protocol):
    """A loaded, verified model that scores a whole batch in one blocking call.

    ``predict_batch`` takes a 2-D float32 array (one row per event; 36 features in
    ``schemas.FEATURE_NAMES`` order for boosters, 10,080 activity minutes for PAT) and
    returns float64 probabilities of shape ``(n,)``. It blocks until done and raises on
    failure (``ValueError`` for a wrongly shaped input). It is safe to call from any one
    thread at a time; it is not meant for concurrent callers.

    ``warmup`` runs one tiny inference so the first real batch does not pay for lazy
    initialisation. It is only ever called in a worker process, after the fork.
    """

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str:
        """``"xgboost"`` or ``"pat"``."""
        ...

    @property
    def version(self) -> str: ...

    def predict_batch(self, inputs: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]: ...

    def warmup(self, rows: int = 1) -> None:
        """Score ``rows`` neutral rows (lazy set-up at that shape). Blocking; raises."""
        ...


@runtime_checkable
class PatBatchModel(BatchModel, Protocol):
    """PAT in one of its runtimes (torch eager fp32/bf16, ONNX Runtime fp32)."""

    @property
    def config(self) -> PatConfig: ...

    @property
    def parameters(self) -> int: ...

    @property
    def encoder_parameters(self) -> int: ...

    @property
    def runtime(self) -> str:
        """``"torch"`` or ``"onnx"``."""
        ...

    @property
    def precision(self) -> str:
        """``"fp32"`` or ``"bf16"``."""
        ...

    @property
    def device(self) -> str:
        """``"cpu"`` or ``"cuda"`` (moved there at its first call, in the worker)."""
        ...

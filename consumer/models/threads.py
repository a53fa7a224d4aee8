"""Thread caps for the numeric libraries, applied before they spin up their pools.

This module never imports torch or xgboost: it must be safe to call before either is
loaded, which is the only moment the OpenMP/BLAS environment variables are honoured.

Why it matters: the supervisor loads the models and then forks workers. A parent that
ran a multi-threaded torch operation before the fork can leave a child hanging when the
child uses more than one torch thread (REFERENCE.md §4), and every process on a small
machine must keep its own pools small. So the caps go on first, everywhere.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Final

from consumer.settings import ModelSettings

#: The environment variables read by OpenMP, OpenBLAS and MKL when they initialise.
THREAD_ENV_VARS: Final[tuple[str, ...]] = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
)


def apply_thread_caps(settings: ModelSettings) -> None:
    """Cap OpenMP/BLAS/MKL and, when torch is already imported, torch's own pools.

    Sets ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and ``MKL_NUM_THREADS`` to
    ``settings.torch_threads`` (they only take effect for libraries loaded afterwards),
    then calls :func:`cap_torch_threads` if ``torch`` is in ``sys.modules``. XGBoost's
    own cap is the booster's ``nthread`` parameter, set by the adapter at load.

    Non-blocking, idempotent, raises nothing. Call it first in every process that will
    run a model (supervisor before loading, each worker after the fork).
    """
    threads = str(max(settings.torch_threads, settings.xgboost_threads))
    for name in THREAD_ENV_VARS:
        os.environ[name] = threads
    if "torch" in sys.modules:
        cap_torch_threads(settings.torch_threads)


def cap_torch_threads(torch_threads: int) -> None:
    """Set torch's intra-op threads to ``torch_threads`` and its inter-op pool to 1.

    Imports nothing: a no-op when torch has not been imported yet. ``set_num_interop_threads``
    raises RuntimeError once the inter-op pool exists or was already set; that is ignored
    (the pool is then whatever the first call made it). Non-blocking, raises nothing.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        return
    if torch.get_num_threads() != torch_threads:
        torch.set_num_threads(torch_threads)
    with contextlib.suppress(RuntimeError):  # pool already started or already set
        torch.set_num_interop_threads(1)

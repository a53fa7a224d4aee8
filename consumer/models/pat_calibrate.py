"""PAT runtimes checked against torch fp32: max |Δ probability| and speed, then a choice.

Runtimes are labelled ``torch-fp32`` (the reference), ``torch-bf16`` (CPU autocast),
``onnx-fp32`` (ONNX Runtime), and on a GPU ``cuda-fp32``/``cuda-bf16`` (torch). A runtime
passes when its max |Δ probability| against torch fp32 on the CPU, on the same synthetic
weeks, is within its bound: ``FP32_BOUND`` (1e-5) for a CPU fp32 runtime,
``MODELS__PAT_MAX_ERROR`` (≤ 0.01) for bf16 and for every GPU runtime (its kernels sum in
another order than the CPU's). Speed is sequences per CPU second of the process for a CPU
runtime, per wall second for a GPU one (the host thread mostly waits for the device).

Fork safety: calibration runs inference, so the service never runs it in the supervisor.
:func:`calibrate_in_subprocess` runs it in a fresh interpreter (``python -m
consumer.models.pat_calibrate_child``, exec'd, not forked: the supervisor has no threads yet)
and reads back JSON; the supervisor then loads only the chosen runtime.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from consumer.errors import ModelLoadError
from consumer.settings import ModelSettings

RUNTIMES: Final[tuple[str, ...]] = ("torch-fp32", "torch-bf16", "onnx-fp32")
DEVICE_RUNTIMES: Final[tuple[str, ...]] = ("cuda-fp32", "cuda-bf16")
REFERENCE: Final = "torch-fp32"
FP32_BOUND: Final = 1e-5
CALIBRATION_SEED: Final = 20261129
BF16_FLAGS: Final[tuple[str, ...]] = ("avx512_bf16", "amx_bf16")
_SUBPROCESS_TIMEOUT_S: Final = 600.0

Predict = Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float64]]


@dataclass(frozen=True, slots=True)
class RuntimeFigures:
    """One runtime's calibration: error against torch fp32 and speed (per CPU second on
    the capped threads; per wall second for a GPU runtime)."""

    runtime: str
    max_abs_error: float
    bound: float
    sequences_per_cpu_s: float
    weeks: int

    @property
    def within_bound(self) -> bool:
        return self.max_abs_error <= self.bound


def cpu_flags() -> frozenset[str]:
    """The CPU flags of ``/proc/cpuinfo`` (empty where unreadable). Blocking briefly."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def native_bf16(flags: frozenset[str] | None = None) -> bool:
    """Whether the CPU computes bf16 natively (AVX-512 BF16 or AMX BF16)."""
    found = cpu_flags() if flags is None else flags
    return any(flag in found for flag in BF16_FLAGS)


def bound_for(runtime: str, max_error: float) -> float:
    """The accuracy bound of a runtime: 1e-5 for CPU fp32 paths, ``max_error`` for bf16
    and for GPU runtimes."""
    return FP32_BOUND if runtime in ("torch-fp32", "onnx-fp32") else max_error


def is_device_runtime(runtime: str) -> bool:
    return runtime in DEVICE_RUNTIMES


def device_candidates(settings: ModelSettings) -> list[str]:
    """The GPU runtimes a setting asks to consider: the CPU rules on the GPU. Pure.

    ``torch`` (or the default ``onnx``, CPU-only) runs ``cuda-<MODELS__PAT_PRECISION>``;
    ``auto`` considers ``cuda-fp32`` and, when ``MODELS__PAT_PRECISION=bf16`` allows it,
    ``cuda-bf16`` (every GPU with CUDA compute ≥ 8.0 has native bf16).
    """
    if settings.pat_runtime != "auto":
        return [f"cuda-{settings.pat_precision}"]
    return ["cuda-fp32", *(["cuda-bf16"] if settings.pat_precision == "bf16" else [])]


def candidates(settings: ModelSettings, *, has_onnx: bool, bf16_native: bool) -> list[str]:
    """The runtimes a setting asks to consider, the reference first. Pure.

    ``auto`` considers torch fp32, ONNX fp32 when the export exists, and torch bf16 when
    ``MODELS__PAT_PRECISION=bf16`` allows it and the CPU has native bf16.
    """
    if settings.pat_runtime != "auto":
        return [f"{settings.pat_runtime}-{settings.pat_precision}"]
    found = [REFERENCE]
    if has_onnx:
        found.append("onnx-fp32")
    if settings.pat_precision == "bf16" and bf16_native:
        found.append("torch-bf16")
    return found


def calibration_weeks(count: int, seed: int = CALIBRATION_SEED) -> npt.NDArray[np.float32]:
    """``count`` seeded synthetic weeks, half of them disrupted. Pure (numpy)."""
    from consumer.models.synthetic import synthetic_weeks

    rng = np.random.default_rng(seed)
    return synthetic_weeks(rng, np.arange(count) % 2 == 1)


def _timed(
    predict: Predict, weeks: npt.NDArray[np.float32], *, device: bool = False
) -> tuple[np.ndarray, float]:
    """Score ``weeks`` once after a warm-up; CPU seconds, or wall seconds on a device
    (warmed at the measured shape too: a GPU picks its kernels per shape)."""
    predict(weeks[:1])  # warm-up: lazy sessions, allocator, kernels
    if device:
        predict(weeks)
    timer = time.perf_counter if device else time.process_time
    started = timer()
    out = predict(weeks)
    return out, max(timer() - started, 1e-9)


def measure(
    runtimes: Mapping[str, Predict], weeks: npt.NDArray[np.float32], max_error: float
) -> list[RuntimeFigures]:
    """Score ``weeks`` with every runtime (``runtimes`` must hold ``torch-fp32``). Blocking.

    Speed is sequences per CPU second of this process (all its threads), so other load on
    a shared machine matters less than with wall-clock time; a GPU runtime's is per wall
    second.
    """
    reference, ref_cpu_s = _timed(runtimes[REFERENCE], weeks)
    figures = [RuntimeFigures(REFERENCE, 0.0, FP32_BOUND, len(weeks) / ref_cpu_s, len(weeks))]
    for name, predict in runtimes.items():
        if name == REFERENCE:
            continue
        out, cpu_s = _timed(predict, weeks, device=is_device_runtime(name))
        error = float(np.max(np.abs(out - reference)))
        bound = bound_for(name, max_error)
        figures.append(RuntimeFigures(name, error, bound, len(weeks) / cpu_s, len(weeks)))
    return figures


def choose(figures: Sequence[RuntimeFigures], requested: str) -> RuntimeFigures:
    """The runtime to use: ``requested`` if within its bound, or for ``auto`` the fastest
    within bound. Pure. Raises ModelLoadError (one line, with the figures) when the
    requested runtime's error is over its bound."""
    if requested != "auto":
        chosen = next(f for f in figures if f.runtime == requested)
        if not chosen.within_bound:
            raise ModelLoadError(
                f"PAT runtime {requested} refused: max |Δ probability| against torch fp32 "
                f"{chosen.max_abs_error:.2e} on {chosen.weeks} synthetic weeks is over the "
                f"bound {chosen.bound:g} (MODELS__PAT_MAX_ERROR); use MODELS__PAT_PRECISION=fp32"
            )
        return chosen
    passing = [f for f in figures if f.within_bound]
    if not passing:
        over = ", ".join(f"{f.runtime} {f.max_abs_error:.2e} > {f.bound:g}" for f in figures)
        raise ModelLoadError(f"no PAT runtime within its accuracy bound ({over})")
    return max(passing, key=lambda f: f.sequences_per_cpu_s)


def figures_json(figures: Sequence[RuntimeFigures]) -> list[dict[str, float | str | int]]:
    return [{**asdict(f), "sequences_per_cpu_s": round(f.sequences_per_cpu_s, 2)} for f in figures]


def calibrate_in_subprocess(
    settings: ModelSettings, runtimes: Sequence[str]
) -> list[RuntimeFigures]:
    """Run :func:`measure` for ``runtimes`` in a fresh interpreter; return its figures.

    Blocking (seconds: imports torch, scores ``MODELS__PAT_CALIBRATION_WEEKS`` weeks per
    runtime). Raises ModelLoadError when the child fails (its last stderr line included).
    """
    rows = json.loads(_run_child([settings.model_dump_json(), *runtimes], "PAT calibration"))
    return [RuntimeFigures(**row) for row in rows]


@dataclass(frozen=True, slots=True)
class CudaProbe:
    """What a fresh interpreter saw of CUDA: the device count, the first one's name, and
    why there is none (``ok`` when there is)."""

    devices: int
    name: str | None
    reason: str


def probe_cuda_in_subprocess() -> CudaProbe:
    """Ask a fresh interpreter whether torch sees a CUDA device. The service's supervisor
    must never initialise CUDA itself: it forks its workers afterwards, and a CUDA context
    does not survive a fork. Blocking (a torch import). Raises ModelLoadError when the
    child fails."""
    return CudaProbe(**json.loads(_run_child(["--probe-cuda"], "CUDA probe")))


def _run_child(arguments: Sequence[str], what: str) -> str:
    """Run ``python -m consumer.models.pat_calibrate_child ARGUMENTS`` (exec'd, not forked:
    the supervisor has no threads yet); its stdout. Raises ModelLoadError on failure."""
    command = [sys.executable, "-m", "consumer.models.pat_calibrate_child", *arguments]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=_SUBPROCESS_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise ModelLoadError(f"{what} took over {exc.timeout:.0f} s") from exc
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["no output"]
        raise ModelLoadError(f"{what} failed: {lines[-1]}")
    return done.stdout

"""PAT per runtime: sequences per core at batch 1, 4 and the sub-batch, max |Δ| against torch
fp32, peak RSS, and whether torch was imported.

Each runtime is measured in its own spawned child (so its peak RSS is its own, and a
runtime without torch really runs without it), in rounds (torch fp32, ONNX fp32, torch
bf16, then again): on a shared machine compare the ratios within one round. Blocking.
"""

from __future__ import annotations

import functools
import multiprocessing
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from consumer.settings import ModelSettings

Doc = dict[str, Any]


def available_runtimes(settings: ModelSettings) -> list[str]:
    """torch fp32 (the reference), ONNX fp32 when the export is listed, torch bf16 when the
    CPU has native bf16. Blocking briefly (reads the manifest and /proc/cpuinfo)."""
    from consumer.models.manifest import read_manifest
    from consumer.models.pat_calibrate import native_bf16

    entry = next((e for e in read_manifest(settings.dir).models if e.kind == "pat"), None)
    if entry is None:
        return []
    labels = ["torch-fp32"] + (["onnx-fp32"] if entry.onnx_file else [])
    return labels + (["torch-bf16"] if native_bf16() else [])


def _timed(call: Any, seconds: float) -> tuple[int, float, float]:
    calls, started, cpu = 0, time.perf_counter(), time.process_time()
    while calls < 3 or time.perf_counter() - started < seconds:
        call()
        calls += 1
    return calls, time.perf_counter() - started, time.process_time() - cpu


def measure_one(settings: ModelSettings, label: str, weeks: int, seconds: float) -> Doc:
    """In this process: load ``label`` only, score ``weeks`` calibration weeks, time batch 1
    and the sub-batch. Returns figures and the probabilities (for the error)."""
    from consumer.models.pat_calibrate import calibration_weeks
    from consumer.models.pat_runtime import load_pat_runtimes
    from consumer.models.threads import apply_thread_caps

    apply_thread_caps(settings)
    model = load_pat_runtimes(settings, [label])[label]
    sizes = sorted({1, 4, settings.pat_sub_batch_size})
    data = calibration_weeks(max(weeks, *sizes))
    probabilities = model.predict_batch(data[:weeks]) if weeks else np.empty(0)
    figures: Doc = {}
    for size in sizes:
        batch = np.ascontiguousarray(data[:size])
        calls, elapsed, cpu = _timed(functools.partial(model.predict_batch, batch), seconds)
        figures[f"batch_{size}"] = {
            "sequences_per_s": round(calls * size / elapsed, 2),
            "sequences_per_cpu_s": round(calls * size / max(cpu, 1e-9), 2),
            "calls": calls,
        }
    return {
        **figures,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "torch_imported": "torch" in sys.modules,
        "probabilities": probabilities.tolist(),
    }


def isolated(settings: ModelSettings, label: str, weeks: int, seconds: float) -> Doc:
    """``measure_one`` in a spawned child (its own imports and peak RSS). Blocking."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(measure_one, settings, label, weeks, seconds).result()


def measure_pat_runtimes(
    settings: ModelSettings, *, weeks: int, seconds: float, rounds: int, progress: Any
) -> Doc:
    """Every available runtime, ``rounds`` times each, one spawned child per measurement."""
    from consumer.models.pat_calibrate import REFERENCE, bound_for

    labels = available_runtimes(settings)
    runs: dict[str, list[Doc]] = {label: [] for label in labels}
    for round_index in range(rounds):
        for label in labels:
            progress(f"PAT runtime {label}, round {round_index + 1} of {rounds}")
            scored = weeks if round_index == 0 else 0  # the error needs one round only
            runs[label].append(isolated(settings, label, scored, seconds))
    if REFERENCE not in runs:
        return {"runtimes": {}, "weeks": weeks, "rounds": rounds}
    reference = np.asarray(runs[REFERENCE][0]["probabilities"])
    out: Doc = {}
    for label, results in runs.items():
        error = float(np.max(np.abs(np.asarray(results[0]["probabilities"]) - reference)))
        out[label] = _summarise(results, error, bound_for(label, settings.pat_max_error))
    return {
        "runtimes": out,
        "weeks": weeks,
        "rounds": rounds,
        "default": f"{settings.pat_runtime}-{settings.pat_precision}",
        "speedup_vs_torch_fp32": speedups(out),
        "best_speedup": best_speedup(out, settings.pat_sub_batch_size),
    }


def _summarise(results: list[Doc], error: float, bound: float) -> Doc:
    batches = [k for k in results[0] if k.startswith("batch_")]
    summary: Doc = {
        "max_abs_error": error,
        "bound": bound,
        "within_bound": error <= bound,
        "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
        "torch_imported": any(r["torch_imported"] for r in results),
    }
    for batch in batches:
        per_cpu = [r[batch]["sequences_per_cpu_s"] for r in results]
        summary[batch] = {
            "sequences_per_cpu_s": round(float(np.median(per_cpu)), 2),
            "sequences_per_cpu_s_rounds": per_cpu,
            "sequences_per_s": round(
                float(np.median([r[batch]["sequences_per_s"] for r in results])), 2
            ),
        }
    return summary


def speedups(runtimes: Doc) -> Doc:
    """Each runtime's sequences per CPU-s ÷ torch fp32's, per batch (median of rounds). Pure."""
    reference = runtimes.get("torch-fp32")
    if reference is None:
        return {}
    out: Doc = {}
    for label, figures in runtimes.items():
        out[label] = {
            batch: round(
                figures[batch]["sequences_per_cpu_s"] / reference[batch]["sequences_per_cpu_s"], 2
            )
            for batch in figures
            if batch.startswith("batch_") and batch in reference
        }
    return out


def best_speedup(runtimes: Doc, sub_batch: int) -> float | None:
    """The largest sub-batch speed-up over torch fp32 among runtimes within their bound."""
    ratios = speedups(runtimes)
    found = [
        ratios[label].get(f"batch_{sub_batch}")
        for label, figures in runtimes.items()
        if figures["within_bound"] and label in ratios
    ]
    values = [value for value in found if value is not None]
    return max(values) if values else None

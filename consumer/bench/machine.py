"""What machine a benchmark ran on: cores, CPU model, load, memory, library versions.

Reads ``/proc`` and package metadata; blocks briefly, raises nothing (unknown → None).
"""

from __future__ import annotations

import importlib.util
import os
import platform
import re
from importlib import metadata
from pathlib import Path
from typing import Any

_PACKAGES = (
    "moodstream",
    "confluent-kafka",
    "xgboost-cpu",
    "xgboost",
    "torch",
    "numpy",
    "pydantic",
    "orjson",
    "matplotlib",
    "onnxruntime",
    "onnx",
)
#: The CPU flags that decide which PAT runtime is fast: bf16, AMX, VNNI, AVX-512.
_FLAGS = (
    "avx2",
    "avx512f",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
    "avx512_fp16",
)


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, or None where the OS does not tell."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def cpu_flags() -> list[str]:
    """Which of the flags that matter for PAT (bf16, AMX, VNNI, AVX-512) the CPU has."""
    from consumer.models.pat_calibrate import cpu_flags as all_flags

    found = all_flags()
    return [flag for flag in _FLAGS if flag in found]


def memory_total_mb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError):
        pass
    return None


def versions(broker_version: str | None) -> dict[str, str | None]:
    """Versions of Python, the libraries that matter and librdkafka; the broker's as given."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    try:
        import confluent_kafka

        found["librdkafka"] = confluent_kafka.libversion()[0]
    except ImportError:
        found["librdkafka"] = None
    found["torch_build"] = torch_build()
    found["kafka_broker"] = broker_version
    return found


def torch_build() -> str | None:
    """torch's full version with its build tag (``2.15.0+cu132``: a CUDA build, which maps
    ~400 MB more at import than the CPU-only wheel). Read from ``torch/version.py``
    without importing torch (this process must not map libtorch: see ``bench.parts``)."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    try:
        text = (Path(next(iter(spec.submodule_search_locations))) / "version.py").read_text()
    except OSError:
        return None
    version = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)", text, re.MULTILINE)
    cuda = re.search(r"^cuda\b[^=]*=\s*['\"]([^'\"]+)", text, re.MULTILINE)
    build = version.group(1) if version else None
    return f"{build} (CUDA {cuda.group(1)})" if build and cuda else build


def machine_info(broker_version: str | None) -> dict[str, Any]:
    """Everything but the end-of-run load (the caller adds ``load_avg_end``)."""
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return {
        "cores": os.cpu_count(),
        "usable_cores": len(affinity) if affinity is not None else None,
        "cpu_model": cpu_model(),
        "cpu_flags": cpu_flags(),
        "memory_total_mb": memory_total_mb(),
        "platform": platform.platform(),
        "load_avg_start": load_average(),
        "load_avg_end": None,
        "versions": versions(broker_version),
    }

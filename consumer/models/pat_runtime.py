"""Which PAT runtime runs, and building it from the verified files. Imports torch only for
a torch runtime (lazily), so the ``onnx`` runtime keeps torch out of the service.

``MODELS__PAT_RUNTIME``/``MODELS__PAT_PRECISION`` → a runtime label (``onnx-fp32``,
``torch-fp32``, ``torch-bf16``). ``onnx`` and ``torch`` fp32 are used as asked; a torch
bf16 request is calibrated (and refused above ``MODELS__PAT_MAX_ERROR``), and ``auto``
calibrates every candidate and keeps the fastest within bound. Calibration runs in a
subprocess (:func:`consumer.models.pat_calibrate.calibrate_in_subprocess`).

``MODELS__PAT_DEVICE=cuda``/``auto`` first asks a subprocess whether CUDA is there (the
supervisor itself never initialises CUDA: it forks afterwards); with a device the same
rules pick ``cuda-fp32`` or ``cuda-bf16``, always calibrated against torch fp32 on the CPU
(a GPU sums in another order), and the weights move to the GPU in each worker at warm-up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from consumer.errors import ModelLoadError
from consumer.logs import log_event
from consumer.models.formats import read_safetensors_header, require_safetensors_suffix
from consumer.models.manifest import ManifestEntry, read_manifest, read_verified
from consumer.models.pat_calibrate import (
    RuntimeFigures,
    calibrate_in_subprocess,
    candidates,
    choose,
    device_candidates,
    figures_json,
    is_device_runtime,
    native_bf16,
    probe_cuda_in_subprocess,
)
from consumer.models.pat_config import PAT_CONFIGS, check_header
from consumer.models.protocol import PatBatchModel
from consumer.settings import ModelSettings

_log = logging.getLogger("moodstream.models")


@dataclass(frozen=True, slots=True)
class PatFiles:
    """The PAT entry's files, read and checksummed: safetensors and, if listed, its ONNX."""

    entry: ManifestEntry
    path: Path
    data: bytes
    onnx_path: Path | None
    onnx_data: bytes | None


def read_pat_files(models_dir: Path, entry: ManifestEntry) -> PatFiles:
    """Read and checksum the PAT safetensors and its ONNX export (when listed). Blocking.

    The safetensors header is checked against the size (torch-free). The export must
    name the safetensors' sha256 and size in its metadata. Raises
    ModelLoadError (missing, checksum, stale export).
    """
    from consumer.models.pat_onnx import check_onnx_export

    path, data = read_verified(models_dir, entry.name, entry.file, entry.sha256)
    assert entry.size is not None  # guaranteed by ManifestEntry validation
    require_safetensors_suffix(path)  # the weights' own format first (pickle sniffing)
    check_header(read_safetensors_header(data, source=str(path)), entry.size, str(path))
    onnx_path = onnx_data = None
    if entry.onnx_file is not None and entry.onnx_sha256 is not None:
        onnx_path, onnx_data = read_verified(
            models_dir, entry.name, entry.onnx_file, entry.onnx_sha256
        )
        check_onnx_export(onnx_data, path=onnx_path, source_sha256=entry.sha256, size=entry.size)
    return PatFiles(entry, path, data, onnx_path, onnx_data)


def build_runtime(label: str, files: PatFiles, settings: ModelSettings) -> PatBatchModel:
    """Load the PAT in runtime ``label`` from verified files. Blocking; runs no inference.

    Raises ModelLoadError for bad weights or an ``onnx-fp32`` request without an export.
    """
    entry = files.entry
    assert entry.size is not None  # guaranteed by ManifestEntry validation
    if label.startswith(("torch-", "cuda-")):
        from consumer.models.pat import PatModel

        device, precision = label.split("-")
        on_gpu = device == "cuda"
        return PatModel.from_bytes(
            files.data,
            path=files.path,
            size=entry.size,
            version=entry.version,
            name=entry.name,
            sub_batch_size=settings.pat_device_batch_rows
            if on_gpu
            else settings.pat_sub_batch_size,
            torch_threads=settings.torch_threads,
            precision=precision,
            device="cuda" if on_gpu else "cpu",
        )
    from consumer.models.pat_onnx import OnnxPatModel, parameter_counts

    if files.onnx_data is None:
        raise ModelLoadError(
            f"MODELS__PAT_RUNTIME=onnx needs an ONNX export of {files.path} in manifest.json: "
            "run `moodstream models export-onnx`, or set MODELS__PAT_RUNTIME=torch"
        )
    header = read_safetensors_header(files.data, source=str(files.path))
    parameters, encoder = parameter_counts(header)
    return OnnxPatModel(
        files.onnx_data,
        config=PAT_CONFIGS[entry.size],
        version=entry.version,
        parameters=parameters,
        encoder_parameters=encoder,
        name=entry.name,
        sub_batch_size=settings.pat_sub_batch_size,
        threads=settings.torch_threads,
    )


def resolve_runtime(settings: ModelSettings, files: PatFiles) -> tuple[str, list[RuntimeFigures]]:
    """The runtime label to load and the calibration figures behind the choice (none for
    ``onnx`` and torch fp32). Blocking (a calibration takes seconds). Raises ModelLoadError
    for a request this CPU or models dir cannot serve, or one over its accuracy bound."""
    if settings.pat_device != "cpu" and (on_gpu := _resolve_on_gpu(settings)) is not None:
        return on_gpu
    requested = f"{settings.pat_runtime}-{settings.pat_precision}"
    if settings.pat_runtime == "onnx" and files.onnx_data is None:
        build_runtime("onnx-fp32", files, settings)  # raises the "needs an export" error
    if requested in ("onnx-fp32", "torch-fp32"):
        return requested, []
    bf16_native = native_bf16()
    if requested == "torch-bf16" and not bf16_native:
        raise ModelLoadError(
            "MODELS__PAT_PRECISION=bf16: this CPU has no native bf16 (no avx512_bf16 or "
            "amx_bf16 flag), so bf16 would be slower than fp32; use MODELS__PAT_PRECISION=fp32"
        )
    labels = candidates(settings, has_onnx=files.onnx_data is not None, bf16_native=bf16_native)
    figures = calibrate_in_subprocess(settings, labels)
    chosen = choose(figures, "auto" if settings.pat_runtime == "auto" else requested)
    log_event(
        _log,
        "pat_calibrated",
        requested=requested,
        chosen=chosen.runtime,
        figures=figures_json(figures),
    )
    return chosen.runtime, figures


def _resolve_on_gpu(settings: ModelSettings) -> tuple[str, list[RuntimeFigures]] | None:
    """The GPU runtime and its calibration, or None for ``auto`` without a device (the CPU
    rules then apply). Blocking (two subprocesses). Raises ModelLoadError for ``cuda``
    without a device, or a GPU runtime over its accuracy bound."""
    probe = probe_cuda_in_subprocess()
    if probe.devices == 0:
        if settings.pat_device == "cuda":
            raise ModelLoadError(
                f"MODELS__PAT_DEVICE=cuda: no CUDA device ({probe.reason}); set "
                "MODELS__PAT_DEVICE=cpu, or auto to use a GPU only where there is one"
            )
        log_event(_log, "pat_device_chosen", requested="auto", device="cpu", reason=probe.reason)
        return None
    labels = device_candidates(settings)
    figures = calibrate_in_subprocess(settings, labels)
    on_gpu = [f for f in figures if is_device_runtime(f.runtime)]
    requested = "auto" if settings.pat_runtime == "auto" else labels[0]
    chosen = choose(on_gpu, requested)
    log_event(
        _log,
        "pat_calibrated",
        requested=f"{settings.pat_device}:{requested}",
        chosen=chosen.runtime,
        device=probe.name,
        devices=probe.devices,
        figures=figures_json(figures),
    )
    return chosen.runtime, figures


def load_pat_runtimes(settings: ModelSettings, labels: list[str]) -> dict[str, PatBatchModel]:
    """Each runtime in ``labels`` for the PAT of ``settings.dir`` (calibration, bench). Blocking."""
    manifest = read_manifest(settings.dir)
    entry = next((e for e in manifest.models if e.kind == "pat"), None)
    if entry is None:
        raise ModelLoadError(f"no PAT model in {settings.dir}/manifest.json")
    files = read_pat_files(settings.dir, entry)
    return {label: build_runtime(label, files, settings) for label in labels}

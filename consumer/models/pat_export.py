"""Export the project's own PAT safetensors to ONNX (fp32), for the ``onnx`` runtime.

Uses torch's TorchScript-based exporter (``dynamo=False``: the dynamo exporter needs
``onnxscript``, which the project does not install), opset 17, a dynamic batch axis.
The graph is then stamped with the source weights' sha256 and the PAT size (checked at
load, see :func:`consumer.models.pat_onnx.check_onnx_export`) and doc strings are dropped,
so the same weights and library versions give the same bytes. Needs torch and ``onnx``;
never imported by the service.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Final

import onnx
import torch

from consumer.errors import ModelLoadError
from consumer.models.formats import sha256_hex
from consumer.models.manifest import ManifestEntry, read_manifest, read_verified
from consumer.models.manifest_edit import upsert_entry
from consumer.models.pat import load_network
from consumer.models.pat_onnx import INPUT_NAME, ONNX_SUFFIX, OUTPUT_NAME
from schemas.events import ACTIVITY_MINUTES

OPSET: Final = 17


def export_onnx(safetensors: bytes, *, size: str) -> bytes:
    """ONNX bytes for the PAT in ``safetensors`` (already verified). Blocking (seconds).

    Deterministic for the same input and library versions. Raises ModelLoadError for bad
    weights (see :func:`consumer.models.pat.load_network`).
    """
    network = load_network(safetensors, size=size, source="<export>")
    example = torch.zeros((1, ACTIVITY_MINUTES), dtype=torch.float32)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            network,
            (example,),
            buffer,  # type: ignore[arg-type]  # a file-like object is accepted
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    model = onnx.load_from_string(buffer.getvalue())
    model.doc_string = ""
    for node in model.graph.node:
        node.doc_string = ""
    del model.metadata_props[:]
    for key, value in (
        ("moodstream.source_sha256", sha256_hex(safetensors)),
        ("moodstream.size", size),
        ("moodstream.note", "exported by `moodstream models export-onnx`; fp32"),
    ):
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    data: bytes = model.SerializeToString(deterministic=True)
    return data


def onnx_file_name(safetensors_file: str) -> str:
    """``pat-m.safetensors`` → ``pat-m.onnx``. Pure."""
    return safetensors_file.rsplit(".", 1)[0] + ONNX_SUFFIX


def export_into(models_dir: Path) -> ManifestEntry:
    """Export the PAT of ``models_dir`` to ONNX beside its safetensors and list it in
    ``manifest.json`` (file first, manifest last). Blocking. Raises ModelLoadError when
    there is no PAT or its file fails verification; OSError on write errors."""
    manifest = read_manifest(models_dir)
    entry = next((e for e in manifest.models if e.kind == "pat"), None)
    if entry is None or entry.size is None:
        raise ModelLoadError(f"no PAT model in {models_dir}/manifest.json to export")
    _, data = read_verified(models_dir, entry.name, entry.file, entry.sha256)
    onnx_bytes = export_onnx(data, size=entry.size)
    file = onnx_file_name(entry.file)
    (models_dir / file).write_bytes(onnx_bytes)
    updated = entry.model_copy(update={"onnx_file": file, "onnx_sha256": sha256_hex(onnx_bytes)})
    upsert_entry(models_dir, updated)
    return updated

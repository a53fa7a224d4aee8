"""Output records in ``PROCESSING__OUTPUT_FORMAT``: a seam apart from the JSON path.

The pipeline builds every prediction and alert as JSON (``content-type:
application/json``); with a Schema Registry output format the records it hands out are
passed here once per hand-out, and each prediction/alert value is replaced by the
encoder's (``consumer.schema_registry.output_encoding``) and its ``content-type`` header
names the format. With ``output_format=json`` nothing here runs. Used from the poll
loop's thread only.
"""

from __future__ import annotations

from collections.abc import Iterable

from consumer.engine.batch_records import OutRecord, SourceResult
from consumer.schema_registry.output_encoding import OutputEncoder


def encode_outputs(sources: Iterable[SourceResult], encoder: OutputEncoder) -> None:
    """Rewrite the records of ``sources`` whose kind the encoder writes (``prediction``,
    ``alert``; ``feature_event`` where the windows stage gave it its topic) in the
    encoder's format; dead letters and overflow copies keep the input's bytes. Does not
    block (schemas were registered at start); raises what the encoder raises on a record
    that is not the contract's (a bug, never the input's fault)."""
    kinds = encoder.kinds
    for source in sources:
        if any(record.kind in kinds for record in source.records):
            source.records = [encoded(record, encoder) for record in source.records]


def encoded(record: OutRecord, encoder: OutputEncoder) -> OutRecord:
    """One record in the encoder's format, its ``content-type`` header naming the format
    (added where the record had none); a record of another kind unchanged."""
    if record.kind not in encoder.kinds or record.value is None:
        return record
    content_type = encoder.content_type
    headers = [(k, v) for k, v in record.headers or () if k != "content-type"]
    headers.insert(0, ("content-type", content_type))
    return record._replace(value=encoder.encode_json(record.kind, record.value), headers=headers)

"""A group's prediction records, made in one pass, are the records made one by one."""

from __future__ import annotations

from consumer.engine.batch_records import OutRecord
from schemas import prediction_headers, record_headers

IDS = ["3f2a6c1e-0000-4000-8000-000000000001", "3f2a6c1e-0000-4000-8000-000000000002"]


def test_prediction_headers_are_each_events_record_headers() -> None:
    assert prediction_headers(IDS) == [record_headers("prediction", i) for i in IDS]
    assert prediction_headers([]) == []


def test_a_groups_prediction_records_equal_the_records_made_one_by_one() -> None:
    keys, values = [b"u-1", b"u-2"], [b'{"a":1}', b'{"a":2}']
    made = OutRecord.predictions("preds", keys, values, prediction_headers(IDS), "true")
    expected = [
        OutRecord("preds", key, value, record_headers("prediction", i), "prediction", "true")
        for key, value, i in zip(keys, values, IDS, strict=True)
    ]
    assert made == expected
    assert all(type(record) is OutRecord for record in made)
    assert made[0].partition is None and made[1].kind == "prediction"

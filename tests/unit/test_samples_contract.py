"""The activity-samples contract (issue 26): valid and invalid records, each with its reason;
its Avro and Protobuf twins; the RADAR-base steps parser; the new optional ``coverage``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from schemas import ActivitySamples, FeatureEvent, Prediction, radar_steps_samples
from schemas import samples_formats as formats
from tests.fakes import feature_values


def record(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "schema_version": 1,
        "user_id": "user-1",
        "start": "2026-03-08T00:00:00-05:00",
        "interval_s": 60,
        "values": [0.0, 3.0, 12.5],
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def parse(**changes: Any) -> ActivitySamples:
    return ActivitySamples.model_validate_json(json.dumps(record(**changes)))


def test_a_minute_record_parses_with_its_end_and_minutes() -> None:
    samples = parse(tz="America/New_York")
    assert samples.start == datetime(2026, 3, 8, 5, 0, tzinfo=UTC)
    assert samples.minutes_covered == 3 and samples.minute_values() == [0.0, 3.0, 12.5]
    assert samples.end == datetime(2026, 3, 8, 5, 3, tzinfo=UTC)
    assert samples.tz == "America/New_York"
    assert parse().tz is None  # the service's WINDOWS__DEFAULT_TZ applies


def test_a_coarser_interval_is_spread_over_its_minutes_keeping_the_sum() -> None:
    samples = parse(interval_s=300, values=[10.0, 0.0])
    assert samples.minutes_covered == 10
    assert samples.minute_values() == [2.0] * 5 + [0.0] * 5
    assert sum(samples.minute_values()) == 10.0


def test_a_full_day_is_the_most_one_record_covers() -> None:
    assert parse(values=[1.0] * 1_440).minutes_covered == 1_440
    assert parse(interval_s=3_600, values=[60.0] * 24).minutes_covered == 1_440
    assert parse(interval_s=86_400, values=[5.0]).minute_values()[0] == 5.0 / 1_440


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"interval_s": 0}, "greater than or equal to 60"),
        ({"interval_s": 30}, "multiple of 60"),
        ({"interval_s": 90}, "multiple of 60"),
        ({"interval_s": 60.0}, "valid integer"),
        ({"interval_s": 172_800}, "less than or equal to 86400"),
        ({"values": []}, "at least 1 item"),
        ({"values": [1.0] * 1_441}, "at most 1440 items"),
        ({"interval_s": 120, "values": [1.0] * 721}, "cover 1442 minutes: at most 1440"),
        ({"values": [-1.0]}, "greater than or equal to 0"),
        ({"values": [2e7]}, "less than or equal to 10000000"),
        ({"values": ["3"]}, "valid number"),
        ({"start": "2026-03-08T00:00:00"}, "timezone info"),
        ({"start": "2026-03-08T00:00:30Z"}, "whole minute"),
        ({"start": "2026-03-08T00:00:00.5Z"}, "whole minute"),
        ({"tz": "Mars/Olympus_Mons"}, "unknown time zone 'Mars/Olympus_Mons'"),
        ({"tz": "../etc/passwd"}, "should match pattern"),
        ({"tz": ""}, "at least 1 character"),
        ({"user_id": "user 1"}, "should match pattern"),
        ({"user_id": "u" * 129}, "at most 128 characters"),
        ({"schema_version": 2}, "Input should be 1"),
        ({"steps": 3}, "Extra inputs are not permitted"),
    ],
)
def test_an_invalid_record_is_refused_with_its_reason(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        parse(**changes)


def test_non_finite_values_are_refused() -> None:
    raw = json.dumps(record()).replace("12.5", "NaN")
    with pytest.raises(ValidationError, match="finite number"):
        ActivitySamples.model_validate_json(raw)


def test_the_avro_and_proto_files_match_the_contract() -> None:
    hint = "run `python -m schemas.samples_formats`"
    avro_text = (formats.SCHEMA_DIR / formats.AVRO_FILE).read_text(encoding="utf-8")
    proto_text = (formats.SCHEMA_DIR / formats.PROTO_FILE).read_text(encoding="utf-8")
    assert avro_text == formats.render_avro(), hint
    assert proto_text == formats.render_proto(), hint
    fields = list(ActivitySamples.model_fields)
    assert [f["name"] for f in json.loads(avro_text)["fields"]] == fields
    descriptor = formats.proto_message_class().DESCRIPTOR
    assert [f.name for f in descriptor.fields] == fields


def test_a_protobuf_record_round_trips_to_the_same_samples() -> None:
    for changes in ({}, {"tz": "Asia/Kolkata"}):
        message = formats.dict_to_proto(record(**changes))
        decoded = type(message).FromString(message.SerializeToString())
        as_dict = formats.proto_to_dict(decoded)
        assert ActivitySamples.model_validate_json(json.dumps(as_dict)) == parse(**changes)
    assert "tz" not in formats.proto_to_dict(formats.dict_to_proto(record()))


KEY = {"projectId": "radar-test", "userId": "5c8a-11ee-b962", "sourceId": "fitbit-1"}


def steps(**changes: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "time": 1_772_946_000.0,  # 2026-03-08T05:00:00Z
        "timeReceived": 1_773_100_000.5,
        "timeInterval": 60,
        "steps": 42,
    }
    value.update(changes)
    return value


def test_a_radar_steps_record_becomes_one_minute_of_the_keys_user() -> None:
    samples = radar_steps_samples(KEY, steps())
    assert samples.user_id == "5c8a-11ee-b962" and samples.tz is None
    assert samples.start == datetime(2026, 3, 8, 5, 0, tzinfo=UTC)
    assert samples.interval_s == 60 and samples.minute_values() == [42.0]
    no_project = radar_steps_samples({**KEY, "projectId": None}, steps(newField=1))
    assert no_project.user_id == samples.user_id  # extra fields of a newer schema ignored
    quarter = radar_steps_samples(KEY, steps(timeInterval=900, steps=30))
    assert quarter.minute_values() == [2.0] * 15


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        (KEY, steps(time=1_772_946_030.0), "whole minute"),
        (KEY, steps(timeInterval=0), "greater than or equal to 60"),
        (KEY, steps(timeInterval=150), "multiple of 60"),
        (KEY, steps(steps=-1), "greater than or equal to 0"),
        (KEY, steps(steps=1.5), "valid integer"),
        (KEY, steps(time="1772946000"), "valid number"),
        ({**KEY, "userId": "a user"}, steps(), "should match pattern"),
        ({"projectId": "p", "sourceId": "s"}, steps(), "userId\n  Field required"),
    ],
)
def test_a_radar_record_that_does_not_fit_is_refused(
    key: dict[str, Any], value: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ValidationError, match=reason):
        radar_steps_samples(key, value)


def week_event(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "schema_version": 1,
        "event_id": "0b7e1bf5-4f0e-4a43-9c55-2f3b0a9a8e11",
        "user_id": "user-1",
        "as_of": "2026-03-08",
        "emitted_at": "2026-03-09T12:00:00Z",
        "activity": [0.0] * 10_080,
    }
    event.update(changes)
    return event


def test_coverage_is_an_optional_fraction_that_travels_with_a_week() -> None:
    assert FeatureEvent.model_validate_json(json.dumps(week_event())).coverage is None
    event = FeatureEvent.model_validate_json(json.dumps(week_event(coverage=0.93)))
    assert event.coverage == 0.93
    for bad, reason in ((1.5, "less than or equal to 1"), (-0.1, "greater than or equal")):
        with pytest.raises(ValidationError, match=reason):
            FeatureEvent.model_validate_json(json.dumps(week_event(coverage=bad)))
    features_only = week_event(activity=None, features=feature_values(), coverage=0.9)
    with pytest.raises(ValidationError, match="an event with coverage needs activity"):
        FeatureEvent.model_validate_json(json.dumps(features_only))


def test_a_prediction_may_carry_the_coverage_of_its_event() -> None:
    fields = Prediction.model_fields
    assert fields["coverage"].default is None and not fields["coverage"].is_required()
    schema = Prediction.model_json_schema()
    assert "coverage" in schema["properties"] and "coverage" not in schema["required"]

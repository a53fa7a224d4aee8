"""The first vertical slice against the real broker: events in, one prediction each out,
dead letters for bad input, and a graceful stop/restart that loses and repeats nothing."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import orjson
import pytest

from consumer.producer.synthetic_events import SyntheticEvents
from tests.fakes import event_bytes, event_dict
from tests.integration.harness import (
    Stream,
    committed_total,
    produce_raw,
    running_service,
    start_moodstream,
)

pytestmark = pytest.mark.integration


def synthetic_ids(seed: int, count: int, activity_share: float = 0.0) -> list[str]:
    source = SyntheticEvents(seed, activity_share=activity_share)
    now = datetime.now().astimezone()
    return [source.next_record(now).event_id for _ in range(count)]


def test_thousand_events_give_thousand_predictions_and_restart_repeats_nothing(
    stream: Stream, tmp_path: Path
) -> None:
    env = stream.env(
        PROCESSING__MAX_BATCH_SIZE=64,
        PROCESSING__COMMIT_INTERVAL_S=0.2,
    )
    expected = set(synthetic_ids(7, 1000))
    predictions = stream.reader(stream.topics.predictions)
    with running_service(env, tmp_path) as service:
        service.wait_ready()
        # The producer keeps going while the consumer is stopped mid-stream.
        producer = start_moodstream(
            "produce",
            "--synthetic",
            "--count",
            "1000",
            "--seed",
            "7",
            "--rate",
            "200",
            "--json",
            env=env,
        )
        predictions.wait_count(300, timeout_s=120)
        assert service.stop() == 0, service.logs()[-3000:]
    committed = committed_total(stream.bootstrap, stream.topics.features, stream.group, 6)
    predictions.wait_count(committed, timeout_s=30)
    predictions.poll(1.0)
    first_run = predictions.event_ids()
    assert len(first_run) < 1000, "the stop did not happen mid-stream"
    # A graceful stop commits exactly what was published.
    assert committed == len(first_run) == sum(first_run.values())
    out, err = producer.communicate(timeout=60)
    assert producer.returncode == 0, err
    assert orjson.loads(out)["acknowledged"] == 1000

    with running_service(env, tmp_path) as service:
        predictions.wait_count(1000, timeout_s=120)
        predictions.poll(1.0)
        assert service.stop() == 0, service.logs()[-3000:]
    seen = predictions.event_ids()
    assert set(seen) == expected
    assert max(seen.values()) == 1, "an event committed before the restart was processed again"
    assert committed_total(stream.bootstrap, stream.topics.features, stream.group, 6) == 1000
    sample = predictions.values()[0]
    assert set(sample["next_day_risk"]) == {"depression", "hypomania", "mania"}
    assert sample["models"]["depression"]["status"] == "ok"
    assert sample["partial"] is False
    predictions.close()


def test_invalid_events_go_to_the_dead_letter_topic_with_headers(
    stream: Stream, tmp_path: Path
) -> None:
    """Also the contract's tolerant side: an unknown field is ignored, an upper-case
    event_id comes back as sent, all-null features are not scored, predictions carry
    headers."""
    env = stream.env()
    upper = "3F2504E0-4F89-11D3-9A0C-0305E82C3301"
    all_null = event_dict(seed=6)
    all_null["features"] = dict.fromkeys(all_null["features"])
    good = [(b"user-1", event_bytes(seed=i)) for i in range(5)] + [
        (b"user-5", event_bytes(seed=5, event_id=upper, device_model="ring-2")),
        (b"user-6", orjson.dumps(all_null)),
    ]
    bad = [(b"user-2", b"{not json"), (b"user-3", orjson.dumps({"schema_version": 1})), (None, b"")]
    records: list[tuple[bytes | None, bytes | None]] = [*good[:2], *bad, *good[2:]]
    produce_raw(stream.bootstrap, stream.topics.features, records)
    predictions = stream.reader(stream.topics.predictions)
    dead = stream.reader(stream.topics.dlq)
    with running_service(env, tmp_path) as service:
        predictions.wait_count(len(good), timeout_s=120)
        dead.wait_count(3, timeout_s=30)
        assert service.stop() == 0
    assert sorted(m.value() for m in dead.records) == sorted(v for _, v in bad)
    for message in dead.records:
        headers = dict(message.headers() or [])
        assert set(headers) >= {
            "error.class",
            "error.message",
            "source.topic",
            "source.partition",
            "source.offset",
            "consumer.group",
            "failed.at",
        }
        assert headers["source.topic"].decode() == stream.topics.features
        assert headers["consumer.group"].decode() == stream.group
    # Predictions are keyed by the event's user_id (not the input key).
    assert sorted(m.key() for m in predictions.records) == [f"user-{i}".encode() for i in range(7)]
    by_user = {
        m.key(): (orjson.loads(m.value()), dict(m.headers() or [])) for m in predictions.records
    }
    for value, headers in by_user.values():
        assert headers["content-type"] == b"application/json"
        assert headers["moodstream.kind"] == b"prediction"
        assert headers["moodstream.schema_version"] == b"1"
        assert headers["moodstream.event_id"].decode() == value["event_id"]
        assert value["predicted_at"].endswith("Z")
    assert by_user[b"user-5"][0]["event_id"] == upper
    assert by_user[b"user-5"][0]["models"]["depression"]["status"] == "ok"
    insufficient = by_user[b"user-6"][0]
    assert insufficient["models"]["depression"]["status"] == "insufficient_input"
    assert insufficient["next_day_risk"]["depression"] is None
    predictions.close()
    dead.close()

"""Issue 15 against the real broker: missing output topics, `tail` of a missing topic,
`lag` naming each partition's consumer, and `produce --from` → dead letters →
`dlq redrive` → predictions, end to end through the CLI."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Final

import orjson
from confluent_kafka import Consumer

from consumer.settings import TopicSettings
from tests.fakes import event_dict
from tests.integration.harness import (
    TopicReader,
    moodstream,
    running_service,
    service_env,
    wait_for,
)

FLOW_S: Final = 120.0
SMALL_BYTES: Final = 4_096  # the events with a week of activity (~40 KB) are too large


def test_a_missing_output_topic_stops_the_service_naming_it(
    kafka_bootstrap: str, unique_topics: TopicSettings, unique_group: str
) -> None:
    """Was: ready, then each event failed after ~30 s and the worker restarted forever."""
    missing = f"missing.predictions.{unique_group}"
    topics = unique_topics.model_copy(update={"predictions": missing})
    env = service_env(
        kafka_bootstrap,
        topics,
        unique_group,
        KAFKA__CONNECT_TIMEOUT_S=10,
        MODELS__WARMUP="false",
    )
    done = moodstream("run", env=env, timeout_s=FLOW_S)
    assert done.returncode == 4, done.stderr[-3000:]
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("moodstream: ")]
    assert lines == [
        f"moodstream: predictions topic '{missing}' does not exist: run `moodstream topics "
        "create` or set MOODSTREAM_TOPICS__PREDICTIONS"
    ], done.stderr[-3000:]


def test_tail_of_a_missing_topic_says_so(kafka_bootstrap: str, unique_group: str) -> None:
    """Was: hung silently."""
    env = service_env(kafka_bootstrap, TopicSettings(), unique_group)
    done = moodstream("tail", f"nosuchtopic.{unique_group}", env=env, timeout_s=60)
    assert done.returncode == 4
    assert done.stderr.strip() == f"moodstream: topic 'nosuchtopic.{unique_group}' does not exist"


def test_lag_names_the_consumer_of_each_partition(
    kafka_bootstrap: str, unique_topics: TopicSettings, unique_group: str
) -> None:
    member = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": unique_group,
            "client.id": "operator-test",
            "enable.auto.commit": False,
        }
    )
    assigned: list[int] = []
    member.subscribe(
        [unique_topics.features],
        on_assign=lambda _c, tps: assigned.extend(tp.partition for tp in tps),
    )
    try:
        deadline = time.monotonic() + 60
        while len(assigned) < unique_topics.partitions and time.monotonic() < deadline:
            member.poll(0.2)
        assert len(assigned) == unique_topics.partitions
        env = service_env(kafka_bootstrap, unique_topics, unique_group)
        done = moodstream("lag", "--json", env=env, timeout_s=60)
    finally:
        member.close()
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["partitions"]
    consumers = {row["consumer"]["consumer_id"] for row in rows}
    assert len(consumers) == 1 and next(iter(consumers)).startswith("operator-test-")
    assert all(row["consumer"]["client_id"] == "operator-test" for row in rows)
    assert all(row["consumer"]["host"] for row in rows)


def _events_file(path: Path) -> tuple[set[str], set[str]]:
    """3 small valid events, 2 valid ones with a week of activity, 2 invalid lines."""
    small = [event_dict(seed=100 + i) for i in range(3)]
    large = [event_dict(seed=200 + i, activity=True) for i in range(2)]
    missing = {k: v for k, v in event_dict(seed=300).items() if k != "as_of"}
    lines = [orjson.dumps(e) for e in (small[0], large[0], small[1])]
    lines += [b"{not json", orjson.dumps(missing), orjson.dumps(large[1]), orjson.dumps(small[2])]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return {e["event_id"] for e in small}, {e["event_id"] for e in large}


def test_produce_from_a_file_then_redrive_what_was_too_large(
    kafka_bootstrap: str, unique_topics: TopicSettings, unique_group: str, tmp_path: Path
) -> None:
    small_ids, large_ids = _events_file(tmp_path / "events.jsonl")
    env = service_env(kafka_bootstrap, unique_topics, unique_group, MODELS__WARMUP="false")

    # 1. In: the two invalid lines are refused and counted, the five others sent.
    sent = moodstream("produce", "--from", str(tmp_path / "events.jsonl"), "--json", env=env)
    assert sent.returncode == 1, sent.stderr  # something was refused
    summary = json.loads(sent.stdout)
    assert (summary["sent"], summary["acknowledged"]) == (5, 5)
    assert summary["refused"] == {"invalid_json": 1, "missing_field": 1}
    assert "refused line 4: invalid_json" in sent.stderr

    predictions = TopicReader(kafka_bootstrap, unique_topics.predictions)
    dead = TopicReader(kafka_bootstrap, unique_topics.dlq)
    try:
        # 2. A service with a small message limit: the large events are dead-lettered.
        small_env = env | {"MOODSTREAM_PROCESSING__MAX_MESSAGE_BYTES": str(SMALL_BYTES)}
        with running_service(small_env, tmp_path) as service:
            predictions.wait_for_ids(small_ids, FLOW_S)
            dead.wait_count(2, FLOW_S)
            wait_for(lambda: '"dead_letters"' in service.logs(), 30, "no dead_letters log line")
            assert service.stop() == 0
        assert set(predictions.event_ids()) == small_ids
        reasons = {dict(m.headers())["error.class"] for m in dead.records}
        assert reasons == {b"InvalidEvent.too_large"}
        # A summary line at once, then at most one a minute (the second waits for it).
        summaries = [
            json.loads(line)
            for line in service.logs().splitlines()
            if '"event": "dead_letters"' in line
        ]
        assert summaries and summaries[0]["by_reason"] == {"too_large": 1}
        assert sum(s["by_reason"]["too_large"] for s in summaries) <= 2  # never one per message

        # 3. Redrive that reason (dry run first), then a service with the default limit.
        dry = moodstream("dlq", "redrive", "--reason", "too_large", "--dry-run", "--json", env=env)
        assert dry.returncode == 0 and json.loads(dry.stdout)["redriven"] == 2, dry.stderr
        done = moodstream("dlq", "redrive", "--reason", "too_large", "--json", env=env)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["redriven"] == 2
        again = moodstream("dlq", "redrive", "--reason", "too_large", "--json", env=env)
        assert json.loads(again.stdout)["redriven"] == 0  # idempotent for the same range
        with running_service(env, tmp_path) as service:
            predictions.wait_for_ids(small_ids | large_ids, FLOW_S)
            assert service.stop() == 0
        assert set(predictions.event_ids()) == small_ids | large_ids
    finally:
        predictions.close()
        dead.close()

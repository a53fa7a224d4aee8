"""Oversized input against the real broker (issue 14, fault 3): a message just under 1 MB
and one of exactly the broker's limit each end in the dead-letter topic, cut to what fits
and saying so, and the service keeps predicting the events after them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from confluent_kafka import Producer

from consumer.errors import ExitCode
from tests.fakes import event_bytes
from tests.integration.harness import (
    Stream,
    free_port,
    produce_raw,
    running_service,
)

pytestmark = pytest.mark.integration
NEAR_1MB = 999_950  # a default producer (message.max.bytes 1,000,000) sends it
BROKER_LIMIT_VALUE = 1_048_516  # + 72 bytes of framing = the broker's 1,048,588


def oversized(size: int) -> bytes:
    return b'{"pad": "' + b"x" * (size - 11) + b'"}'


def produce_one(bootstrap: str, topic: str, value: bytes, **config: object) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, **config})
    producer.produce(topic, value=value, partition=0)
    assert producer.flush(30) == 0


def test_near_1mb_and_broker_limit_messages_are_dead_lettered_cut_to_fit(
    stream: Stream,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    topic = stream.topics.features
    good = [event_bytes(seed=4_000 + i) for i in range(6)]
    produce_one(stream.bootstrap, topic, good[0])
    produce_one(stream.bootstrap, topic, oversized(NEAR_1MB))  # default producer settings
    produce_one(stream.bootstrap, topic, good[1])
    produce_one(
        stream.bootstrap,
        topic,
        oversized(BROKER_LIMIT_VALUE),
        **{"message.max.bytes": 2_000_000, "compression.type": "none"},
    )
    for value in good[2:]:
        produce_one(stream.bootstrap, topic, value)
    env = stream.env()
    predictions = stream.reader(stream.topics.predictions)
    dead = stream.reader(stream.topics.dlq)
    with running_service(env, tmp_path) as service:
        predictions.wait_count(len(good), timeout_s=90)
        dead.wait_count(2, timeout_s=30)
        assert service.process.poll() is None, service.logs()[-2000:]
        assert service.get("/readyz")[0] == 200
        restarts = service.logs().count('"worker_exited"')
        assert service.stop() == 0, service.logs()[-2000:]
    assert restarts == 0, "a worker crashed"
    assert {p["event_id"] for p in predictions.values()} == {
        json.loads(g)["event_id"] for g in good
    }
    # Dead letters of a keyless record may land on any dead-letter partition, so the
    # reader's order is not the source order: put them back in source-offset order.
    letters = sorted(
        ((dict(m.headers()), m.value()) for m in dead.records),
        key=lambda letter: int(letter[0]["source.offset"]),
    )
    assert [h["dead_letter.original_value_bytes"] for h, _ in letters] == [
        str(NEAR_1MB).encode(),
        str(BROKER_LIMIT_VALUE).encode(),
    ]
    for headers, value in letters:
        assert headers["dead_letter.truncated"] == b"true"
        assert headers["error.class"] == b"InvalidEvent.too_large"
        assert headers["source.partition"] == b"0"
        assert value.startswith(b'{"pad": "xxx') and 990_000 < len(value) < 1_000_000
    with capsys.disabled():
        print(
            f"\noversized: values of {NEAR_1MB} and {BROKER_LIMIT_VALUE} bytes dead-lettered as "
            f"{[len(v) for _, v in letters]} bytes (truncated), {len(good)} of {len(good)} "
            f"good events predicted, {restarts} worker restarts"
        )
    predictions.close()
    dead.close()


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
def test_a_poison_flood_stop_holds_for_the_next_owner_of_the_partition(
    guarantee: str,
    stream: Stream,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A service stops on 8 invalid events in a row; the next one to own the partition
    continues that count (commit metadata) and stops within its first batch of 4, instead
    of dead-lettering 8 more with a fresh count."""
    limit, batch = 8, 4
    produce_raw(stream.bootstrap, stream.topics.features, [(b"bad", b'{"x": ')] * 40)
    env = stream.env(
        PROCESSING__DLQ_MAX_CONSECUTIVE=limit,
        PROCESSING__MAX_BATCH_SIZE=batch,
        PROCESSING__GUARANTEE=guarantee,
    )
    dead = stream.reader(stream.topics.dlq)
    counts = []
    for _ in range(2):  # the first owner, then the next
        env["MOODSTREAM_OBSERVABILITY__PORT"] = str(free_port())
        with running_service(env, tmp_path) as service:
            code = service.process.wait(timeout=60)
            assert code == int(ExitCode.POISON_FLOOD), service.logs()[-2000:]
        dead.poll(2.0)
        counts.append(len(dead.records))
    with capsys.disabled():
        print(
            f"\n[{guarantee}] poison flood (limit {limit}, batch {batch}): first owner "
            f"dead-lettered {counts[0]}, the next {counts[1] - counts[0]} before stopping"
        )
    assert counts[0] >= limit
    assert counts[1] - counts[0] <= batch, "the next owner started a fresh count"
    dead.close()

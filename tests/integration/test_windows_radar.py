"""The windows stage (``moodstream run --stage windows``) reading RADAR-base's
``fitbit_intraday_steps`` through the real Schema Registry (the local Apicurio) and the
real broker (``WINDOWS__ACTIVITY_FORMAT=radar_fitbit_intraday_steps``).

Three users send two complete UTC days of one-minute ``FitbitIntradaySteps`` records
(Avro, registered by confluent-kafka's serializer as RADAR-base's producers do) keyed by
an Avro ``ObservationKey``; their day features are keyed by the same key bytes, so both
topics put a user on the same partition. Each day's week closes (complete) and its last
revision carries the day's features and the week built here from the steps sent; bad
records are dead-lettered with their reasons; the stage reports ``moodstream_consumer_lag``
for both inputs. A second test floods the input with bad samples: the stage stops with
the poison-flood exit code after committing the dead letters, like the scoring stage.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from consumer.errors import ExitCode
from consumer.kafka.admin import create_topics, delete_topics, wait_for_topics
from consumer.settings import TopicSettings
from schemas.radar import FITBIT_INTRADAY_STEPS_AVRO, OBSERVATION_KEY_AVRO
from tests.fakes import feature_values
from tests.integration.harness import (
    committed_total,
    free_port,
    produce_raw,
    running_service,
    service_env,
    wait_for,
)
from tests.integration.registry_tools import REGISTRY_MARKS, registry_client
from tests.integration.windows_tools import read_all

pytestmark = REGISTRY_MARKS
PARTITIONS = 2
USERS = ("radar-u1", "radar-u2", "radar-u3")
DAYS = (date(2026, 11, 2), date(2026, 11, 3))
WEEK = 10_080


@pytest.fixture
def topics(kafka_bootstrap: str) -> Iterator[TopicSettings]:
    tag = uuid.uuid4().hex[:12]
    roles = ("features", "predictions", "alerts", "dlq", "overflow", "activity")
    names: dict[str, object] = {role: f"radar.{role}.{tag}" for role in roles}
    made = TopicSettings.model_validate(
        names
        | {
            "day_features": f"radar.day-features.{tag}",
            "windows_changelog": f"radar.changelog.{tag}",
            "partitions": PARTITIONS,
        }
    )
    admin = {"bootstrap.servers": kafka_bootstrap}
    create_topics(admin, list(made.every()), PARTITIONS, replication=1)
    wait_for_topics(admin, list(made.every()), 30)
    yield made
    delete_topics(admin, list(made.every()))


def _steps(user: int, minute: int) -> int:
    return (minute * 7 + user * 13) % 50


class Radar:
    """RADAR-base's serializers for the activity topic, on the real registry."""

    def __init__(self, url: str, topic: str) -> None:
        client = registry_client(url)
        self._keys = AvroSerializer(client, json.dumps(OBSERVATION_KEY_AVRO))
        self._values = AvroSerializer(client, json.dumps(FITBIT_INTRADAY_STEPS_AVRO))
        self._key_ctx = SerializationContext(topic, MessageField.KEY)
        self._value_ctx = SerializationContext(topic, MessageField.VALUE)

    def key(self, user: str) -> bytes:
        out = self._keys(
            {"projectId": "radar-test", "userId": user, "sourceId": "fitbit"}, self._key_ctx
        )
        return bytes(out or b"")

    def value(self, minute: int, steps: int, interval_s: int = 60) -> bytes:
        record = {
            "time": float(minute * 60),
            "timeReceived": float(minute * 60 + 86_400),
            "timeInterval": interval_s,
            "steps": steps,
        }
        return bytes(self._values(record, self._value_ctx) or b"")


def _minutes(day: date) -> range:
    first = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) // 60
    return range(first, first + 1440)


def _day_features(radar: Radar) -> list[tuple[bytes | None, bytes | None]]:
    out: list[tuple[bytes | None, bytes | None]] = []
    for u, user in enumerate(USERS):
        for d, day in enumerate(DAYS):
            event = {
                "schema_version": 1,
                "event_id": str(uuid.UUID(int=u * 10 + d + 1)),
                "user_id": user,
                "as_of": day.isoformat(),
                "emitted_at": "2026-11-04T00:00:00Z",
                "features": feature_values(u * 10 + d),
            }
            out.append((radar.key(user), json.dumps(event).encode()))
    return out


def _expected_week(u: int, day: date) -> list[float]:
    week = [0.0] * WEEK
    for d in range(7):
        shown = day - timedelta(days=6 - d)
        if shown in DAYS:
            for i, minute in enumerate(_minutes(shown)):
                week[d * 1440 + i] = float(_steps(u, minute))
    return week


def _lag_lines(metrics: str, topics: TopicSettings) -> list[str]:
    return [
        line
        for line in metrics.splitlines()
        if line.startswith("moodstream_consumer_lag{")
        and (topics.activity in line or topics.day_features in line)
    ]


def test_radar_fitbit_steps_through_the_registry_become_weeks(
    topics: TopicSettings, kafka_bootstrap: str, schema_registry_url: str, tmp_path: Path
) -> None:
    radar = Radar(schema_registry_url, topics.activity)
    samples = [
        (radar.key(user), radar.value(minute, _steps(u, minute)))
        for u, user in enumerate(USERS)
        for day in DAYS
        for minute in _minutes(day)
    ]
    start = _minutes(DAYS[0])[0]
    bad = {
        "wrong_interval": (radar.key(USERS[0]), radar.value(start, 5, interval_s=90)),
        "invalid_key": (USERS[0].encode(), radar.value(start, 5)),
        "not_registry_framed": (radar.key(USERS[0]), b'{"time": 0}'),
    }
    group = f"moodstream-test-{uuid.uuid4().hex[:12]}"
    env = service_env(
        kafka_bootstrap,
        topics,
        group,
        SCHEMA_REGISTRY__URL=schema_registry_url,
        WINDOWS__ACTIVITY_FORMAT="radar_fitbit_intraday_steps",
        WINDOWS__MIN_COVERAGE="0.1",
        WINDOWS__STATE_DIR=tmp_path / "state",
    )
    features = _day_features(radar)
    with running_service(env, tmp_path, "--stage", "windows") as service:
        service.wait_ready()
        produce_raw(kafka_bootstrap, topics.day_features, features)
        produce_raw(kafka_bootstrap, topics.activity, [*samples, *bad.values()])
        counts = (len(samples) + len(bad), len(features))

        def committed() -> tuple[int, int]:
            return (
                committed_total(kafka_bootstrap, topics.activity, group + "-windows", PARTITIONS),
                committed_total(
                    kafka_bootstrap, topics.day_features, group + "-windows", PARTITIONS
                ),
            )

        wait_for(lambda: committed() == counts, 120, "every RADAR record committed")
        wait_for(
            lambda: len(_lag_lines(service.get("/metrics")[1], topics)) == 2 * PARTITIONS,
            30,
            "the consumer lag of both inputs",
        )
        lag = _lag_lines(service.get("/metrics")[1], topics)
    assert all(float(line.rsplit(" ", 1)[1]) == 0 for line in lag), lag
    _check_weeks(read_all(kafka_bootstrap, topics.features), features)
    dead = read_all(kafka_bootstrap, topics.dlq)
    reasons = {dict(m.headers())["error.class"].decode(): (m.key(), m.value()) for m in dead}
    assert reasons == {f"InvalidEvent.{reason}": record for reason, record in bad.items()}


def _check_weeks(records: list[Any], features: list[tuple[bytes | None, bytes | None]]) -> None:
    last: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
    for message in records:
        event, revision = json.loads(message.value()), int(dict(message.headers())["revision"])
        key = (event["user_id"], event["as_of"])
        assert message.key() == event["user_id"].encode()
        if key not in last or revision > last[key][0]:
            last[key] = (revision, event)
    sent = {
        (e["user_id"], e["as_of"]): e["features"]
        for e in (json.loads(v or b"") for _, v in features)
    }
    assert set(last) == set(sent)
    for u, user in enumerate(USERS):
        for d, day in enumerate(DAYS):
            event = last[(user, day.isoformat())][1]
            assert event["features"] == sent[(user, day.isoformat())]
            assert event["activity"] == _expected_week(u, day), (user, day)
            assert event["coverage"] == pytest.approx(1440 * (d + 1) / WEEK)


def test_a_flood_of_bad_samples_stops_the_windows_stage(
    topics: TopicSettings, kafka_bootstrap: str, tmp_path: Path
) -> None:
    """``PROCESSING__DLQ_MAX_CONSECUTIVE`` bad records in a row on one partition: the
    stage commits their dead letters and exits with the poison-flood code, not restarted."""
    limit = 5
    group = f"moodstream-test-{uuid.uuid4().hex[:12]}"
    env = service_env(
        kafka_bootstrap,
        topics,
        group,
        PROCESSING__DLQ_MAX_CONSECUTIVE=limit,
        WINDOWS__STATE_DIR=tmp_path / "state",
    )
    flood = [(b"flooding-user", b"not json")] * (limit + 3)
    with running_service(env, tmp_path, "--stage", "windows") as service:
        service.wait_ready()
        produce_raw(kafka_bootstrap, topics.activity, flood)
        wait_for(lambda: service.process.poll() is not None, 90, "the stage to stop")
        code = service.process.returncode
        logs = service.logs()
    assert code == ExitCode.POISON_FLOOD, logs[-2_000:]
    assert "poison_flood" in logs
    dead = read_all(kafka_bootstrap, topics.dlq)
    assert limit <= len(dead) <= len(flood)
    committed = committed_total(kafka_bootstrap, topics.activity, group + "-windows", PARTITIONS)
    assert committed == len(dead)


def test_an_unreachable_registry_holds_the_radar_input(
    topics: TopicSettings, kafka_bootstrap: str, schema_registry_url: str, tmp_path: Path
) -> None:
    """The batch waits (``/readyz`` names the registry, retries logged): nothing is
    dead-lettered, nothing committed, so nothing is lost."""
    radar = Radar(schema_registry_url, topics.activity)  # written while the registry runs
    start = _minutes(DAYS[0])[0]
    records = [(radar.key(USERS[0]), radar.value(start + i, 3)) for i in range(20)]
    group = f"moodstream-test-{uuid.uuid4().hex[:12]}"
    env = service_env(
        kafka_bootstrap,
        topics,
        group,
        SCHEMA_REGISTRY__URL=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        SCHEMA_REGISTRY__RETRY_MAX_S=1,
        WINDOWS__ACTIVITY_FORMAT="radar_fitbit_intraday_steps",
        WINDOWS__STATE_DIR=tmp_path / "state",
    )
    with running_service(env, tmp_path, "--stage", "windows") as service:
        service.wait_ready()
        produce_raw(kafka_bootstrap, topics.activity, records)

        def waiting() -> bool:
            status, body = service.get("/readyz")
            return status == 503 and "waiting for the schema registry" in body

        wait_for(waiting, 60, "/readyz never named the registry", service.process)
        wait_for(
            lambda: service.logs().count('"schema_registry_unavailable"') >= 3,
            60,
            "the worker did not retry",
            service.process,
        )
        committed = committed_total(
            kafka_bootstrap, topics.activity, group + "-windows", PARTITIONS
        )
        assert service.stop() == 0
    assert committed == 0
    assert read_all(kafka_bootstrap, topics.dlq) == []

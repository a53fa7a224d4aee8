"""Registry-framed keys through the real service, broker and Schema Registry (the local
Apicurio of ``moodstream registry``): a RADAR-base-shaped topic, Avro ``ObservationKey``
keys and Avro feature events, read as it is (``PROCESSING__KEY_FORMAT=avro``,
``KEY_USER_FIELD=userId``). Predictions are keyed by and attributed to the key's user; a
key that does not decode and a key of another user are dead-lettered with their reasons
and their original key bytes."""

from __future__ import annotations

import json
import time
from pathlib import Path

from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from schemas.radar import OBSERVATION_KEY_AVRO
from tests.fakes import event_dict
from tests.integration.harness import Stream, TopicReader, produce_raw, running_service
from tests.integration.registry_tools import REGISTRY_MARKS, encoder, registry_client

pytestmark = REGISTRY_MARKS
GOOD = 12
TIMEOUT_S = 180.0
OBSERVATION_KEY = OBSERVATION_KEY_AVRO


def test_avro_keys_name_the_user_and_bad_keys_are_dead_lettered_as_they_came(
    stream: Stream, schema_registry_url: str, tmp_path: Path
) -> None:
    topic = stream.topics.features
    keys = AvroSerializer(registry_client(schema_registry_url), json.dumps(OBSERVATION_KEY))
    context = SerializationContext(topic, MessageField.KEY)
    values = encoder(schema_registry_url, "avro", topic)

    def key_of(user: str) -> bytes:
        out = keys({"projectId": "radar-test", "userId": user, "sourceId": "watch"}, context)
        assert out is not None
        return bytes(out)

    records = []
    for seed in range(GOOD):
        raw = event_dict(seed=seed)
        records.append((key_of(raw["user_id"]), values.encode(raw)))
    undecodable = key_of("user-1")[:5] + b"\xff\xff"  # framed, known id, corrupt payload
    bad = {
        "invalid_key": (undecodable, values.encode(event_dict(seed=100))),
        "key_user_mismatch": (key_of("someone-else"), values.encode(event_dict(seed=101))),
    }
    produce_raw(stream.bootstrap, topic, [*records, *bad.values()])
    env = stream.env(
        SCHEMA_REGISTRY__URL=schema_registry_url,
        PROCESSING__INPUT_FORMAT="avro",
        PROCESSING__KEY_FORMAT="avro",
        PROCESSING__KEY_USER_FIELD="userId",
    )
    predictions, dead = stream.reader(stream.topics.predictions), stream.reader(stream.topics.dlq)
    try:
        read_until(env, tmp_path, predictions, dead, GOOD + len(bad))
        expected = {
            event_dict(seed=seed)["event_id"]: event_dict(seed=seed)["user_id"]
            for seed in range(GOOD)
        }
        got = {
            json.loads(m.value())["event_id"]: (m.key(), json.loads(m.value())["user_id"])
            for m in predictions.records
        }
        assert got == {eid: (user.encode(), user) for eid, user in expected.items()}
        reasons = {
            dict(m.headers() or [])["error.class"].decode().removeprefix("InvalidEvent."): (
                m.key(),
                m.value(),
            )
            for m in dead.records
        }
        assert reasons == bad  # each reason once, key and value bytes as they came
    finally:
        predictions.close()
        dead.close()


def read_until(
    env: dict[str, str], tmp: Path, predictions: TopicReader, dead: TopicReader, count: int
) -> None:
    """Run the service until ``count`` outputs were read; stop it. Blocks up to TIMEOUT_S."""
    with running_service(env, tmp) as service:
        deadline = time.monotonic() + TIMEOUT_S
        while len(predictions.records) + len(dead.records) < count:
            assert time.monotonic() < deadline, (len(predictions.records), len(dead.records))
            predictions.poll(0.3)
            dead.poll(0.2)
        assert service.stop() == 0, service.logs()[-3000:]
    dead.poll(0.5)  # nothing more may come
    predictions.poll(0.3)

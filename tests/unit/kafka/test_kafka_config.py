"""The librdkafka config builder and the pure parts of the local broker tooling."""

from __future__ import annotations

import logging
import stat
import string
from pathlib import Path

import pytest
from pydantic import SecretStr

from consumer.commands import bootstrap_for
from consumer.errors import BrokerError
from consumer.kafka.clients import producer_config
from consumer.kafka.config import MASK, client_config, redact
from consumer.localkafka import broker_files, maven
from consumer.localkafka.broker import BrokerInfo, SaslInfo
from consumer.settings import (
    Guarantee,
    KafkaSettings,
    LocalBrokerSettings,
    ProcessingSettings,
    SecurityProtocol,
    Settings,
)

# The TLS file settings must name existing files: any three distinct ones do here.
TESTS = Path(__file__).resolve().parents[2]
CA, CERT, KEY = (str(TESTS / name) for name in ("conftest.py", "fakes/__init__.py", "__init__.py"))
PASSWORD = "s3cr3t-Pa55word-never-shown"
KEY_PASSWORD = "key-pa55-never-shown"


def _sasl_ssl() -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers="b1:9093,b2:9093",
        client_id="svc",
        security_protocol=SecurityProtocol.SASL_SSL,
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="alice",
        sasl_password=SecretStr(PASSWORD),
        ssl_ca_location=CA,
        ssl_certificate_location=CERT,
        ssl_key_location=KEY,
        ssl_key_password=SecretStr(KEY_PASSWORD),
        extra={"socket.keepalive.enable": "true", "client.id": "override"},
    )


def test_plaintext_config_is_minimal_plus_the_tuned_timeouts() -> None:
    conf = client_config(KafkaSettings(), "127.0.0.1:39092")
    assert dict(conf) == {
        "bootstrap.servers": "127.0.0.1:39092",
        "client.id": "moodstream",
        "security.protocol": "PLAINTEXT",
        "socket.timeout.ms": 10_000,
        "socket.connection.setup.timeout.ms": 10_000,
        "socket.keepalive.enable": True,
        "reconnect.backoff.max.ms": 1_000,
        "topic.metadata.refresh.interval.ms": 10_000,
        "metadata.max.age.ms": 30_000,
    }


def test_tuned_timeouts_are_settings_and_extra_still_wins() -> None:
    settings = Settings.model_validate(
        {
            "kafka": {
                "client": {"socket_timeout_ms": 20_000, "transaction_timeout_ms": 45_000},
                "extra": {"reconnect.backoff.max.ms": "5000"},
            }
        }
    )
    conf = client_config(settings.kafka, "b:9092")
    assert conf["socket.timeout.ms"] == 20_000
    assert conf["reconnect.backoff.max.ms"] == "5000"
    exactly_once = settings.model_copy(
        update={"processing": ProcessingSettings(guarantee=Guarantee.EXACTLY_ONCE)}
    )
    assert producer_config(exactly_once, "b:9092", 0)["transaction.timeout.ms"] == 45_000


def test_sasl_ssl_config_has_every_option_and_extra_wins() -> None:
    conf = client_config(_sasl_ssl(), "b1:9093,b2:9093")
    assert conf["security.protocol"] == "SASL_SSL"
    assert conf["sasl.mechanism"] == "SCRAM-SHA-512"
    assert conf["sasl.username"] == "alice"
    assert conf["sasl.password"] == PASSWORD
    assert conf["ssl.ca.location"] == CA
    assert conf["ssl.certificate.location"] == CERT
    assert conf["ssl.key.location"] == KEY
    assert conf["ssl.key.password"] == KEY_PASSWORD
    assert conf["ssl.endpoint.identification.algorithm"] == "https"
    assert conf["socket.keepalive.enable"] == "true"
    assert conf["client.id"] == "override"


def test_no_tls_options_without_tls() -> None:
    kafka = KafkaSettings(
        security_protocol=SecurityProtocol.SASL_PLAINTEXT,
        sasl_mechanism="PLAIN",
        sasl_username="u",
        sasl_password=SecretStr(PASSWORD),
    )
    conf = client_config(kafka, "h:1")
    assert not any(key.startswith("ssl.") for key in conf)


def test_secrets_never_appear_in_text(caplog: pytest.LogCaptureFixture) -> None:
    kafka = _sasl_ssl()
    conf = client_config(kafka, "b1:9093")
    info = BrokerInfo("127.0.0.1:39092", 1, SaslInfo("127.0.0.1:39094", "u", SecretStr(PASSWORD)))
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("config %s %r", conf, conf)
    shown = [
        repr(conf),
        str(conf),
        f"{conf}",
        repr(redact(conf)),
        repr(kafka),
        str(kafka),
        repr(Settings(kafka=kafka)),
        repr(info),
        str(info),
        caplog.text,
    ]
    for text in shown:
        assert PASSWORD not in text
        assert KEY_PASSWORD not in text
    assert redact(conf)["sasl.password"] == MASK
    assert redact(conf)["ssl.key.password"] == MASK
    assert redact(conf)["sasl.username"] == "alice"


def test_resolve_bootstrap_prefers_the_configured_cluster(tmp_path: Path) -> None:
    settings = Settings(
        kafka=KafkaSettings(bootstrap_servers=" k:9092 "),
        broker=LocalBrokerSettings(cache_dir=tmp_path),
    )
    assert bootstrap_for(settings) == "k:9092"


def test_resolve_bootstrap_without_cluster_or_broker_says_what_to_do(tmp_path: Path) -> None:
    settings = Settings(kafka=KafkaSettings(), broker=LocalBrokerSettings(cache_dir=tmp_path))
    with pytest.raises(BrokerError, match="moodstream broker start"):
        bootstrap_for(settings)


def test_server_properties_single_node_kraft_on_loopback(tmp_path: Path) -> None:
    local = LocalBrokerSettings(port=1111, controller_port=2222, sasl_port=3333)
    props = dict(
        line.split("=", 1)
        for line in broker_files.server_properties(local, tmp_path, sasl=False).splitlines()
    )
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:2222"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:1111,CONTROLLER://127.0.0.1:2222"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["log.dirs"] == str(tmp_path)
    assert "sasl.enabled.mechanisms" not in props
    sasl = broker_files.server_properties(local, tmp_path, sasl=True)
    assert "SASL_PLAINTEXT://127.0.0.1:3333" in sasl
    assert "inter.broker.listener.name=PLAINTEXT\n" in sasl
    assert "sasl.enabled.mechanisms=SCRAM-SHA-256\n" in sasl


def test_cluster_id_is_16_bytes_urlsafe_base64_unpadded() -> None:
    cluster_id = broker_files.new_cluster_id()
    assert len(cluster_id) == 22
    assert "=" not in cluster_id
    assert set(cluster_id) <= set(string.ascii_letters + string.digits + "-_")


@pytest.mark.parametrize(
    ("heap", "flags"),
    [
        ("512m", ("-Xms256m", "-Xmx512m")),
        ("1g", ("-Xms256m", "-Xmx1g")),
        ("200m", ("-Xms200m", "-Xmx200m")),
    ],
)
def test_heap_flags(heap: str, flags: tuple[str, str]) -> None:
    assert broker_files.heap_flags(heap) == flags


@pytest.mark.parametrize("heap", ["lots", "64m", "1.5g"])
def test_bad_heap_is_refused(heap: str) -> None:
    with pytest.raises(BrokerError, match="MOODSTREAM_BROKER__HEAP"):
        broker_files.heap_flags(heap)


def test_password_file_is_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    first = broker_files.read_or_create_password(path)
    assert broker_files.read_or_create_password(path) == first
    assert len(first) >= 24
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("slf4j", "binding"),
    [("1.7.36", "log4j-slf4j-impl"), ("2.0.17", "log4j-slf4j2-impl")],
)
def test_slf4j_binding_follows_the_slf4j_major(slf4j: str, binding: str) -> None:
    assert maven.slf4j_binding(slf4j) == binding


def test_jar_version_reads_resolved_jars(tmp_path: Path) -> None:
    (tmp_path / "slf4j-api-1.7.36.jar").touch()
    (tmp_path / "log4j-core-2.25.5.jar").touch()
    assert maven.jar_version(tmp_path, "slf4j-api") == "1.7.36"
    assert maven.jar_version(tmp_path, "log4j-core") == "2.25.5"
    assert maven.jar_version(tmp_path, "log4j-api") is None


def test_pom_pins_one_dependency() -> None:
    pom = maven.render_pom("a", "org.apache.kafka", "kafka_2.13", "4.4.0")
    assert "<packaging>pom</packaging>" in pom
    assert "<artifactId>kafka_2.13</artifactId>" in pom
    assert "<version>4.4.0</version>" in pom

"""Local service ports: below the machine's ephemeral range by default, refused inside it."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from consumer.errors import BrokerError
from consumer.localkafka import ports
from consumer.localkafka.broker import LocalBroker
from consumer.localkafka.cluster import LocalCluster
from consumer.localkafka.registry import LocalRegistry
from consumer.settings import LocalBrokerSettings, LocalClusterSettings, LocalRegistrySettings

LINUX_DEFAULT = (32768, 60999)
OTHER_LOCAL_PORTS = {9400, 9090}  # the service's metrics, the demo's Prometheus


def _range_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ip_local_port_range"
    path.write_text(text)
    return path


def test_the_range_file_text_is_parsed() -> None:
    assert ports.parse_port_range("32768\t60999\n") == LINUX_DEFAULT
    assert ports.parse_port_range("1024 65535") == (1024, 65535)
    for bad in ("", "32768", "a b", "60999 32768", "0 100", "1 2 3"):
        with pytest.raises(ValueError):
            ports.parse_port_range(bad)


def test_an_unreadable_range_file_checks_nothing(tmp_path: Path) -> None:
    assert ports.ephemeral_range(tmp_path / "absent") is None
    assert ports.ephemeral_range(_range_file(tmp_path, "garbage")) is None
    ports.refuse_ephemeral({40000: "X"}, tmp_path / "absent")  # raises if it checked


def test_a_port_inside_the_range_is_refused_with_its_setting(tmp_path: Path) -> None:
    fake = _range_file(tmp_path, "20000\t30000\n")
    with pytest.raises(BrokerError) as caught:
        ports.refuse_ephemeral({19999: "SETTING_A", 20000: "SETTING_B"}, fake)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("port 20000 lies in this machine's ephemeral port range 20000-30000")
    assert message.endswith("set SETTING_B to a port below 20000")
    ports.refuse_ephemeral({19999: "A", 30001: "B"}, fake)  # both outside: no error


def test_the_defaults_lie_below_the_usual_range_and_never_collide() -> None:
    broker = LocalBroker(LocalBrokerSettings()).ports(sasl=True)
    cluster = LocalCluster(LocalBrokerSettings(), LocalClusterSettings()).ports()
    registry = [LocalRegistrySettings().port]
    every = [*broker, *cluster, *registry, *OTHER_LOCAL_PORTS]
    assert len(every) == len(set(every)) == 3 + 19 + 1 + 2
    assert ports.ephemeral_conflict(dict.fromkeys(every, "X"), LINUX_DEFAULT) is None
    assert not set(every) & set(ports.SPARE_PORTS)


def test_each_service_refuses_before_it_fetches_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ports, "RANGE_FILE", _range_file(tmp_path, "29000 29999"))
    broker = LocalBroker(LocalBrokerSettings(cache_dir=tmp_path / "cache"))
    with pytest.raises(BrokerError, match="set MOODSTREAM_BROKER__PORT to a port below 29000"):
        broker.start()
    assert not (tmp_path / "cache" / "kafka-4.4.0").exists()
    cluster = LocalCluster(LocalBrokerSettings(cache_dir=tmp_path / "c"), LocalClusterSettings())
    with pytest.raises(BrokerError, match="set MOODSTREAM_CLUSTER__BASE_PORT to a port below"):
        cluster.start()
    registry_settings = LocalRegistrySettings(port=29500)
    registry = LocalRegistry(LocalBrokerSettings(cache_dir=tmp_path / "r"), registry_settings)
    with pytest.raises(BrokerError, match="set MOODSTREAM_LOCAL_REGISTRY__PORT to a port below"):
        registry.start()
    assert not (tmp_path / "r" / "registry" / "2.0.2.Final").exists()  # nothing was built


def test_a_spare_port_is_free_and_below_the_range() -> None:
    port = ports.free_port_below_range(random.Random(7))
    assert port in ports.SPARE_PORTS
    assert ports.ephemeral_conflict({port: "X"}, LINUX_DEFAULT) is None

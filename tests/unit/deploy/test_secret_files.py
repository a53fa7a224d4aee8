"""Settings read from mounted files (``MOODSTREAM_<NAME>_FILE``) as well as from the
environment, and the Kubernetes pods reading their credentials that way: the Secret
mounted read-only as files, every ``*_FILE`` variable naming a file of that mount."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from consumer.errors import ConfigError
from consumer.settings import Settings
from consumer.settings_env import effective_settings, file_values, unknown_variables
from tests.unit.deploy.render import K8S, build
from tests.unit.deploy.test_deploy_files import clean_env, valued_from_elsewhere

__all__ = ["clean_env"]  # the fixture, used by name below

PASSWORD = "MOODSTREAM_KAFKA__SASL_PASSWORD"
HASH_KEY = "MOODSTREAM_OBSERVABILITY__USER_HASH_KEY"


def test_a_secret_is_read_from_its_file(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    (tmp_path / "password").write_text("s3cret-from-a-file\n", encoding="utf-8")
    (tmp_path / "key").write_text("k" * 64, encoding="utf-8")
    clean_env.setenv(f"{PASSWORD}_FILE", str(tmp_path / "password"))
    clean_env.setenv(f"{HASH_KEY}_file", str(tmp_path / "key"))  # case-insensitive
    clean_env.setenv("MOODSTREAM_KAFKA__SASL_USERNAME", "from-the-environment")
    clean_env.setenv("MOODSTREAM_TOPICS__PARTITIONS_FILE", str(tmp_path / "partitions"))
    (tmp_path / "partitions").write_text("12\n", encoding="utf-8")
    settings = Settings()
    assert settings.kafka.sasl_password is not None
    assert settings.kafka.sasl_password.get_secret_value() == "s3cret-from-a-file"  # no "\n"
    assert settings.observability.user_hash_key is not None
    assert settings.kafka.sasl_username == "from-the-environment"
    assert settings.topics.partitions == 12  # any setting, validated as from the environment
    assert unknown_variables(Settings, os.environ) == []  # *_FILE names are known
    rows = {r.variable: r for r in effective_settings(settings, os.environ)}
    assert rows[PASSWORD].source == "file" and rows[PASSWORD].value == "***"
    assert rows["MOODSTREAM_KAFKA__SASL_USERNAME"].source == "env"


def test_a_bad_file_setting_is_refused_naming_the_variable(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError, match=f"{PASSWORD}_FILE: cannot read {missing}"):
        file_values(Settings, {f"{PASSWORD}_FILE": str(missing)})
    (tmp_path / "bin").write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match="is not UTF-8"):
        file_values(Settings, {f"{PASSWORD}_FILE": str(tmp_path / "bin")})
    (tmp_path / "p").write_text("from-file", encoding="utf-8")
    both = {PASSWORD: "from-env", f"{PASSWORD}_FILE": str(tmp_path / "p")}
    with pytest.raises(ConfigError, match="are both set") as caught:
        file_values(Settings, both)
    assert "from-file" not in str(caught.value) and "from-env" not in str(caught.value)
    for key, value in both.items():
        clean_env.setenv(key, value)
    with pytest.raises(ConfigError, match="are both set"):
        Settings()  # the settings object itself refuses (the CLI: exit 2)
    (tmp_path / "n").write_text("not-a-number", encoding="utf-8")
    not_a_setting = "MOODSTREAM_" + "NOT_A_SETTING_FILE"  # (split: not a name the project uses)
    assert file_values(Settings, {not_a_setting: str(tmp_path / "n")}) == {}


def _pods(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o["spec"]["template"]["spec"] for o in objects if "template" in o.get("spec", {})]


@pytest.mark.parametrize("directory", ["base", "gpu", "overlays/team-b"])
def test_every_pod_reads_its_credentials_from_the_mounted_secret(directory: str) -> None:
    objects = build(K8S / directory)
    pods = _pods(objects)
    # the service (CPU or GPU), the windows stage, the lag exporter, the topics Job
    assert len(pods) == 4
    for pod in pods:
        [container] = pod["containers"]
        # the topics Job has an identity of its own: only it needs CREATE (moodstream acls)
        secret = "moodstream-topics" if container["args"][0] == "topics" else "moodstream"
        files = {e["name"]: e["value"] for e in container["env"] if e["name"].endswith("_FILE")}
        assert {f"{PASSWORD}_FILE", "MOODSTREAM_KAFKA__SASL_USERNAME_FILE"} <= set(files)
        assert not valued_from_elsewhere(container["env"])  # no secret in the env
        for name, path in files.items():
            [mount] = [
                m for m in container["volumeMounts"] if Path(m["mountPath"]) == Path(path).parent
            ]
            assert mount["readOnly"] is True
            [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
            registry = name.startswith("MOODSTREAM_SCHEMA_REGISTRY__")
            expected = "moodstream-schema-registry" if registry else secret
            assert volume["secret"]["secretName"] == expected
            assert {"key": Path(path).name, "path": Path(path).name} in volume["secret"]["items"]
            assert file_values(Settings, {name: __file__})  # the name is one Settings reads
    examples = {
        d["metadata"]["name"]: set(d["stringData"])
        for d in yaml.safe_load_all((K8S / "secret.example.yaml").read_text(encoding="utf-8"))
    }
    assert examples["moodstream"] == {"sasl-username", "sasl-password", "user-hash-key"}
    assert examples["moodstream-topics"] == {"sasl-username", "sasl-password"}
    assert examples["moodstream-schema-registry"] == {"basic-auth-user-info"}


@pytest.mark.parametrize("directory", ["base", "overlays/team-b"])
def test_the_schema_registry_is_wired_in_where_an_overlay_asks_for_it(
    directory: str, clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """overlays/team-b reads Avro through a registry with a login: the ConfigMap names it,
    the service's pods (only they talk to it) read the login from the mounted Secret."""
    objects = build(K8S / directory)
    [config] = [o["data"] for o in objects if o["kind"] == "ConfigMap"]
    for key, value in config.items():
        clean_env.setenv(key, value)
    login = tmp_path / "basic-auth-user-info"
    login.write_text("team-b:pw\n", encoding="utf-8")
    registry_file = "MOODSTREAM_SCHEMA_REGISTRY__BASIC_AUTH_USER_INFO_FILE"
    pods = {
        o["metadata"]["name"]: o["spec"]["template"]["spec"]["containers"][0]
        for o in objects
        if "template" in o.get("spec", {})
    }
    wired = {name for name, c in pods.items() if registry_file in {e["name"] for e in c["env"]}}
    if directory == "base":
        assert wired == set() and config["MOODSTREAM_SCHEMA_REGISTRY__URL"] == ""
        assert Settings().schema_registry.url == ""
        return
    assert wired == {"moodstream"}
    clean_env.setenv(registry_file, str(login))
    settings = Settings()
    assert settings.processing.input_format == "avro"
    assert settings.schema_registry.url.startswith("https://")
    assert settings.schema_registry.basic_auth_user_info is not None
    assert settings.schema_registry.basic_auth_user_info.get_secret_value() == "team-b:pw"


def test_the_service_pod_reads_the_hash_key_from_its_file() -> None:
    objects = build(K8S / "base")
    [deployment] = [
        o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "moodstream"
    ]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    names = {e["name"] for e in container["env"]}
    assert f"{HASH_KEY}_FILE" in names and HASH_KEY not in names

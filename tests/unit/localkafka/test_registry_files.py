"""The local Schema Registry's wrapper pom and command line (pure functions)."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumer.errors import BrokerError
from consumer.localkafka import registry_files as rfiles
from consumer.settings import LocalRegistrySettings

PARENT_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0"><properties>
  <quarkus.version>1.12.2.Final</quarkus.version>
  <org.everit.json.schema.version>1.12.2</org.everit.json.schema.version>
</properties></project>"""

APP_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <dependencyManagement><dependencies><dependency>
    <groupId>managed.only</groupId><artifactId>not-a-dependency</artifactId>
  </dependency></dependencies></dependencyManagement>
  <dependencies>
    <dependency><groupId>io.apicurio</groupId><artifactId>apicurio-registry-common</artifactId></dependency>
    <dependency><groupId>io.quarkus</groupId><artifactId>quarkus-undertow</artifactId></dependency>
    <dependency><groupId>com.github.everit-org.json-schema</groupId>
      <artifactId>org.everit.json.schema</artifactId></dependency>
    <dependency><groupId>org.projectlombok</groupId><artifactId>lombok</artifactId>
      <scope>compile</scope></dependency>
    <dependency><groupId>io.quarkus</groupId><artifactId>quarkus-junit5</artifactId>
      <scope>test</scope></dependency>
  </dependencies>
</project>"""


def test_the_wrapper_lists_the_apps_runtime_dependencies_with_everit_from_central() -> None:
    deps = rfiles.app_dependencies(APP_POM, PARENT_POM)
    assert [(d.group, d.artifact, d.version, d.scope) for d in deps] == [
        ("io.apicurio", "apicurio-registry-common", None, None),
        ("io.quarkus", "quarkus-undertow", None, None),
        ("com.github.erosb", "everit-json-schema", "1.12.2", None),
        ("org.projectlombok", "lombok", None, "compile"),
    ]
    assert "org.everit.json.schema</artifactId></exclusion>" in deps[0].xml()
    assert "<exclusions>" not in deps[1].xml()


def test_the_wrapper_pom_imports_the_release_and_re_augments_its_app() -> None:
    pom = rfiles.wrapper_pom("2.0.2.Final", APP_POM, PARENT_POM)
    assert "<artifactId>apicurio-registry</artifactId><version>2.0.2.Final</version>" in pom
    assert "<type>pom</type><scope>import</scope>" in pom
    assert "<artifactId>quarkus-maven-plugin</artifactId>\n        <version>1.12.2.Final" in pom
    assert "<artifactId>apicurio-registry-app</artifactId>" in pom
    assert "quarkus-junit5" not in pom and "not-a-dependency" not in pom


@pytest.mark.parametrize(
    ("app", "parent", "missing"),
    [
        (APP_POM, "<project xmlns='http://maven.apache.org/POM/4.0.0'/>", "property"),
        ("<project xmlns='http://maven.apache.org/POM/4.0.0'/>", PARENT_POM, "no dependencies"),
        ("not xml", PARENT_POM, "not a readable pom"),
    ],
)
def test_a_pom_without_what_the_build_needs_is_named(app: str, parent: str, missing: str) -> None:
    with pytest.raises(BrokerError, match=missing):
        rfiles.wrapper_pom("2.0.2.Final", app, parent)


def test_the_command_serves_127_0_0_1_only_and_binds_no_random_port() -> None:
    runner = rfiles.runner_jar(Path("/c/target"), "2.0.2.Final")
    cmd = rfiles.registry_command("java", runner, LocalRegistrySettings(), Path("/c/data"))
    assert cmd[0] == "java" and cmd[-2:] == [
        "-jar",
        "/c/target/moodstream-registry-2.0.2.Final-runner.jar",
    ]
    assert "-Dquarkus.http.host=127.0.0.1" in cmd and "-Dquarkus.http.port=28081" in cmd
    assert rfiles.PROCESS_ID_FLAG in cmd and "UuidProcessId" in rfiles.PROCESS_ID_FLAG
    assert "-Dregistry.rules.global.compatibility=BACKWARD" in cmd and "-Xmx256m" in cmd
    assert not any("validity" in arg for arg in cmd)  # breaks Protobuf auto-registration
    assert not any("datasource" in arg for arg in cmd)  # in memory by default


def test_a_persistent_registry_keeps_its_schemas_in_an_h2_file() -> None:
    settings = LocalRegistrySettings(persistent=True, port=28100, compatibility="NONE")
    cmd = rfiles.registry_command("java", Path("/r.jar"), settings, Path("/c/data"))
    assert "-Dquarkus.datasource.jdbc.url=jdbc:h2:file:/c/data/registry" in cmd
    assert "-Dquarkus.http.port=28100" in cmd
    assert "-Dregistry.rules.global.compatibility=NONE" in cmd

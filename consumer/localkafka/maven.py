"""Fetch the Apache Kafka broker jars from Maven Central into the local cache.

Layout under ``<cache_dir>/kafka-<version>/``::

    libs/            every runtime jar of org.apache.kafka:kafka_2.13 plus the log4j SLF4J binding
    pom.xml          the generated pom for the broker (packaging pom)
    binding-pom.xml  the generated pom for the SLF4J binding alone
    .complete        marker written last; without it the download is redone from scratch

Kafka's own dependencies do not include an SLF4J binding, so the broker would log
nothing. The binding is chosen from the slf4j-api jar Maven resolved: 1.7.x needs
``log4j-slf4j-impl``, 2.x needs ``log4j-slf4j2-impl``; its version follows log4j-core.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from consumer.errors import BrokerError, ToolMissingError

DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
COMPLETE_MARKER = ".complete"
MVN_TIMEOUT_S = 900.0

_POM = """<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.moodstream</groupId>
  <artifactId>{artifact}</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>{group}</groupId>
      <artifactId>{dep}</artifactId>
      <version>{version}</version>
    </dependency>
  </dependencies>
</project>
"""


def require_tool(name: str, hint: str) -> str:
    """Return the absolute path of ``name`` on PATH. Raises ToolMissingError with ``hint``."""
    path = shutil.which(name)
    if path is None:
        raise ToolMissingError(f"`{name}` not found on PATH: {hint}")
    return path


def render_pom(artifact: str, group: str, dep: str, version: str) -> str:
    """The text of a minimal packaging-pom project depending on one artifact. Pure."""
    return _POM.format(artifact=artifact, group=group, dep=dep, version=version)


def jar_version(libs: Path, artifact: str) -> str | None:
    """The version of ``<artifact>-<version>.jar`` in ``libs``, or None if absent. Pure I/O read."""
    pattern = re.compile(rf"^{re.escape(artifact)}-(\d[\w.\-]*)\.jar$")
    for jar in sorted(libs.glob(f"{artifact}-*.jar")):
        match = pattern.match(jar.name)
        if match:
            return match.group(1)
    return None


def slf4j_binding(slf4j_version: str) -> str:
    """The log4j artifact binding SLF4J ``slf4j_version`` to log4j2. Pure."""
    major = slf4j_version.split(".", 1)[0]
    return "log4j-slf4j2-impl" if major.isdigit() and int(major) >= 2 else "log4j-slf4j-impl"


def kafka_home(cache_dir: Path, kafka_version: str) -> Path:
    return cache_dir / f"kafka-{kafka_version}"


def is_complete(home: Path) -> bool:
    return (home / COMPLETE_MARKER).is_file() and (home / "libs").is_dir()


def fetch_kafka(cache_dir: Path, kafka_version: str) -> Path:
    """Make sure the broker jars are in the cache and return the ``libs`` directory.

    Blocks for the Maven download on first use (tens of seconds; up to MVN_TIMEOUT_S),
    returns at once afterwards. Not safe to call concurrently for the same cache: callers
    hold the broker lock. Raises ToolMissingError without ``mvn``, BrokerError when
    Maven fails (its output tail is in the message).
    """
    home = kafka_home(cache_dir, kafka_version)
    libs = home / "libs"
    if is_complete(home):
        return libs
    mvn = require_tool("mvn", "install Apache Maven 3.8+ (e.g. `apt-get install maven`)")
    home.mkdir(parents=True, exist_ok=True)
    (home / COMPLETE_MARKER).unlink(missing_ok=True)
    shutil.rmtree(libs, ignore_errors=True)
    staging = home / "libs.partial"
    shutil.rmtree(staging, ignore_errors=True)
    pom = home / "pom.xml"
    pom.write_text(render_pom("kafka-broker", "org.apache.kafka", "kafka_2.13", kafka_version))
    _copy_dependencies(mvn, pom, staging, transitive=True)
    _fetch_binding(mvn, home, staging)
    staging.rename(libs)
    (home / COMPLETE_MARKER).write_text(f"org.apache.kafka:kafka_2.13:{kafka_version}\n")
    return libs


def _fetch_binding(mvn: str, home: Path, staging: Path) -> None:
    """Add the log4j SLF4J binding matching the resolved slf4j-api and log4j-core jars."""
    slf4j = jar_version(staging, "slf4j-api")
    log4j = jar_version(staging, "log4j-core")
    if slf4j is None or log4j is None:
        raise BrokerError(
            f"the Kafka dependencies in {staging} lack slf4j-api or log4j-core; "
            "this Kafka version is not supported by the local broker tooling"
        )
    pom = home / "binding-pom.xml"
    pom.write_text(
        render_pom("kafka-log-binding", "org.apache.logging.log4j", slf4j_binding(slf4j), log4j)
    )
    _copy_dependencies(mvn, pom, staging, transitive=False)


def _copy_dependencies(mvn: str, pom: Path, out: Path, *, transitive: bool) -> None:
    args: Sequence[str] = (
        mvn,
        "-q",
        "-B",
        "-f",
        str(pom),
        f"{DEPENDENCY_PLUGIN}:copy-dependencies",
        f"-DoutputDirectory={out}",
        "-DincludeScope=runtime",
        f"-DexcludeTransitive={'false' if transitive else 'true'}",
    )
    try:
        done = subprocess.run(
            args,
            cwd=pom.parent,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=MVN_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BrokerError(f"Maven did not finish within {MVN_TIMEOUT_S:.0f} s") from exc
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise BrokerError(
            f"Maven could not fetch the Kafka jars (exit {done.returncode}); is Maven Central "
            f"reachable?\n{tail}"
        )

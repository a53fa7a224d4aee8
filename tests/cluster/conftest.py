"""The local three-node cluster for this test session: ``local_cluster`` (session-scoped).

Started lazily by the first test that asks for it and stopped at the end of the session,
unless a node was already running before (then it is the user's and is left alone).
Without java/mvn/openssl the tests skip, or fail under ``CI=true``. Only one test session
at a time may use the cluster: fault tests kill and pause its nodes.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from consumer.errors import BrokerError, KafkaSetupError
from consumer.kafka.admin import delete_topics
from consumer.localkafka.broker_proc import exclusive_lock
from consumer.localkafka.cluster import ClusterInfo, LocalCluster
from consumer.settings import Settings, TopicSettings

SESSION_WAIT_S = 1200


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def cluster_handle() -> LocalCluster:
    settings = Settings()
    return LocalCluster(settings.broker, settings.cluster)


@pytest.fixture(scope="session")
def cluster_session_lock(cluster_handle: LocalCluster) -> Iterator[None]:
    """One test session at a time on the cluster (fault tests kill its nodes): a second
    session waits here, up to SESSION_WAIT_S, for the first to finish with it."""
    try:
        with exclusive_lock(cluster_handle.root / ".test-session.lock", timeout_s=SESSION_WAIT_S):
            yield
    except TimeoutError:
        _unavailable(f"another test session held the cluster for {SESSION_WAIT_S} s")


@pytest.fixture(scope="session")
def local_cluster(
    cluster_handle: LocalCluster, cluster_session_lock: None
) -> Iterator[ClusterInfo]:
    """The three-node cluster (PLAINTEXT, SSL, SASL_SSL listeners), all nodes up."""
    was_running = any(node.pid is not None for node in cluster_handle.status())
    try:
        info = cluster_handle.start()
    except BrokerError as exc:
        _unavailable(f"the local three-node cluster cannot start: {exc}")
        raise
    try:
        yield info
    finally:
        if not was_running:
            cluster_handle.stop()


@pytest.fixture
def cluster_topics(local_cluster: ClusterInfo) -> Iterator[TopicSettings]:
    """Fresh names for every topic of both stages (not created: the tests create them as a
    user would); deleted afterwards (leftover topics slow every restart of the cluster's
    nodes)."""
    suffix = uuid.uuid4().hex[:12]
    defaults = TopicSettings()
    roles = (*defaults.by_role(), *defaults.windows_by_role())
    names: dict[str, Any] = {role: f"{getattr(defaults, role)}.{suffix}" for role in roles}
    topics = TopicSettings(**names, partitions=6)
    yield topics
    with contextlib.suppress(KafkaSetupError):
        delete_topics({"bootstrap.servers": local_cluster.bootstrap_servers}, topics.every())

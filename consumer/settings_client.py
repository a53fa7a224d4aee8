"""``KafkaSettings.client``: the librdkafka timeouts and back-offs the service sets on
every client (consumer, producer, admin), each overridable with
``MOODSTREAM_KAFKA__CLIENT__<NAME>`` (and anything else with ``KAFKA__EXTRA``, applied
last). Why each default differs from librdkafka's: docs/settings.md and RELIABILITY.md
("Client timeouts"), with the gaps measured before and after.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class KafkaClientSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    #: librdkafka 60 s. A request to a broker that stopped answering (paused, cut off,
    #: half-open) is given up after this and the connection closed and re-made; the
    #: partition's new leader is then looked up. Fetches wait fetch.wait.max.ms on top.
    socket_timeout_ms: int = Field(default=10_000, ge=1_000, le=300_000)
    #: librdkafka 30 s: TCP connect + ApiVersion/TLS/SASL handshake of a new connection.
    socket_connection_setup_timeout_ms: int = Field(default=10_000, ge=1_000)
    #: librdkafka false. OS keep-alives let the kernel close a connection whose peer
    #: vanished without a FIN/RST (after the host's tcp_keepalive_* settings).
    socket_keepalive_enable: bool = True
    #: librdkafka 10 s: the longest wait before reconnecting to a broker that was down;
    #: after a heal the first reconnect happens within this (plus jitter).
    reconnect_backoff_max_ms: int = Field(default=1_000, ge=0)
    #: librdkafka 5 min: proactive metadata refresh (leaders that moved without any
    #: error reaching this client are found within this).
    topic_metadata_refresh_interval_ms: int = Field(default=10_000, ge=1_000)
    #: librdkafka 15 min (3 x the refresh interval).
    metadata_max_age_ms: int = Field(default=30_000, ge=1_000)
    #: librdkafka 60 s, kept. Exactly-once: the transaction coordinator aborts a transaction
    #: left open this long, and librdkafka sets message.timeout.ms to it, so a record that
    #: cannot reach its leader for longer fails its batch. 30 s was measured and refused:
    #: a 30 s cut of one broker then crashed 2 workers on timed-out records, a 45 s
    #: half-open 2 more (0 with 60 s). Must exceed socket_timeout_ms by 100 ms at least.
    transaction_timeout_ms: int = Field(default=60_000, ge=1_000)

    def librdkafka(self) -> dict[str, int | bool]:
        """The properties for every client (not the transaction timeout). Pure."""
        return {
            "socket.timeout.ms": self.socket_timeout_ms,
            "socket.connection.setup.timeout.ms": self.socket_connection_setup_timeout_ms,
            "socket.keepalive.enable": self.socket_keepalive_enable,
            "reconnect.backoff.max.ms": self.reconnect_backoff_max_ms,
            "topic.metadata.refresh.interval.ms": self.topic_metadata_refresh_interval_ms,
            "metadata.max.age.ms": self.metadata_max_age_ms,
        }


#: The service's environment for librdkafka's own defaults instead of the tuned ones
#: (``moodstream chaos --librdkafka-defaults``: the "before" of each tuned setting).
LIBRDKAFKA_DEFAULTS_ENV = {
    "MOODSTREAM_KAFKA__CLIENT__SOCKET_TIMEOUT_MS": "60000",
    "MOODSTREAM_KAFKA__CLIENT__SOCKET_CONNECTION_SETUP_TIMEOUT_MS": "30000",
    "MOODSTREAM_KAFKA__CLIENT__SOCKET_KEEPALIVE_ENABLE": "false",
    "MOODSTREAM_KAFKA__CLIENT__RECONNECT_BACKOFF_MAX_MS": "10000",
    "MOODSTREAM_KAFKA__CLIENT__TOPIC_METADATA_REFRESH_INTERVAL_MS": "300000",
    "MOODSTREAM_KAFKA__CLIENT__METADATA_MAX_AGE_MS": "900000",
    "MOODSTREAM_KAFKA__CLIENT__TRANSACTION_TIMEOUT_MS": "60000",
}

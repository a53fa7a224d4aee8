"""Where the local development broker listens, for commands run without a configured cluster."""

from __future__ import annotations

from consumer.errors import BrokerError
from consumer.localkafka.broker import LocalBroker
from consumer.settings import SecurityProtocol, Settings


def local_bootstrap(settings: Settings) -> str:
    """The running local broker's bootstrap address (no cluster is configured).

    With ``KAFKA__SECURITY_PROTOCOL=SASL_PLAINTEXT`` and no configured cluster, the local
    broker's SASL listener is used. Does not block (a pid check, no network). Raises
    BrokerError when the local broker is not running (or runs
    without the SASL listener that the settings ask for).
    """
    status = LocalBroker(settings.broker).status()
    if not status.running:
        raise BrokerError(
            "no Kafka cluster configured and the local broker is not running: run "
            "`moodstream broker start` or set MOODSTREAM_KAFKA__BOOTSTRAP_SERVERS"
        )
    if settings.kafka.security_protocol is SecurityProtocol.PLAINTEXT:
        return status.bootstrap_servers
    if settings.kafka.security_protocol is SecurityProtocol.SASL_PLAINTEXT:
        if status.sasl_bootstrap_servers is None:
            raise BrokerError(
                "the local broker runs without its SASL listener: run "
                "`moodstream broker start --sasl`"
            )
        return status.sasl_bootstrap_servers
    raise BrokerError(
        f"the local broker does not speak {settings.kafka.security_protocol.value}: set "
        "MOODSTREAM_KAFKA__BOOTSTRAP_SERVERS to a cluster that does"
    )

"""Taking messages from the consumer: how many and how long to wait (``fetch``), and what
an error event from librdkafka means (``raise_or_log``). Called from the poll loop.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from consumer.errors import KafkaSetupError
from consumer.logs import log_event
from consumer.settings import Settings

if TYPE_CHECKING:
    from confluent_kafka import Message

    from consumer.engine.ports import LoopConsumer

_log = logging.getLogger("moodstream.runner")


def fetch(consumer: LoopConsumer, room: int, batch_open: bool, timeout_s: float) -> list[Message]:
    """Up to ``room`` messages. With no batch open, wake on the first message (a
    batch-sized consume would wait the whole timeout for messages that are not coming),
    then take what is already fetched without waiting. Blocks up to ``timeout_s``; serves
    rebalance callbacks."""
    room = max(1, room)
    if batch_open or room == 1:
        return consumer.consume(num_messages=room, timeout=timeout_s)
    messages = consumer.consume(num_messages=1, timeout=timeout_s)
    if messages:
        messages += consumer.consume(num_messages=room - 1, timeout=0)
    return messages


def raise_or_log(error: Any, settings: Settings) -> None:
    """An error event of the consumer: an authorization or fatal error raises
    KafkaSetupError (no restart can fix it); others are transient (librdkafka retries)
    and are logged."""
    from confluent_kafka import KafkaError

    if error.code() in (
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.GROUP_AUTHORIZATION_FAILED,
    ):
        raise KafkaSetupError(
            f"not authorized: {error.str()} (grant the service's principal READ on "
            f"{settings.topics.features} and the group "
            f"{settings.kafka.group_id}, and WRITE on its output topics)"
        )
    if error.fatal():
        raise KafkaSetupError(f"fatal consumer error: {error.str()}")
    log_event(_log, "consumer_error", level=logging.WARNING, error=error.str())

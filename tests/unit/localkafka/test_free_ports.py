"""The local broker's and cluster's port check: a held port is named, a free one passes."""

from __future__ import annotations

import socket

import pytest

from consumer.errors import BrokerError
from consumer.localkafka.broker_proc import HOST, wait_free_ports


def test_a_held_port_is_named_with_how_to_move() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind((HOST, 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(BrokerError) as caught:
            wait_free_ports([port], "choose other ports with X_PORT", timeout_s=0.0)
    message = str(caught.value)
    assert f"port {port} on {HOST} is taken by another process for 0 s" in message
    assert message.endswith("choose other ports with X_PORT")


def test_a_released_port_passes() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind((HOST, 0))
        port = holder.getsockname()[1]
    wait_free_ports([port], "unused", timeout_s=0.0)  # raises if the port were still taken

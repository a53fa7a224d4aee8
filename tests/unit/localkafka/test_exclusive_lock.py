"""``exclusive_lock``: the one flock helper of the local broker, the cluster and the cluster
test sessions (flock locks belong to an open file, so a second open in this process is
refused like another process would be)."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumer.localkafka.broker_proc import exclusive_lock


def test_a_held_lock_refuses_a_second_holder_until_released(tmp_path: Path) -> None:
    path = tmp_path / "deep" / ".lock"
    with exclusive_lock(path):
        assert path.exists()  # created with its folder
        with pytest.raises(TimeoutError), exclusive_lock(path, timeout_s=0.0):
            pass
    with exclusive_lock(path, timeout_s=0.0):  # released on exit
        pass


def test_the_lock_is_released_when_the_block_raises(tmp_path: Path) -> None:
    path = tmp_path / ".lock"
    with pytest.raises(RuntimeError), exclusive_lock(path):
        raise RuntimeError("boom")
    with exclusive_lock(path, timeout_s=0.0):
        pass

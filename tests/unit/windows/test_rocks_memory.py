"""One RocksDB memory budget for all the stores of a worker (consumer/windows/rocks.py):
a shared block cache that the memtables are charged to, bounded whatever the number of
stores and the size of their data; its settings checked."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from consumer.settings import WindowsSettings
from consumer.windows.rocks import L0_COMPACTION_TRIGGER, RocksMemory, RocksStore

KIB = 1 << 10
#: RocksDB's LRU cache does not refuse an insert: it may pass its capacity by about the
#: memtables charged to it plus the blocks pinned while read (measured up to 1.2502x with
#: these sizes: 1 MiB + 256 KiB + 251 B). Far below the 7 MB written, so still bounded.
OVERSHOOT = 1.5


def test_six_stores_far_larger_than_the_budget_stay_within_it(tmp_path: Path) -> None:
    memory = RocksMemory(cache_bytes=1024 * KIB, write_buffer_bytes=256 * KIB)
    stores = [RocksStore(tmp_path / f"p{n}", memory) for n in range(6)]
    values = {n: [os.urandom(4 * KIB) for _ in range(300)] for n in range(6)}  # 7 MB
    for n, store in enumerate(stores):
        for i, value in enumerate(values[n]):
            store.put(b"k%05d" % i, value)
            assert memory.usage() <= OVERSHOOT * memory.cache_bytes, (n, i)
    for n, store in enumerate(stores):
        assert [store.get(b"k%05d" % i) for i in range(300)] == values[n]
        assert memory.usage() <= OVERSHOOT * memory.cache_bytes, n
    assert memory.usage() > 0  # the blocks read went through the shared cache
    assert sum(s.disk_bytes() for s in stores) > 4 * memory.cache_bytes
    for store in stores:
        store.close()


def test_the_write_buffers_must_be_a_part_of_the_budget() -> None:
    with pytest.raises(ValueError, match="must be a positive part"):
        RocksMemory(cache_bytes=1024 * KIB, write_buffer_bytes=1024 * KIB)
    assert RocksMemory.of(8, 2).cache_bytes == 8 << 20


def test_the_settings_refuse_write_buffers_not_below_the_store_memory() -> None:
    with pytest.raises(
        ValidationError, match=r"WINDOWS__STORE_WRITE_BUFFER_MB \(16\) must be below"
    ):
        WindowsSettings(store_cache_mb=16, store_write_buffer_mb=16)
    settings = WindowsSettings(store_cache_mb=17, store_write_buffer_mb=16)
    assert RocksMemory.of(settings.store_cache_mb, settings.store_write_buffer_mb).usage() == 0


def test_a_store_compacts_level_0_at_eight_files(tmp_path: Path) -> None:
    """Each level-0 compaction rewrites all of level 1 (every flush holds every user's
    keys): the trigger is 8 files, not RocksDB's 4. Read back from the OPTIONS file
    RocksDB writes for the database it opened."""
    store = RocksStore(tmp_path / "p0")
    store.put(b"k", b"v")
    store.close()
    [options] = sorted((tmp_path / "p0").glob("OPTIONS-*"))[-1:]
    lines = {line.strip() for line in options.read_text().splitlines()}
    assert f"level0_file_num_compaction_trigger={L0_COMPACTION_TRIGGER}" in lines
    assert L0_COMPACTION_TRIGGER == 8
    assert "level0_slowdown_writes_trigger=20" in lines  # far above it: no stall

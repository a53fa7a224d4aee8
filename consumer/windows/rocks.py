"""The ``Store`` on local disk: RocksDB through ``rocksdict`` (why: ``docs/architecture.md``).

One database per directory, raw bytes in and out (no pickling: ``raw_mode``), LZ4 block
compression, and a memory budget (``RocksMemory``: one block cache that the memtables are
charged to) shared by every store of a worker, so that the stores can be far larger than
memory and a worker's RocksDB memory does not grow with its partitions. Blocks on local
disk only. Not thread-safe: one loop owns a store; a second
process opening the same directory fails (RocksDB's own lock).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Final

from rocksdict import (
    BlockBasedOptions,
    Cache,
    DBCompressionType,
    Options,
    Rdict,
    WriteBatch,
    WriteBufferManager,
    WriteOptions,
)

MIB: Final = 1 << 20
#: Level-0 files that start a compaction into level 1 (RocksDB's default: 4). Reads check
#: each level-0 file's bloom filter (in the cache); writes stall only at 20 (slowdown)
#: and 36 (stop), RocksDB's defaults, far above it.
L0_COMPACTION_TRIGGER: Final = 8


class RocksMemory:
    """The RocksDB memory of one worker, shared by all the stores it opens.

    One LRU block cache of ``cache_bytes`` and one write buffer manager that lets the
    memtables of all the stores together take up to ``write_buffer_bytes`` (a flush
    starts in the store being written to beyond it) and charges them to that cache, so
    blocks and memtables together stay about ``cache_bytes`` whatever the number of
    stores and the size of their data. Raises ``ValueError`` when ``write_buffer_bytes``
    is not below ``cache_bytes`` (or either is not positive).
    """

    def __init__(self, cache_bytes: int, write_buffer_bytes: int) -> None:
        if not 0 < write_buffer_bytes < cache_bytes:
            raise ValueError(
                f"the write buffers ({write_buffer_bytes} B) must be a positive part of "
                f"the store's memory ({cache_bytes} B): they are charged to it"
            )
        self.cache_bytes = cache_bytes
        self.write_buffer_bytes = write_buffer_bytes
        self.cache = Cache(cache_bytes)
        self.write_buffers = WriteBufferManager.new_write_buffer_manager_with_cache(
            write_buffer_bytes, False, self.cache
        )

    @classmethod
    def of(cls, cache_mb: int, write_buffer_mb: int) -> RocksMemory:
        """From the settings ``WINDOWS__STORE_CACHE_MB`` and ``..._WRITE_BUFFER_MB``."""
        return cls(cache_mb * MIB, write_buffer_mb * MIB)

    def usage(self) -> int:
        """The bytes the cache holds now, memtables' charge included (does not block)."""
        return self.cache.get_usage()


def _options(memory: RocksMemory) -> Options:
    options = Options(raw_mode=True)
    options.create_if_missing(True)
    options.set_compression_type(DBCompressionType.lz4())
    options.set_write_buffer_manager(memory.write_buffers)
    # one store alone fills at most the worker's write buffers (2 memtables of half each)
    options.set_write_buffer_size(max(memory.write_buffer_bytes // 2, 64 << 10))
    options.set_max_write_buffer_number(2)
    # each L0 -> L1 compaction rewrites every L1 file the flushed keys overlap (all of
    # them: each flush holds keys of every user), so fewer, larger ones: 8 files, not 4
    options.set_level_zero_file_num_compaction_trigger(L0_COMPACTION_TRIGGER)
    table = BlockBasedOptions()
    table.set_block_cache(memory.cache)
    table.set_bloom_filter(10, False)  # point reads of absent user-days skip the disk
    table.set_cache_index_and_filter_blocks(True)  # bounded by the cache, not the data
    options.set_block_based_table_factory(table)
    return options


def _write_options() -> WriteOptions:
    """No write-ahead log: a worker never reopens a store it wrote (each assignment wipes
    the partition's directory and restores it from the changelog, the source of truth),
    so the log would be written and never read."""
    options = WriteOptions()
    # an attribute at run time; the binding's stub declares a method (the unit test checks
    # that the log stays empty)
    options.disable_wal = True  # type: ignore[method-assign,assignment]
    return options


class RocksStore:
    """A ``Store`` in a RocksDB directory (created when missing).

    Its block cache and memtables live in ``memory``, shared with the other stores given
    the same one (a worker's partitions), or in a store's own (16 MB, 8 MB of it write
    buffers, the settings' defaults) when none is given: memory stays about
    ``memory.cache_bytes`` whatever the size of the data. Blocks (opening reads the
    database's files); raises the binding's exception when the directory cannot be
    opened (another process holds it, a corrupt database).
    """

    def __init__(self, path: Path, memory: RocksMemory | None = None) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.memory = memory if memory is not None else RocksMemory(16 * MIB, 8 * MIB)
        self._db = Rdict(str(path), _options(self.memory))
        self._db.set_write_options(_write_options())

    def get(self, key: bytes) -> bytes | None:
        value = self._db.get(key)
        return None if value is None else bytes(value)

    def get_many(self, keys: list[bytes]) -> list[bytes | None]:
        """One multi-get (a week's days: a third cheaper than a get each)."""
        if not keys:
            return []
        wanted: list[str | int | float | bytes | bool] = list(keys)  # the binding's type
        values = self._db.get(wanted)
        if not isinstance(values, list):  # cannot happen: a list of keys gets a list
            raise TypeError(f"a multi-get answered {type(values).__name__}")
        return [None if value is None else bytes(value) for value in values]

    def put(self, key: bytes, value: bytes) -> None:
        self._db.put(key, value)

    def delete(self, key: bytes) -> None:
        self._db.delete(key)

    def write(self, puts: dict[bytes, bytes], deletes: set[bytes]) -> None:
        """Many changes atomically (one write batch): all are applied or none."""
        batch = WriteBatch(raw_mode=True)
        for key, value in puts.items():
            batch.put(key, value)
        for key in deletes:
            batch.delete(key)
        self._db.write(batch)

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        for key, value in self._db.items(from_key=prefix):
            if not isinstance(key, bytes) or not key.startswith(prefix):
                return
            yield key, bytes(value)

    def disk_bytes(self) -> int:
        """The live SST files' size (after ``flush``): what the data costs on disk."""
        return sum(int(f["size"]) for f in self._db.live_files())

    def flush(self) -> None:
        """Write the memtables to SST files (blocks until done)."""
        self._db.flush()

    def close(self) -> None:
        self._db.close()

    @staticmethod
    def destroy(path: Path) -> None:
        """Delete the database in ``path`` (wipe before a restore from the changelog)."""
        Rdict.destroy(str(path), Options(raw_mode=True))

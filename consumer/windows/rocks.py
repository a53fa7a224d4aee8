"""The ``Store`` on local disk: RocksDB through ``rocksdict`` (why: ``docs/architecture.md``).

One database per directory, raw bytes in and out (no pickling: ``raw_mode``), LZ4 block
compression, a bounded block cache and memtable so that the store can be far larger than
memory. Blocks on local disk only. Not thread-safe: one loop owns a store; a second
process opening the same directory fails (RocksDB's own lock).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Final

from rocksdict import BlockBasedOptions, Cache, DBCompressionType, Options, Rdict, WriteBatch

MIB: Final = 1 << 20


def _options(cache_bytes: int, write_buffer_bytes: int) -> Options:
    options = Options(raw_mode=True)
    options.create_if_missing(True)
    options.set_compression_type(DBCompressionType.lz4())
    options.set_write_buffer_size(write_buffer_bytes)
    options.set_max_write_buffer_number(2)
    table = BlockBasedOptions()
    table.set_block_cache(Cache(cache_bytes))
    table.set_bloom_filter(10, False)  # point reads of absent user-days skip the disk
    table.set_cache_index_and_filter_blocks(True)  # bounded by the cache, not the data
    options.set_block_based_table_factory(table)
    return options


class RocksStore:
    """A ``Store`` in a RocksDB directory (created when missing).

    ``cache_bytes`` bounds the block cache and ``write_buffer_bytes`` each of the two
    memtables: memory stays about ``cache_bytes + 2 * write_buffer_bytes`` whatever the
    size of the data. Raises the binding's exception when the directory cannot be opened
    (another process holds it, a corrupt database).
    """

    def __init__(
        self, path: Path, *, cache_bytes: int = 64 * MIB, write_buffer_bytes: int = 16 * MIB
    ) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = Rdict(str(path), _options(cache_bytes, write_buffer_bytes))

    def get(self, key: bytes) -> bytes | None:
        value = self._db.get(key)
        return None if value is None else bytes(value)

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

"""The cosignature lines /fed/v1/checkpoint appends read the same through either path.

On SQLite the node reads them with the log store's plain sqlite3 reader
(node/store/sqlitereader.py); the async SQLAlchemy path is the fallback
when that reader fails, and the only path on PostgreSQL. Both must give the
lines of one checkpoint size only, ordered by witness name.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from node.store import LogStore, create_engine, migrate
from node.store.peerstore import CosignatureRow, PeerStore
from node.store.sqlitereader import SQLiteReader
from protocol.did import Did

LOG = Did("did:key:z6MkpBuPiSQ4c3HGkdPJ7c8cY4VSWZERJwiBq2MmBvj86r5R")


def row(size: int, name: str) -> CosignatureRow:
    return CosignatureRow(
        log_did=LOG,
        size=size,
        witness_key=name.encode().ljust(32, b"k"),
        witness_name=name,
        line=f"\u2014 {name} line-at-{size}\n",
        timestamp=1,
    )


async def _fill(url: str) -> tuple[list[str], PeerStore, PeerStore]:
    await migrate(url)
    engine = create_engine(url)
    plain = PeerStore(engine)
    for size, name in [(7, "coop-c"), (7, "coop-a"), (8, "coop-a"), (7, "coop-b")]:
        assert await plain.add_cosignature(row(size, name))
    expected = [row(7, n).line for n in ("coop-a", "coop-b", "coop-c")]
    return expected, plain, PeerStore(engine, LogStore(engine).reader)


async def test_sqlite_reader_and_async_path_agree(tmp_path: Path) -> None:
    expected, plain, read = await _fill(f"sqlite+aiosqlite:///{tmp_path}/node.db")
    assert read.reader is not None
    try:
        assert await read.cosignature_lines(LOG, 7) == expected
        assert await plain.cosignature_lines(LOG, 7) == expected
        assert [c.line for c in await plain.cosignatures_at(LOG, 7)] == expected
        assert await read.cosignature_lines(LOG, 9) == []
        # A reader that cannot answer (no such table there) falls back to the async path.
        empty = tmp_path / "empty.db"
        empty.touch()
        read.reader = SQLiteReader(str(empty))
        assert await read.cosignature_lines(LOG, 7) == expected
    finally:
        await plain.engine.dispose()


async def test_postgresql_reads_the_same(pg_database: Callable[[], str]) -> None:
    expected, plain, read = await _fill(pg_database())
    assert read.reader is None
    try:
        assert await read.cosignature_lines(LOG, 7) == expected
        assert await read.cosignature_lines(LOG, 8) == [row(8, "coop-a").line]
    finally:
        await plain.engine.dispose()

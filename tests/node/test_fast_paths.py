"""The node's fast paths give the same answers as the general ones.

- the replay cache on each backend (PostgreSQL: one statement per round for
  every waiting request): a pair is accepted once, concurrent replays of it
  are refused, a pair whose window has passed may be used again;
- the SQLite point reads through a plain sqlite3 connection
  (node/store/sqlitereader.py) against the async path they stand in for,
  and the fall-back when that connection fails;
- a POST whose body is a canonical leaf (LogService.prepare_leaf) against the
  general path (envelope_from_json + prepare).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import OperationalError

from node.logservice import LogService
from node.store import LogStore, create_engine, migrate
from node.store.logstore import AppendItem
from node.store.noncestore import DatabaseNonceCache
from node.store.sqlitereader import SQLiteReader
from protocol.checkpoint import Checkpoint, sign_checkpoint
from protocol.errors import ProtocolError
from protocol.keys import AgentKey
from protocol.membership import MemberAdmit, MemberProfile
from protocol.merkle import MemoryHashStore, inclusion_subtrees, leaf_hash
from protocol.records import Record
from protocol.signing import envelope_from_json, leaf_bytes, record_id, sign

NODE = AgentKey.from_seed(hashlib.sha256(b"fast-paths-node").digest())
MEMBER = AgentKey.from_seed(hashlib.sha256(b"fast-paths-member").digest())
KEYID = MEMBER.did
NOW = 1_800_000_000


async def _nonce_cache(
    backend: str, make_database_url: Callable[..., Awaitable[str | None]], tmp_path: Path
) -> DatabaseNonceCache:
    url = await make_database_url(migrated=True)
    if url is None:
        cache = DatabaseNonceCache(f"sqlite+aiosqlite:///{tmp_path / 'node.db'}", tmp_path / "n.db")
    else:
        cache = DatabaseNonceCache(url)
    await cache.open()
    return cache


async def test_a_nonce_is_accepted_once(
    backend: str, make_database_url: Callable[..., Awaitable[str | None]], tmp_path: Path
) -> None:
    cache = await _nonce_cache(backend, make_database_url, tmp_path)
    try:
        remember = cache.remember
        assert await remember(KEYID, "n-1", created=NOW, expires=NOW + 300, now=NOW)
        assert not await remember(KEYID, "n-1", created=NOW, expires=NOW + 300, now=NOW + 10)
        # Another signer may use the same nonce.
        assert await remember(NODE.did, "n-1", created=NOW, expires=NOW + 300, now=NOW)
        # Once the first use's window has passed, the pair may come again.
        assert await remember(KEYID, "n-1", created=NOW + 301, expires=NOW + 601, now=NOW + 301)
        assert not await remember(KEYID, "n-1", created=NOW + 301, expires=NOW + 601, now=NOW + 302)
    finally:
        await cache.close()


async def test_concurrent_requests_share_the_cache_correctly(
    backend: str, make_database_url: Callable[..., Awaitable[str | None]], tmp_path: Path
) -> None:
    """Many requests at once (one round on PostgreSQL): each distinct pair once, replays never."""
    cache = await _nonce_cache(backend, make_database_url, tmp_path)
    try:
        pairs = [(KEYID, f"nonce-{n % 40}") for n in range(100)]  # 40 distinct, 60 replays
        pairs += [(NODE.did, f"nonce-{n}") for n in range(10)]
        answers = await asyncio.gather(
            *(cache.remember(k, n, created=NOW, expires=NOW + 300, now=NOW) for k, n in pairs)
        )
        accepted = [pair for pair, ok in zip(pairs, answers, strict=True) if ok]
        assert sorted(accepted) == sorted(set(pairs))
        # A later round sees what the first one wrote.
        again = await asyncio.gather(
            *(cache.remember(k, n, created=NOW, expires=NOW + 300, now=NOW + 1) for k, n in pairs)
        )
        assert not any(again)
    finally:
        await cache.close()


# ------------------------------------------------------------------ SQLite point reads


def _profile_item(n: int) -> AppendItem:
    body = MemberProfile(display_name=f"Member, change {n}")
    record = Record(
        type=MemberProfile.TYPE, author=MEMBER.did, created="2026-01-01T00:00:00Z",
        body=body.to_dict(),
    )  # fmt: skip
    return AppendItem(
        record=record, body=body, leaf=leaf_bytes(sign(record, MEMBER)), record_id=record_id(record)
    )


def _sign(checkpoint: Checkpoint) -> bytes:
    return sign_checkpoint(checkpoint, NODE)


async def _filled_store(tmp_path: Path, count: int) -> tuple[LogStore, list[bytes]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'node.db'}"
    await migrate(url)
    store = LogStore(create_engine(url))
    log = LogService(store, NODE, "fast.example/log", batch_max=64)
    await log.start()
    await log.append_own(
        MemberAdmit.TYPE, MemberAdmit(member=MEMBER.did).to_dict(), "2026-01-01T00:00:00Z"
    )
    items = [_profile_item(n) for n in range(count)]
    for at in range(0, count, 7):  # several batches, so several checkpoints
        outcomes, _ = await store.append_batch(NODE.did, items[at : at + 7], _sign)
        assert all(o.created for o in outcomes)
    await log.stop()
    leaves = [leaf for leaf in await store.leaves(NODE.did, 0, count + 1)]
    return store, leaves


async def test_sqlite_point_reads_match_the_async_path(tmp_path: Path) -> None:
    store, leaves = await _filled_store(tmp_path, 40)
    try:
        assert store.reader is not None
        general = LogStore(store.engine)
        general.reader = None  # the async path alone
        did = NODE.did
        size = len(leaves)
        assert await store.size_of(did) == await general.size_of(did) == (size, True)
        assert await store.size_of("did:key:nobody") is None
        assert await store.signed_head(did) == await general.signed_head(did)
        fast_head, slow_head = await store.head(did), await general.head(did)
        assert fast_head is not None
        assert slow_head is not None
        assert (fast_head.size, fast_head.root, fast_head.checkpoint) == (
            slow_head.size, slow_head.root, slow_head.checkpoint,
        )  # fmt: skip
        assert fast_head.authority.to_dict() == slow_head.authority.to_dict()
        assert await store.head("did:key:nobody") is None
        # Proof hashes: against a Merkle tree built here from the leaves.
        memory = MemoryHashStore([leaf_hash(leaf) for leaf in leaves])
        for index in (0, 1, 17, size - 1):
            ids = inclusion_subtrees(index, size)
            expected = list(memory.read_hashes(ids))
            assert await store.read_hashes(did, ids) == expected
            assert await general.read_hashes(did, ids) == expected
        assert await store.inclusion_proof(did, 5, size) == await general.inclusion_proof(
            did, 5, size
        )
        with pytest.raises(LookupError):
            await store.read_hashes(did, [(0, size + 5)])
        rid = json.loads(leaves[3])["record"]
        record = Record.from_dict(rid)
        found = await store.entry_by_id(did, record_id(record))
        assert found == (3, leaves[3]) == await general.entry_by_id(did, record_id(record))
        assert await store.entry_by_id(did, "sha256:" + "0" * 64) is None
        assert await store.checkpoint_at(did, size) == await general.checkpoint_at(did, size)
        assert await store.checkpoint_at(did, size) is not None
        assert await store.checkpoint_at(did, size - 1) is None  # not a batch boundary
    finally:
        if store.reader is not None:
            store.reader.close()
        await store.engine.dispose()


async def test_sqlite_point_reads_fall_back_when_the_plain_connection_fails(
    tmp_path: Path,
) -> None:
    store, leaves = await _filled_store(tmp_path, 10)
    try:
        broken = SQLiteReader(str(tmp_path / "missing-dir" / "node.db"))
        store.reader = broken
        assert await store.size_of(NODE.did) == (len(leaves), True)
        ids = inclusion_subtrees(2, len(leaves))
        memory = MemoryHashStore([leaf_hash(leaf) for leaf in leaves])
        assert await store.read_hashes(NODE.did, ids) == list(memory.read_hashes(ids))
        with pytest.raises(sqlite3.Error):
            broken._connection().execute("SELECT 1 FROM logs")
    finally:
        await store.engine.dispose()


def test_no_reader_for_postgres_or_memory() -> None:
    assert SQLiteReader.for_url("postgresql+asyncpg://u@h/db") is None
    assert SQLiteReader.for_url("sqlite+aiosqlite://") is None
    assert SQLiteReader.for_url("sqlite+aiosqlite:///:memory:") is None
    reader = SQLiteReader.for_url("sqlite+aiosqlite:////tmp/x/node.db")
    assert reader is not None
    assert reader.path == "/tmp/x/node.db"


# ------------------------------------------------------------------ canonical leaves


_TEXT = st.text(st.characters(codec="utf-8"), max_size=20)


@settings(max_examples=60, deadline=None)
@given(name=_TEXT, contact=st.one_of(st.none(), _TEXT), spaced=st.booleans())
def test_prepare_leaf_matches_the_general_path(
    name: str, contact: str | None, spaced: bool
) -> None:
    body: dict[str, object] = {"display_name": name}
    if contact is not None:
        body["contact"] = contact
    record = Record(
        type=MemberProfile.TYPE, author=MEMBER.did, created="2026-01-01T00:00:00Z", body=body
    )
    leaf = leaf_bytes(sign(record, MEMBER))
    data = leaf.replace(b'","', b'", "', 1) if spaced else leaf  # not canonical JSON
    try:
        general: AppendItem | ProtocolError = LogService.prepare(envelope_from_json(data))
    except ProtocolError as exc:
        general = exc
    fast = LogService.prepare_leaf(data)
    if isinstance(general, ProtocolError) or data != leaf:
        assert fast is None
    else:
        assert fast == general
        assert fast.leaf == leaf


def test_prepare_leaf_refuses_what_does_not_verify() -> None:
    record = Record(
        type=MemberProfile.TYPE, author=MEMBER.did, created="2026-01-01T00:00:00Z",
        body={"display_name": "Ada"},
    )  # fmt: skip
    leaf = leaf_bytes(sign(record, MEMBER))
    tampered = leaf.replace(b"Ada", b"Eve")
    assert LogService.prepare_leaf(tampered) is None
    assert LogService.prepare_leaf(b"{}") is None
    assert LogService.prepare_leaf(b"\xff") is None


async def test_upper_subtree_hashes_are_served_from_memory_once_read(tmp_path: Path) -> None:
    store, leaves = await _filled_store(tmp_path, 299)  # 300 leaves: one complete 2^8 subtree
    size = len(leaves)
    memory = MemoryHashStore([leaf_hash(leaf) for leaf in leaves])
    ids = inclusion_subtrees(270, size)
    assert (8, 0) in ids
    expected = list(memory.read_hashes(ids))
    assert await store.read_hashes(NODE.did, ids) == expected
    # With the database gone, the upper subtree still answers; the others cannot.
    if store.reader is not None:
        store.reader.close()
    store.reader = None
    await store.engine.dispose()
    store.engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'gone' / 'node.db'}")
    try:
        assert await store.read_hashes(NODE.did, [(8, 0)]) == list(memory.read_hashes([(8, 0)]))
        with pytest.raises(OperationalError):  # the database cannot be opened
            await store.read_hashes(NODE.did, [(0, 3)])
    finally:
        await store.engine.dispose()

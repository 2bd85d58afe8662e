"""The overlapped batch stage of pull sync, in-process (specs/03-federation.md §3.5–§3.7).

`sync_log` runs against a real LogStore (SQLite in a temporary file) and a
scripted source that serves a hand-built log with `protocol.merkle`'s
in-memory hashes. The source can answer with fewer leaves than asked, fail,
serve a forged leaf or a wrong proof; a wrapper around `commit_synced` can
hold a commit back or report another process's commit.

Expected values are computed here: leaves and bodies from the inputs the log
was built from, record ids with rfc8785 and hashlib, roots with
`fednet.tree_root` (RFC 9162 written out directly).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import rfc8785
from fednet import tree_root
from sqlalchemy import make_url

import node  # noqa: F401  (registers every record type and rule)
from node.federation.logclient import PeerMisbehaves, PeerUnreachable
from node.federation.sync import PREFETCH_BATCHES, sync_log
from node.federation.verify import BatchRejected
from node.federation.workers import LeafWorkers
from node.projections import ProjectedEntry
from node.store import LogStore, create_engine, migrate_sync
from protocol.checkpoint import Checkpoint, NoteVerifier, sign_checkpoint
from protocol.keys import AgentKey
from protocol.membership import MemberAdmit, MemberProfile
from protocol.merkle import MemoryHashStore, consistency_proof, inclusion_proof, leaf_hash
from protocol.records import Envelope, Record
from protocol.replay import RepeatedRecord
from protocol.signing import leaf_bytes, sign

ORIGIN = "pipeline.example/log"
NODE = AgentKey.from_seed(hashlib.sha256(b"pipeline/node").digest())
MEMBERS = [AgentKey.from_seed(hashlib.sha256(b"pipeline/member/%d" % m).digest()) for m in range(3)]
SIZE = 730
# specs/03-federation.md §3.7: a fault makes a round fetch again at most
# (PREFETCH_BATCHES + 2) batches. The bound is written out here; if the
# constant changes, this test and the spec must be revisited together.
DEPTH = 2


def test_prefetch_depth_is_the_one_the_spec_states() -> None:
    assert PREFETCH_BATCHES == DEPTH


def _name(i: int) -> str:
    return f"Member {i % len(MEMBERS)}, change {i}"


def _build_leaves(size: int) -> list[bytes]:
    leaves = []
    for m in MEMBERS:
        record = Record(
            type=MemberAdmit.TYPE,
            author=NODE.did,
            created="2025-03-01T10:00:00Z",
            body={"member": m.did, "role": "member"},
        )
        leaves.append(leaf_bytes(sign(record, NODE)))
    for i in range(len(MEMBERS), size):
        key = MEMBERS[i % len(MEMBERS)]
        record = Record(
            type=MemberProfile.TYPE,
            author=key.did,
            created=f"2025-03-01T10:{i // 60 % 60:02d}:{i % 60:02d}.5Z",
            body={"display_name": _name(i)},
        )
        leaves.append(leaf_bytes(sign(record, key)))
    return leaves


LEAVES = _build_leaves(SIZE)


def _forged(index: int) -> bytes:
    """The leaf at index with its body changed after signing (a bad signature)."""
    data = json.loads(LEAVES[index])
    record = Record.from_dict({**data["record"], "body": {"display_name": "Forged"}})
    signature = base64.urlsafe_b64decode(data["sig"] + "==")
    return leaf_bytes(Envelope(record=record, sig=signature))


@dataclass
class Source:
    """A scripted source of one log; records what it served."""

    leaves: list[bytes]
    signed: list[bytes] | None = None  # the leaves the checkpoint covers, if not `leaves`
    max_answer: int = 10**9
    fail_from: int | None = None  # entries answers starting at or after this fail
    bad_proof_at: int | None = None  # a wrong consistency proof from this size
    served: list[tuple[int, int]] = field(default_factory=list)  # (start, leaves)
    on_entries: Any = None  # async callback(start, end) before answering

    def __post_init__(self) -> None:
        tree = self.signed if self.signed is not None else self.leaves
        self.hashes = MemoryHashStore([leaf_hash(leaf) for leaf in tree])
        self.note = sign_checkpoint(
            Checkpoint(ORIGIN, len(tree), self.hashes.frontier.root()), NODE
        )

    async def checkpoint(self) -> bytes:
        return self.note

    async def entries(self, start: int, end: int) -> list[bytes]:
        await asyncio.sleep(0)
        if self.on_entries is not None:
            await self.on_entries(start, end)
        if self.fail_from is not None and start >= self.fail_from:
            raise PeerUnreachable("/entries: HTTP 503")
        answer = self.leaves[start : min(end, start + self.max_answer)]
        self.served.append((start, len(answer)))
        return answer

    async def consistency(self, old: int, new: int) -> list[bytes]:
        await asyncio.sleep(0)
        proof = consistency_proof(old, new, self.hashes)
        if old == self.bad_proof_at:
            proof[0] = hashlib.sha256(b"wrong").digest()
        return proof

    async def inclusion(self, index: int, tree_size: int) -> list[bytes]:
        return inclusion_proof(index, tree_size, self.hashes)


PG_URL = os.environ.get("FABCOMMONS_TEST_PG_URL", "")
# The postgres parameter exists only when a server is configured: no skips.
BACKENDS = ["sqlite", "postgres"] if PG_URL else ["sqlite"]


def _pg_url(database: str) -> str:
    return make_url(PG_URL).set(database=database).render_as_string(hide_password=False)


async def _pg_admin(statement: str) -> None:
    url = make_url(PG_URL).set(drivername="postgresql", database="postgres")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pipeline") / "template.db"
    migrate_sync(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(params=BACKENDS)
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, template_db: Path
) -> AsyncIterator[LogStore]:
    if request.param == "postgres":
        name = f"fabsync_{secrets.token_hex(8)}"
        await _pg_admin(f'CREATE DATABASE "{name}"')
        url = _pg_url(name)
        await asyncio.to_thread(migrate_sync, url)
    else:
        path = tmp_path / "follower.db"
        shutil.copyfile(template_db, path)
        url = f"sqlite+aiosqlite:///{path}"
    engine = create_engine(url)
    log_store = LogStore(engine)
    await log_store.create_log(did=NODE.did, origin=ORIGIN, vkey=_vkey(), is_local=False, sign=None)
    yield log_store
    await engine.dispose()
    if request.param == "postgres":
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def pool() -> AsyncIterator[LeafWorkers]:
    workers = LeafWorkers(2)
    yield workers
    await workers.close()


def _vkey() -> str:
    return NoteVerifier(ORIGIN, NODE.public_key).vkey


async def _sync(
    store: LogStore, source: Source, *, batch: int, pool: LeafWorkers | None = None
) -> Any:
    return await sync_log(
        store,
        source,  # type: ignore[arg-type]
        NODE.did,
        _vkey(),
        batch_size=batch,
        pool=pool,
        depth=DEPTH,
    )


async def _stored(store: LogStore) -> tuple[int, list[bytes]]:
    head = await store.head(NODE.did)
    assert head is not None
    return head.size, await store.leaves(NODE.did, 0, SIZE + 1)


def _expected_entry(index: int, leaf: bytes) -> dict[str, Any]:
    record = json.loads(leaf)["record"]
    if index < len(MEMBERS):
        body: Any = MemberAdmit(member=MEMBERS[index].did)
        identity = NODE.did
    else:
        body = MemberProfile(display_name=_name(index))
        identity = MEMBERS[index % len(MEMBERS)].did
    return {
        "log": NODE.did,
        "index": index,
        "record_id": "sha256:" + hashlib.sha256(rfc8785.dumps(record)).hexdigest(),
        "record": record,
        "body": body,
        "identity": identity,
    }


def _as_dict(entry: ProjectedEntry) -> dict[str, Any]:
    return {
        "log": entry.log,
        "index": entry.index,
        "record_id": entry.record_id,
        "record": entry.record.to_dict(),
        "body": entry.body,
        "identity": entry.identity,
    }


@pytest.mark.parametrize("parallel", [False, True], ids=["in-process", "workers"])
async def test_batches_spanning_several_answers_catch_up(
    store: LogStore, pool: LeafWorkers, parallel: bool
) -> None:
    committed: list[Sequence[ProjectedEntry]] = []
    store.listeners.append(committed.append)
    source = Source(LEAVES, max_answer=30)
    result = await _sync(store, source, batch=100, pool=pool if parallel else None)
    assert (result.size, result.fetched, result.interrupted) == (SIZE, SIZE, False)
    size, stored = await _stored(store)
    assert size == SIZE
    assert stored == LEAVES
    head = await store.head(NODE.did)
    assert head is not None
    assert head.root == tree_root(LEAVES)
    assert head.checkpoint == source.note
    assert await store.checkpoint_at(NODE.did, SIZE) == source.note
    # A batch is the unit of one transaction: 100 leaves from four answers of at most 30.
    assert [len(batch) for batch in committed] == [100] * 7 + [30]
    assert all(n <= 30 for _, n in source.served)
    starts = [start for start, _ in source.served]
    assert starts == sorted(starts)
    assert len(set(starts)) == len(starts)
    # Projectors and listeners see complete, verified entries, in log order.
    entries = [e for batch in committed for e in batch]
    assert [_as_dict(e) for e in entries] == [
        _expected_entry(i, leaf) for i, leaf in enumerate(LEAVES)
    ]


@pytest.mark.parametrize("depth", [0, DEPTH])
async def test_fetching_stays_within_depth_plus_two_batches(store: LogStore, depth: int) -> None:
    """A commit held back: fetching runs ahead to exactly (depth + 2) batches, no further."""
    batch = 50
    release = asyncio.Event()
    original = store.commit_synced

    async def held(*args: Any, **kwargs: Any) -> bool:
        if kwargs["expected_size"] == 0:
            await release.wait()
        return await original(*args, **kwargs)

    store.commit_synced = held  # type: ignore[method-assign]
    source = Source(LEAVES)
    task = asyncio.create_task(
        sync_log(
            store,
            source,
            NODE.did,
            _vkey(),
            batch_size=batch,
            depth=depth,  # type: ignore[arg-type]
        )
    )
    bound = (depth + 2) * batch
    for _ in range(200):
        if sum(n for _, n in source.served) >= bound:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    assert sum(n for _, n in source.served) == bound
    release.set()
    result = await asyncio.wait_for(task, 30)
    assert result.size == SIZE
    assert sum(n for _, n in source.served) == SIZE


async def test_fetched_but_uncommitted_never_exceeds_the_bound(store: LogStore) -> None:
    batch = 40
    gaps: list[int] = []

    async def observe(start: int, end: int) -> None:
        size = (await _stored(store))[0]
        gaps.append(min(end, SIZE) - size)

    source = Source(LEAVES, max_answer=25, on_entries=observe)
    await _sync(store, source, batch=batch)
    assert max(gaps) <= (DEPTH + 2) * batch
    assert (await _stored(store))[1] == LEAVES


@pytest.mark.parametrize("parallel", [False, True], ids=["in-process", "workers"])
async def test_a_bad_entry_keeps_the_batches_before_it(
    store: LogStore, pool: LeafWorkers, parallel: bool
) -> None:
    bad = 250
    leaves = [*LEAVES[:bad], _forged(bad), *LEAVES[bad + 1 :]]
    source = Source(leaves)  # the log signed the forged leaf: the log is to blame
    with pytest.raises(BatchRejected) as raised:
        await _sync(store, source, batch=100, pool=pool if parallel else None)
    assert raised.value.index == bad
    assert isinstance(raised.value.__cause__, Exception)
    size, stored = await _stored(store)
    assert size == 200
    assert stored == LEAVES[:200]


def _record_id(leaf: bytes) -> str:
    return "sha256:" + hashlib.sha256(rfc8785.dumps(json.loads(leaf)["record"])).hexdigest()


# (the repeat's index, the index of the entry it repeats, the stored prefix
# before the round). Batches of 100 from that prefix: the repeat fails its
# batch, and the batches before it are kept.
REPEATS = {
    "in-its-own-batch": (250, 230, 0),
    "of-an-earlier-batch": (250, 120, 0),
    "of-an-earlier-round": (350, 40, 300),
    "of-the-last-stored-entry": (301, 299, 300),
}


@pytest.mark.parametrize("parallel", [False, True], ids=["in-process", "workers"])
@pytest.mark.parametrize("case", list(REPEATS))
async def test_a_repeated_entry_keeps_the_batches_before_it(
    store: LogStore, pool: LeafWorkers, parallel: bool, case: str
) -> None:
    """specs/01-records.md §6, check 6: the same signed record appended twice. The
    repeat is refused before anything of its batch reaches the database's unique
    constraint, whether the entry it repeats came in this round or is stored."""
    bad, first, prefix = REPEATS[case]
    if prefix:
        assert (await _sync(store, Source(LEAVES[:prefix]), batch=100)).size == prefix
    leaves = [*LEAVES[:bad], LEAVES[first], *LEAVES[bad + 1 :]]
    with pytest.raises(BatchRejected) as raised:
        await _sync(store, Source(leaves), batch=100, pool=pool if parallel else None)
    assert raised.value.index == bad
    cause = raised.value.__cause__
    assert isinstance(cause, RepeatedRecord)
    assert (cause.index, cause.first) == (bad, first)
    assert cause.record_id == _record_id(LEAVES[first])
    assert str(raised.value) == (
        f"entry {bad}: record: entry {bad} repeats record {cause.record_id} of entry {first}"
    )
    kept = bad // 100 * 100
    size, stored = await _stored(store)
    assert size == kept
    assert stored == LEAVES[:kept]


@pytest.mark.parametrize(
    ("repeat_at", "forged_at"), [(320, 340), (340, 320)], ids=["repeat-first", "forgery-first"]
)
async def test_the_first_bad_entry_in_log_order_is_reported(
    store: LogStore, repeat_at: int, forged_at: int
) -> None:
    """The stored prefix is looked up while the batch is authorised; whichever of a
    repeat of a stored entry and a forged entry comes first in the log is reported."""
    assert (await _sync(store, Source(LEAVES[:300]), batch=100)).size == 300
    leaves = list(LEAVES)
    leaves[repeat_at] = LEAVES[40]
    leaves[forged_at] = _forged(forged_at)
    with pytest.raises(BatchRejected) as raised:
        await _sync(store, Source(leaves), batch=100)
    assert raised.value.index == min(repeat_at, forged_at)
    assert isinstance(raised.value.__cause__, RepeatedRecord) == (repeat_at < forged_at)
    assert (await _stored(store))[0] == 300


async def test_the_stored_prefix_is_looked_up_only_below_the_round_and_not_from_empty(
    store: LogStore,
) -> None:
    """The lookup answers for the prefix stored before the round, and a round from an
    empty log has no stored prefix to ask about (its own ids are checked in memory)."""
    looked_up: list[tuple[int, int]] = []
    original = store.stored_ids

    async def counted(did: str, record_ids: Sequence[str], *, before: int) -> dict[str, int]:
        looked_up.append((len(record_ids), before))
        return await original(did, record_ids, before=before)

    store.stored_ids = counted  # type: ignore[method-assign]
    assert (await _sync(store, Source(LEAVES[:300]), batch=100)).size == 300
    assert looked_up == []
    ids = [_record_id(LEAVES[i]) for i in (0, 150, 299)]
    assert await original(NODE.did, ids, before=300) == {ids[0]: 0, ids[1]: 150, ids[2]: 299}
    assert await original(NODE.did, ids, before=150) == {ids[0]: 0}
    assert await original(NODE.did, ids, before=0) == {}
    # The rule is per log (specs/01-records.md §8.2): another log's ids are not asked.
    assert await original(MEMBERS[0].did, ids, before=300) == {}
    assert (await _sync(store, Source(LEAVES), batch=100)).size == SIZE
    assert looked_up == [(100, 300)] * 4 + [(30, 300)]
    assert (await _stored(store))[1] == LEAVES


async def test_a_leaf_damaged_in_transit_blames_the_source_not_the_log(store: LogStore) -> None:
    bad = 250
    leaves = [*LEAVES[:bad], _forged(bad), *LEAVES[bad + 1 :]]
    source = Source(leaves, signed=LEAVES)
    with pytest.raises(PeerUnreachable, match="not the one the log signed"):
        await _sync(store, source, batch=100)
    assert (await _stored(store))[0] == 200


async def test_an_unreachable_source_keeps_what_verified_and_the_next_round_resumes(
    store: LogStore,
) -> None:
    failing = Source(LEAVES, max_answer=60, fail_from=330)
    with pytest.raises(PeerUnreachable):
        await _sync(store, failing, batch=100)
    size, stored = await _stored(store)
    # Batch [300, 400) got its first answer (300..359), then the source
    # failed: that part is not committed, everything before it is.
    assert (300, 60) in failing.served
    assert size == 300
    assert stored == LEAVES[:300]
    healthy = Source(LEAVES)
    result = await _sync(store, healthy, batch=100)
    assert result.size == SIZE
    assert result.fetched == SIZE - 300
    assert healthy.served[0][0] == 300
    assert sum(n for _, n in healthy.served) == SIZE - 300
    assert (await _stored(store))[1] == LEAVES


async def test_a_wrong_proof_keeps_the_batches_before_it(store: LogStore) -> None:
    source = Source(LEAVES, bad_proof_at=300)
    with pytest.raises(PeerMisbehaves, match=r"entries 200\.\.299 are not part of the signed log"):
        await _sync(store, source, batch=100)
    assert (await _stored(store))[0] == 200


async def test_another_process_committing_first_interrupts_the_round(store: LogStore) -> None:
    original = store.commit_synced

    async def moved(*args: Any, **kwargs: Any) -> bool:
        if kwargs["expected_size"] == 300:
            return False
        return await original(*args, **kwargs)

    store.commit_synced = moved  # type: ignore[method-assign]
    result = await _sync(store, Source(LEAVES), batch=100)
    assert result.interrupted
    assert result.size == 300
    assert (await _stored(store))[0] == 300


async def test_a_cancelled_round_leaves_whole_batches(store: LogStore) -> None:
    async def slow(start: int, end: int) -> None:
        await asyncio.sleep(0.02)

    task = asyncio.create_task(_sync(store, Source(LEAVES, on_entries=slow), batch=50))
    for _ in range(500):
        if (await _stored(store))[0] >= 150:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    size, stored = await _stored(store)
    assert 150 <= size < SIZE
    assert size % 50 == 0
    assert stored == LEAVES[:size]
    result = await _sync(store, Source(LEAVES), batch=50)
    assert result.size == SIZE
    assert (await _stored(store))[1] == LEAVES


def test_inserts_use_few_statement_shapes() -> None:
    """The driver keeps each distinct statement it prepared: their shapes must stay few."""
    from node.store.logstore import _statement_sizes

    shapes: set[int] = set()
    for total in range(0, 9000, 7):
        for most in (4681, 8191, 142):
            sizes = _statement_sizes(total, most)
            assert sum(sizes) == total
            assert all(0 < n <= min(most, 512) for n in sizes)
            shapes.update(sizes)
    assert len(shapes) <= 12

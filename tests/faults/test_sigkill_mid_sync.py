"""A follower killed in the middle of syncing 20,000 entries resumes where it stopped (issue 4).

A holds a log of 20,000 entries (4 `member.admit` + 19,996 `member.profile`
by 4 members). Signed HTTP appends cost about 2 ms of RFC 9421 signing on each
side (http-message-signatures), so 20,000 of them would take minutes on two
cores; the log is built before A's first start through LogStore.append_batch,
the function A's own writer appends through, with A's key signing the
checkpoints (fednet.build_log_offline). Everything after that is real
processes and HTTP.

B (`sync_batch: 500`) follows A through a counting reverse proxy run by the
test. When B has committed part of the log, B is killed with SIGKILL, its
committed size k is read from B's SQLite database (after the kill, the file
holds exactly what B committed: that is the sound measure of "the last
committed batch"), and B is started again. The bounds, with b = 500:

- after the restart, every entries request starts at or after k, the requests
  do not overlap, and together they cover exactly [k, N): N − k leaves, none
  fetched twice after the last committed batch, and the first starts at k;
- before the kill, the proxy served [0, F) with k ≤ F ≤ k + (d + 2)·b, where
  d = 2 is sync's prefetch depth (node.federation.sync.PREFETCH_BATCHES,
  specs/03-federation.md §3.7): while one batch commits and the next is
  authorised, d more are fetched and their signatures checked, so at most
  d + 2 fetched batches can be lost to a kill and fetched again;
- B's own counter of fetched entries (peers.fetched_entries) equals N − k,
  since the interrupted round never reported;
- B ends with A's signed checkpoint and the very leaves A served, which hash
  (hashlib, RFC 9162) to its root.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fednet import (
    CountingProxy,
    FedNet,
    build_log_offline,
    open_note,
    query_db,
    tree_root,
    wait_for,
)

from protocol.keys import AgentKey

pytestmark = pytest.mark.slow

ENTRIES = 20_000
MEMBERS = 4
BATCH = 500
# Batches sync fetches ahead of the one it authorises (specs/03-federation.md §3.7).
DEPTH = 2
# Kill once B has committed at least this much (and, necessarily, less than N).
KILL_AFTER = 4_000
# Each entries answer is held back this long, so the sync lasts a few seconds.
PROXY_DELAY_S = 0.05


def _committed(db_path: Path, did: str) -> tuple[int, int]:
    """(head size, number of stored entries) of log `did` in a stopped node's database."""
    [(size,)] = query_db(db_path, "SELECT size FROM logs WHERE did = ?", [did])
    [(count,)] = query_db(db_path, "SELECT COUNT(*) FROM entries WHERE log_did = ?", [did])
    return int(size), int(count)


async def test_follower_killed_mid_sync_resumes_without_refetching(fednet: FedNet) -> None:
    a = fednet.node("A")
    b = fednet.node("B", sync_batch=BATCH)
    members = [AgentKey.generate() for _ in range(MEMBERS)]
    started = time.monotonic()
    leaves = await build_log_offline(a, members, ENTRIES - MEMBERS)
    n = len(leaves)
    assert n == ENTRIES
    await a.start()
    a_note = await open_note(a, None, a)
    assert a_note.checkpoint.size == n
    assert a_note.checkpoint.root_hash == tree_root(leaves)
    built = time.monotonic() - started

    proxy = CountingProxy(a.url, delay_s=PROXY_DELAY_S)
    await proxy.start()
    try:
        await b.start()
        added = await b.add_peer(proxy.url)
        assert added["did"] == a.did

        async def partway() -> int:
            size = int((await b.peers())[a.did]["verified_size"])
            return size if size >= KILL_AFTER else 0

        seen = await wait_for(partway, f"B to commit {KILL_AFTER} entries", timeout_s=30)
        b.kill()
        proxy.phase = 1
        k, stored = _committed(b.db_path, a.did)
        assert stored == k, "the database holds a partial batch"
        assert seen <= k < n, f"B was not killed mid-sync (committed {k} of {n})"
        assert k % BATCH == 0, "commits happen per batch"

        await b.start()

        async def caught_up() -> dict[str, object] | None:
            peer = (await b.peers())[a.did]
            return peer if peer["verified_size"] == n and peer["state"] == "ok" else None

        peer = await wait_for(caught_up, "B to finish after the restart", timeout_s=40)
        synced = time.monotonic() - started
    finally:
        await proxy.close()

    before = sorted((c for c in proxy.calls if c.phase == 0), key=lambda c: c.start)
    after = sorted((c for c in proxy.calls if c.phase == 1), key=lambda c: c.start)
    assert after, "no entries were fetched after the restart"
    assert after[0].start == k, f"resumed at {after[0].start}, committed {k}"
    position = k
    for call in after:
        assert call.start == position, f"after restart: gap or overlap at {call}"
        assert call.lines > 0
        position += call.lines
    assert position == n
    assert sum(c.lines for c in after) == n - k

    served_before = 0
    for call in before:
        assert call.start == served_before, f"before kill: gap or overlap at {call}"
        served_before += call.lines
    assert k <= served_before <= k + (DEPTH + 2) * BATCH, (k, served_before)
    assert peer["fetched_entries"] == n - k

    mirror = await open_note(b, a.did, a)
    assert mirror.checkpoint == a_note.checkpoint
    assert await b.leaves(n, a.did) == leaves
    print(
        f"\n{n} entries: built+served in {built:.1f} s, synced by {synced:.1f} s; "
        f"killed at {k}, {served_before - k} fetched-but-uncommitted leaves refetched"
    )

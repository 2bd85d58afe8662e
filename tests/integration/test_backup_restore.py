"""`fabcommons backup` while the node appends, and a restore from it.

What it guarantees: a backup taken while clients append is a consistent
node: served from its own directory it has the same did and log key, its
checkpoint is signed and is the RFC 9162 root of its leaves, its log is a
prefix of the live node's log (consistent with it), every blob it refers to
is there byte for byte, and its key and token files are private (0600).
"""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
from pathlib import Path

import pytest
from fednet import (
    CLI_TIMEOUT_S,
    FedNet,
    FedNode,
    child_env,
    cli_argv,
    free_port,
    open_note,
    post_profiles,
    tree_root,
)

from node.client import NodeClient
from protocol.keys import AgentKey

pytestmark = pytest.mark.slow


async def test_a_backup_taken_under_load_restores_to_a_consistent_prefix(
    fednet: FedNet, tmp_path: Path
) -> None:
    node = fednet.node("A")
    await node.start()
    members = [AgentKey.generate() for _ in range(4)]
    for member in members:
        await node.admit(member.did)
    files = [f"part {n}".encode() * 1000 for n in range(3)]
    async with NodeClient(node.url) as client:
        for data in files:
            await client.post_blob(data, members[0])

    out = tmp_path / "backup"

    def backup() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*cli_argv(), "backup", "--data", str(node.path), "--out", str(out)],
            capture_output=True,
            text=True,
            env=child_env(),
            timeout=CLI_TIMEOUT_S,
            check=False,
        )

    load = asyncio.create_task(post_profiles(node, members, 400, tag="load", clients=8))
    await asyncio.sleep(0.3)
    done = await asyncio.to_thread(backup)
    await load
    assert done.returncode == 0, done.stdout + done.stderr
    assert "blobs: 3 files" in done.stdout

    for private in ("node.key", "admin.token", "node.db"):
        assert (out / private).stat().st_mode & 0o777 == 0o600, private

    live_note = await open_note(node, None, node)
    restored = FedNode(
        label="restored",
        path=out,
        port=free_port(),
        did=node.did,
        origin=node.origin,
        vkey=node.vkey,
        log_path=tmp_path / "serve-restored.log",
    )
    fednet.nodes.append(restored)
    await restored.start()
    well_known = await restored.get_json("/.well-known/fabcommons")
    assert well_known["did"] == node.did
    assert well_known["log"]["vkey"] == node.vkey
    note = await open_note(restored, None, node)  # verified with the live node's key
    size = note.checkpoint.size
    assert 0 < size <= live_note.checkpoint.size
    restored_leaves = await restored.leaves(size)
    assert tree_root(restored_leaves) == note.checkpoint.root_hash
    assert restored_leaves == await node.leaves(size)
    for data in files:
        hexdigest = hashlib.sha256(data).hexdigest()
        assert await restored.get_bytes(f"/blobs/sha256/{hexdigest}") == data

    # A second backup into the same place is refused rather than mixed in.
    again = await asyncio.to_thread(backup)
    assert again.returncode == 1
    assert "exists" in again.stderr

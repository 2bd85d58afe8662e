"""A disk that fills up during blob uploads.

Guarantee: when the blob directory runs out of space, the upload that does
not fit is refused with 507 problem+json and leaves nothing behind (no
partial blob under any hash, no temporary file); every upload acknowledged
before stays complete and byte-exact; the node keeps answering and keeps
appending records (the log lives elsewhere); once space is freed, uploads
work again.

The blob directory is a real 2 MiB tmpfs mounted over <data>/blobs (this
needs root, which CI has; the test fails, rather than skips, without it).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fednet import FedNet, FedNode, profile_envelope

from node.client import NodeClient
from node.errors import NodeClientError
from protocol.keys import AgentKey

pytestmark = pytest.mark.slow

MOUNT_TIMEOUT_S = 10
CHUNK = 600 * 1024  # four fit in 2 MiB with the tmpfs's own overhead; a fifth cannot


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[None]:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
        check=True,
        timeout=MOUNT_TIMEOUT_S,
    )
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, timeout=MOUNT_TIMEOUT_S)


def _resize(path: Path, size: str) -> None:
    subprocess.run(
        ["mount", "-o", f"remount,size={size}", str(path)], check=True, timeout=MOUNT_TIMEOUT_S
    )


async def _upload(node: FedNode, key: AgentKey, data: bytes) -> int:
    async with NodeClient(node.url) as client:
        try:
            status, _ = await client.signed_post(
                key, "/api/v1/blobs", data, "application/octet-stream"
            )
        except NodeClientError as exc:
            refusal = exc
        else:
            return status
    assert refusal.problem.get("status") == refusal.status, refusal.problem
    return refusal.status


async def test_a_full_disk_refuses_the_upload_cleanly_and_loses_nothing(fednet: FedNet) -> None:
    assert os.geteuid() == 0, "mounting a tmpfs needs root (CI runs as root)"
    node = fednet.node("A")
    blobs = node.path / "blobs"
    with tmpfs(blobs, "2m"):
        await node.start()
        member = AgentKey.generate()
        await node.admit(member.did)

        stored: list[bytes] = []
        statuses: list[int] = []
        for n in range(8):
            data = bytes([n + 1]) * CHUNK
            status = await _upload(node, member, data)
            statuses.append(status)
            if status == 201:
                stored.append(data)
            else:
                break
        assert statuses[-1] == 507, statuses
        assert set(statuses[:-1]) == {201}, statuses
        assert 1 <= len(stored) <= 3

        refused = bytes([len(stored) + 1]) * CHUNK
        refused_hex = hashlib.sha256(refused).hexdigest()
        status, _ = await node.request("GET", f"/blobs/sha256/{refused_hex}")
        assert status == 404
        assert not (blobs / "sha256" / refused_hex[:2] / refused_hex[2:]).exists()
        assert list((blobs / "tmp").iterdir()) == []

        for data in stored:
            assert await node.get_bytes(f"/blobs/sha256/{hashlib.sha256(data).hexdigest()}") == data

        # The node answers and its log still grows.
        assert (await node.request("GET", "/healthz"))[0] == 200
        async with NodeClient(node.url) as client:
            answer = await client.post_record(profile_envelope(member, "still here"), member)
        assert answer["index"] >= 1

        _resize(blobs, "8m")
        assert await _upload(node, member, refused) == 201
        assert await node.get_bytes(f"/blobs/sha256/{refused_hex}") == refused
        node.stop()

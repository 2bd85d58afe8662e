"""Content-addressed blobs: POST /api/v1/blobs (signed by a member), GET /blobs/sha256/{hex}."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import AsyncIterator

import pytest

PATH = "/api/v1/blobs"
DATA = os.urandom(3000) + b"\x00\x01 a mesh, perhaps"

# Decided by the request and the blob directory alone: SQLite is enough.
INPUT_ONLY = pytest.mark.parametrize("backend", ["sqlite"])


def stored_files(node) -> list[str]:
    """Every file under the blob directory (stored blobs and temporary leftovers)."""
    root = node.config.blob_dir
    return sorted(
        str(os.path.relpath(os.path.join(d, f), root)) for d, _, fs in os.walk(root) for f in fs
    )


async def chunked(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 1000):
        yield data[start : start + 1000]


async def upload(node, key, data: bytes, *, send: bytes | None = None, stream: bool = False):
    headers = node.sign_headers(key, PATH, data, content_type="application/octet-stream")
    body = data if send is None else send
    return await node.request("POST", PATH, data=chunked(body) if stream else body, headers=headers)


async def test_member_upload_and_download(node_factory, make_key):
    node = await node_factory()
    ada = make_key("ada")
    await node.admit(ada.did)
    expected = []
    for data, stream in ((DATA, False), (DATA[::-1], True)):  # Content-Length, then chunked
        reply = await upload(node, ada, data, stream=stream)
        assert reply.status == 201, reply.body
        sha = hashlib.sha256(data).hexdigest()
        assert reply.json()["sha256"] == sha
        assert reply.json()["size"] == len(data)
        expected.append(f"sha256/{sha[:2]}/{sha[2:]}")
        assert stored_files(node) == sorted(expected)
        assert (node.config.blob_dir / "sha256" / sha[:2] / sha[2:]).read_bytes() == data

        got = await node.get(f"/blobs/sha256/{sha}")
        assert got.status == 200
        assert got.body == data
        cache = got.headers["Cache-Control"]
        assert "immutable" in cache
        assert "max-age=31536000" in cache
        assert "public" in cache
        # The content never changes: its hash is its entity tag.
        assert got.headers["ETag"] == f'"{sha}"'
        cached = await node.get(f"/blobs/sha256/{sha}", headers={"If-None-Match": f'"{sha}"'})
        assert cached.status == 304
        assert cached.body == b""

    again = await upload(node, ada, DATA)  # storing the same bytes twice is harmless
    assert again.status == 201
    assert stored_files(node) == sorted(expected)


async def test_who_may_upload(node_factory, make_key, check_problem):
    node = await node_factory()
    await node.admit(make_key("ada").did)
    check_problem(await upload(node, make_key("stranger"), DATA), 403)
    digest = base64.b64encode(hashlib.sha256(DATA).digest()).decode()
    unsigned = await node.request(
        "POST", PATH, data=DATA, headers={"Content-Digest": f"sha-256=:{digest}:"}
    )
    check_problem(unsigned, 401)
    assert stored_files(node) == []
    reply = await upload(node, node.key, b"operator file")  # the node key may upload
    assert reply.status == 201
    assert reply.json()["sha256"] == hashlib.sha256(b"operator file").hexdigest()


@INPUT_ONLY
async def test_refused_uploads_store_nothing(node_factory, make_key, check_problem, subtests):
    node = await node_factory(max_blob_bytes=2048)
    ada = make_key("ada")
    await node.admit(ada.did)
    fits = DATA[:2048]
    tampered = fits[:-1] + bytes([fits[-1] ^ 1])
    for case, data, sent, stream, status in [
        ("digest-mismatch", fits, tampered, False, 400),
        ("digest-mismatch-chunked", fits, tampered, True, 400),
        ("too-large", DATA, DATA, False, 413),
        ("too-large-chunked", DATA, DATA, True, 413),
    ]:
        with subtests.test(case):
            check_problem(await upload(node, ada, data, send=sent, stream=stream), status)
            # Neither a blob nor a temporary file is left behind.
            assert stored_files(node) == []
    sha = hashlib.sha256(tampered).hexdigest()
    assert (await node.get(f"/blobs/sha256/{sha}")).status == 404
    assert (await upload(node, ada, fits, stream=True)).status == 201  # the limit itself fits
    assert len(stored_files(node)) == 1


@INPUT_ONLY
async def test_get_blob_refusals(node_factory, check_problem, subtests):
    node = await node_factory()
    for case, name, status in [
        ("unknown", "0" * 64, 404),
        ("uppercase", "A" * 64, 400),
        ("short", "0" * 63, 400),
        ("long", "0" * 65, 400),
        ("not-hex", "g" * 64, 400),
        ("traversal", "..%2F..%2Fnode.key", 400),
    ]:
        with subtests.test(case):
            check_problem(await node.get(f"/blobs/sha256/{name}"), status)

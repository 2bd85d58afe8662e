"""The design blob fetcher (specs/04-designs.md §8): origin first, then mirrors; hash-checked.

The sources are small servers run by the test: one serves other bytes than
the hash names, one serves more bytes than the design declares, one serves
the right bytes. Peers are put in the node's peer table directly (no sync
loop runs for them), and the node's own fetcher is asked for the file.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from node.api.designs import FETCHER
from node.appkeys import BLOBS, PEERS
from node.store.peerstore import PeerRow
from protocol.keys import AgentKey

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])

DATA = b"solid part\n" + bytes(range(256)) * 8 + b"endsolid part\n"
SHA = hashlib.sha256(DATA).hexdigest()


class Source:
    """A server answering GET /blobs/sha256/{hex} with `payload`, counting requests."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.asked: list[float] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/blobs/sha256/{hex}", self.serve)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    async def serve(self, request: web.Request) -> web.Response:
        self.asked.append(time.monotonic())
        return web.Response(body=self.payload, content_type="application/octet-stream")


@pytest.fixture
async def sources() -> AsyncIterator[Callable[[bytes], Any]]:
    started: list[Source] = []

    async def make(payload: bytes) -> Source:
        source = Source(payload)
        await source.start()
        started.append(source)
        return source

    yield make
    for source in started:
        assert source.runner is not None
        await source.runner.cleanup()


async def add_peer(node: Any, source: Source, state: str = "ok") -> str:
    did = AgentKey.generate().did
    row = PeerRow(
        did=did,
        url=source.url,
        origin=f"peer-{did[-6:]}",
        vkey="unused",
        name="test source",
        state=state,
        detail="",
        last_success=None,
        last_error=None,
        added=int(time.time()),
        fetched_entries=0,
    )
    assert await node.app[PEERS].add_peer(row)
    return did


async def until(probe: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if probe():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_wrong_bytes_from_the_origin_then_the_right_bytes_from_a_mirror(
    node_factory: Any, sources: Any
) -> None:
    node = await node_factory()
    evil = await sources(b"not the file" * 10)
    good = await sources(DATA)
    origin = await add_peer(node, evil)
    await add_peer(node, good)
    fetcher = node.app[FETCHER]
    fetcher.want(SHA, len(DATA), origin)
    await until(lambda: node.app[BLOBS].exists(SHA), "the blob to be stored")
    assert node.app[BLOBS].path(SHA).read_bytes() == DATA
    assert evil.asked
    assert good.asked
    assert evil.asked[0] < good.asked[0]  # the origin is asked first
    served = await node.get(f"/blobs/sha256/{SHA}")
    assert hashlib.sha256(served.body).hexdigest() == SHA


async def test_no_good_source_stores_nothing_and_retries_later(
    node_factory: Any, sources: Any
) -> None:
    node = await node_factory()
    evil = await sources(b"x" * len(DATA))
    bloated = await sources(DATA + b"more")
    blocked = await sources(DATA)
    origin = await add_peer(node, evil)
    await add_peer(node, bloated)
    await add_peer(node, blocked, state="blocked")  # never asked
    fetcher = node.app[FETCHER]
    fetcher.want(SHA, len(DATA), origin)
    await until(lambda: fetcher.pending[SHA].attempts >= 1, "a failed attempt")
    want = fetcher.pending[SHA]
    assert "do not match the hash" in want.last_error
    assert "larger than the design says" in want.last_error
    assert want.due > time.monotonic()  # backed off
    assert not node.app[BLOBS].exists(SHA)
    assert blocked.asked == []
    assert list((node.config.blob_dir / "tmp").iterdir()) == []  # no partial file left


async def test_a_file_over_the_blob_limit_is_not_wanted(node_factory: Any) -> None:
    node = await node_factory(max_blob_bytes=1000)
    fetcher = node.app[FETCHER]
    fetcher.want(SHA, 1001, AgentKey.generate().did)
    assert SHA not in fetcher.pending

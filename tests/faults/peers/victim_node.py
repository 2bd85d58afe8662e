"""The node under attack in the adversarial tests, and how a test drives and inspects it.

A `Victim` wraps an in-process node (`aiohttp_client(create_app(config))`)
with the operator's token. Every request it makes is bounded in time.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient
from evil_peer import EvilPeer

from node.config import NodeConfig

__all__ = ["SYNC_INTERVAL_S", "Reply", "Victim", "VictimFactory"]

# Long enough that the victim's own loop never runs a second round during a test.
SYNC_INTERVAL_S = 3600.0
REQUEST_TIMEOUT_S = 20.0


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Victim:
    """One node under attack, with what a test needs to drive and inspect it."""

    client: TestClient[Any, Any]
    config: NodeConfig
    token: str

    async def request(
        self, method: str, path: str, *, timeout: float = REQUEST_TIMEOUT_S, **kwargs: Any
    ) -> Reply:
        async with asyncio.timeout(timeout), self.client.request(method, path, **kwargs) as r:
            return Reply(r.status, await r.read())

    async def get(self, path: str, **kwargs: Any) -> Reply:
        return await self.request("GET", path, **kwargs)

    async def admin_post(self, path: str, body: dict[str, Any] | None = None) -> Reply:
        return await self.request(
            "POST", path, json=body or {}, headers={"Authorization": f"Bearer {self.token}"}
        )

    async def peer(self, did: str) -> dict[str, Any]:
        reply = await self.get("/api/v1/peers")
        assert reply.status == 200, reply.body
        found = [p for p in reply.json()["peers"] if p["did"] == did]
        assert len(found) == 1, reply.json()
        peer: dict[str, Any] = found[0]
        return peer

    async def follow(self, evil: EvilPeer) -> dict[str, Any]:
        """Add the peer and wait for the round its sync loop runs at once to end."""
        reply = await self.admin_post("/api/v1/admin/peers", {"url": evil.url})
        assert reply.status == 201, reply.body
        assert reply.json()["did"] == evil.key.did
        deadline = time.monotonic() + 10.0
        while True:
            peer = await self.peer(evil.key.did)
            if peer["state"] != "syncing":
                return peer
            assert time.monotonic() < deadline, f"first sync round never ended: {peer}"
            await asyncio.sleep(0.02)

    async def sync(self, did: str) -> dict[str, Any]:
        """One sync round now; the peer's JSON afterwards."""
        reply = await self.admin_post(f"/api/v1/admin/peers/{did}/sync")
        assert reply.status == 200, reply.body
        peer: dict[str, Any] = reply.json()
        return peer

    async def evidence(self) -> list[dict[str, Any]]:
        reply = await self.get("/fed/v1/evidence")
        assert reply.status == 200, reply.body
        items: list[dict[str, Any]] = reply.json()["evidence"]
        return items


VictimFactory = Callable[..., Awaitable[Victim]]

"""Reading one log over HTTP, from its own node or from a mirror, with hard limits.

Every response is bounded in size and time: a peer that stalls or floods
costs a timeout or a refusal, never memory or a stuck task.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import aiohttp

from node.client import NodeClientError, read_limited

__all__ = ["LogClient", "PeerMisbehaves", "PeerUnreachable"]

MAX_CHECKPOINT_BYTES = 64 * 1024
MAX_PROOF_BYTES = 64 * 1024
MAX_ENTRIES_BYTES = 32 * 1024 * 1024


class PeerUnreachable(Exception):
    """The source did not answer in time or answered with a server error."""


class PeerMisbehaves(Exception):
    """The source answered, but with something malformed or oversized."""


class LogClient:
    """The log endpoints under one base: `<node>/fed/v1` or `<node>/fed/v1/logs/<did>`."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base.rstrip("/")

    async def _get(self, path: str, limit: int, params: dict[str, str] | None = None) -> bytes:
        try:
            # A peer's redirect must not make us fetch from a host of its choosing.
            async with self.session.get(
                self.base + path, params=params, allow_redirects=False
            ) as response:
                if 300 <= response.status < 400:
                    raise PeerMisbehaves(f"{path}: redirect refused (HTTP {response.status})")
                if response.status >= 500 or response.status in (404, 429):
                    raise PeerUnreachable(f"{path}: HTTP {response.status}")
                if response.status >= 400:
                    raise PeerMisbehaves(f"{path}: HTTP {response.status}")
                return await read_limited(response, limit)
        except NodeClientError as exc:
            raise PeerMisbehaves(f"{path}: {exc}") from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise PeerUnreachable(f"{path}: {type(exc).__name__}") from exc

    async def checkpoint(self) -> bytes:
        return await self._get("/checkpoint", MAX_CHECKPOINT_BYTES)

    async def entries(self, start: int, end: int) -> list[bytes]:
        body = await self._get(
            "/entries", MAX_ENTRIES_BYTES, {"start": str(start), "end": str(end)}
        )
        lines = body.split(b"\n")
        if not lines or lines[-1] != b"":
            raise PeerMisbehaves("entries response does not end in a newline")
        lines.pop()
        if not lines:
            raise PeerMisbehaves(f"no entries at {start}")
        if len(lines) > end - start:
            raise PeerMisbehaves("more entries than asked for")
        return lines

    async def _hashes(
        self, path: str, params: dict[str, str], echoed: dict[str, int]
    ) -> list[bytes]:
        body = await self._get(path, MAX_PROOF_BYTES, params)
        try:
            data: Any = json.loads(body)
            # specs/02-log.md §7: the numbers in the answer must be those asked for.
            for name, value in echoed.items():
                if type(data.get(name)) is not int or data[name] != value:
                    raise PeerMisbehaves(f"{path}: the proof is for other numbers than asked")
            hashes = data["hashes"]
            if not isinstance(hashes, list) or len(hashes) > 130:
                raise PeerMisbehaves(f"{path}: malformed proof")
            decoded = [base64.b64decode(h, validate=True) for h in hashes]
        except PeerMisbehaves:
            raise
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
            raise PeerMisbehaves(f"{path}: malformed proof") from exc
        if any(len(h) != 32 for h in decoded):
            raise PeerMisbehaves(f"{path}: proof hashes must be 32 bytes")
        return decoded

    async def consistency(self, old: int, new: int) -> list[bytes]:
        return await self._hashes(
            "/proof/consistency", {"from": str(old), "to": str(new)}, {"from": old, "to": new}
        )

    async def inclusion(self, index: int, tree_size: int) -> list[bytes]:
        return await self._hashes(
            "/proof/inclusion",
            {"index": str(index), "tree_size": str(tree_size)},
            {"leaf_index": index, "tree_size": tree_size},
        )

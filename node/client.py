"""An HTTP client for a fabcommons node: what the CLI, the demo and the tests speak.

Agent requests are signed with RFC 9421 (node/httpsig.py); reads are plain.
Every method raises NodeClientError with the server's problem details.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import aiohttp

from node.errors import NodeClientError
from node.httpsig import sign_request_headers
from protocol.keys import AgentKey
from protocol.records import Envelope
from protocol.signing import leaf_bytes

__all__ = ["NodeClient", "NodeClientError", "read_limited"]

# A follower must never buffer an unbounded response from a peer.
MAX_RESPONSE_BYTES = 64 * 1024 * 1024


async def read_limited(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The whole body, or NodeClientError once it exceeds limit bytes."""
    if response.content_length is not None and response.content_length > limit:
        raise NodeClientError(response.status, None, f"response larger than {limit} bytes")
    body = bytearray()
    async for chunk in response.content.iter_chunked(65536):
        body += chunk
        if len(body) > limit:
            raise NodeClientError(response.status, None, f"response larger than {limit} bytes")
    return bytes(body)


@dataclass(frozen=True, slots=True)
class WellKnown:
    did: str
    name: str
    origin: str
    vkey: str
    raw: dict[str, Any]


class NodeClient:
    """A client of one node at base_url (e.g. http://127.0.0.1:8700)."""

    def __init__(self, base_url: str, *, timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=timeout_s), raise_for_status=False
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._session.close()

    async def _check(self, response: aiohttp.ClientResponse) -> None:
        if response.status < 400:
            return
        problem: dict[str, Any] | None = None
        try:
            problem = json.loads(await read_limited(response, 65536))
        except (ValueError, aiohttp.ClientError, NodeClientError):
            problem = None
        detail = problem.get("detail") if isinstance(problem, dict) else None
        raise NodeClientError(
            response.status,
            problem if isinstance(problem, dict) else None,
            f"{response.method} {response.url.path} → {response.status}: "
            f"{detail or response.reason}",
        )

    async def _get_json(self, path: str, **params: Any) -> Any:
        async with self._session.get(self.base_url + path, params=params or None) as response:
            await self._check(response)
            body = await read_limited(response, MAX_RESPONSE_BYTES)
            try:
                return json.loads(body)
            except ValueError as exc:
                raise NodeClientError(response.status, None, f"{path}: not JSON") from exc

    async def get_json(self, path: str, **params: Any) -> Any:
        """GET a JSON answer of the node's API. Raises NodeClientError with its problem."""
        return await self._get_json(path, **params)

    async def well_known(self) -> WellKnown:
        data = await self._get_json("/.well-known/fabcommons")
        try:
            log = data["log"]
            fields = (data["did"], data["name"], log["origin"], log["vkey"])
        except (KeyError, TypeError) as exc:
            raise NodeClientError(200, None, f"malformed well-known document: {exc!r}") from exc
        if not all(isinstance(value, str) for value in fields):
            raise NodeClientError(200, None, "malformed well-known document: non-string field")
        return WellKnown(did=fields[0], name=fields[1], origin=fields[2], vkey=fields[3], raw=data)

    @staticmethod
    def _proof_hashes(data: Any) -> list[bytes]:
        try:
            hashes = data["hashes"]
            return [base64.b64decode(h, validate=True) for h in hashes]
        except (KeyError, TypeError, ValueError) as exc:
            raise NodeClientError(200, None, "malformed proof") from exc

    async def checkpoint(self) -> bytes:
        async with self._session.get(self.base_url + "/fed/v1/checkpoint") as response:
            await self._check(response)
            return await read_limited(response, 65536)

    async def entries(self, start: int, end: int) -> list[bytes]:
        """Leaf bytes from start (the node may return fewer than asked)."""
        params = {"start": str(start), "end": str(end)}
        async with self._session.get(self.base_url + "/fed/v1/entries", params=params) as response:
            await self._check(response)
            body = await read_limited(response, MAX_RESPONSE_BYTES)
        lines = body.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        return lines

    async def iter_entries(self, start: int, end: int) -> AsyncIterator[list[bytes]]:
        while start < end:
            batch = await self.entries(start, end)
            if not batch:
                raise NodeClientError(200, None, f"node returned no entries at {start}")
            yield batch
            start += len(batch)

    async def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]:
        data = await self._get_json(
            "/fed/v1/proof/inclusion", index=str(index), tree_size=str(tree_size)
        )
        return self._proof_hashes(data)

    async def consistency_proof(self, old: int, new: int) -> list[bytes]:
        data = await self._get_json(
            "/fed/v1/proof/consistency", **{"from": str(old), "to": str(new)}
        )
        return self._proof_hashes(data)

    async def record(self, record_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._get_json(f"/fed/v1/records/{record_id}")
        return result

    async def signed_post(
        self, key: AgentKey, path: str, body: bytes, content_type: str
    ) -> tuple[int, Any]:
        url = self.base_url + path
        headers = sign_request_headers(
            key, "POST", url, body, headers={"Content-Type": content_type}
        )
        async with self._session.post(url, data=body, headers=headers) as response:
            await self._check(response)
            return response.status, json.loads(await read_limited(response, 1024 * 1024))

    async def post_record(self, envelope: Envelope, key: AgentKey) -> dict[str, Any]:
        """Append an envelope; the request is signed by `key` (its author)."""
        _, data = await self.signed_post(
            key, "/api/v1/records", leaf_bytes(envelope), "application/json"
        )
        result: dict[str, Any] = data
        return result

    async def post_blob(self, data: bytes, key: AgentKey) -> dict[str, Any]:
        _, answer = await self.signed_post(key, "/api/v1/blobs", data, "application/octet-stream")
        result: dict[str, Any] = answer
        return result

    async def post_json(
        self, path: str, body: dict[str, Any], *, token: str | None = None
    ) -> dict[str, Any]:
        """POST a JSON object (with the operator's token if given); the JSON answer."""
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        async with self._session.post(self.base_url + path, json=body, headers=headers) as response:
            await self._check(response)
            result: dict[str, Any] = json.loads(await read_limited(response, MAX_RESPONSE_BYTES))
            return result

    async def admit_member(self, did: str, token: str, role: str = "member") -> dict[str, Any]:
        async with self._session.post(
            self.base_url + "/api/v1/admin/members",
            json={"did": did, "role": role},
            headers={"Authorization": f"Bearer {token}"},
        ) as response:
            await self._check(response)
            result: dict[str, Any] = await response.json()
            return result

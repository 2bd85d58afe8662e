"""Content-addressed files: POST /api/v1/blobs (signed by a member) and GET /blobs/sha256/{hex}."""

from __future__ import annotations

import base64
import os
import re
import time
from collections.abc import AsyncIterator

from aiohttp import web

from node.api.params import bad
from node.appkeys import BLOBS, LOG, STORE
from node.auth import signed_agent
from node.problems import Problem
from node.store.blobs import BlobStoreFull, BlobTooLarge, is_sha256_hex

__all__ = ["routes"]

routes = web.RouteTableDef()

_DIGEST_RE = re.compile(r"(?:^|,)\s*sha-256=:([A-Za-z0-9+/]{43}=):\s*(?:,|$)")


def _declared_sha256(request: web.Request) -> bytes:
    match = _DIGEST_RE.search(request.headers.get("Content-Digest", ""))
    if match is None:
        raise Problem(
            400,
            "content-digest-required",
            "Content-Digest required",
            "blob uploads must carry a signed Content-Digest with sha-256 (RFC 9530)",
        )
    return base64.b64decode(match.group(1))


@routes.post("/api/v1/blobs")
async def post_blob(request: web.Request) -> web.Response:
    signer = await signed_agent(request, None)
    # Read the head afresh: another worker process may have admitted the member.
    authority = (await request.app[LOG].current_head()).authority
    if signer != authority.node and (
        authority.identity(signer) not in authority.members or not authority.is_current_key(signer)
    ):
        raise Problem(403, "forbidden", "Forbidden", "only this node's members may upload files")
    declared = _declared_sha256(request)
    store = request.app[BLOBS]
    if request.content_length is not None and request.content_length > store.max_bytes:
        raise Problem(413, "too-large", "File too large", f"the limit is {store.max_bytes} bytes")

    async def chunks() -> AsyncIterator[bytes]:
        async for chunk in request.content.iter_chunked(256 * 1024):
            yield chunk

    try:
        sha, size = await store.put(chunks(), expected_sha256=declared)
    except BlobTooLarge as exc:
        raise Problem(413, "too-large", "File too large", str(exc)) from exc
    except ValueError as exc:
        raise Problem(400, "digest-mismatch", "Digest mismatch", str(exc)) from exc
    except BlobStoreFull as exc:
        raise Problem(
            507, "storage-full", "Storage full", "the node has no space for this file"
        ) from exc
    await request.app[STORE].record_blob(sha, size, signer, int(time.time()))
    return web.json_response(
        {"sha256": sha, "size": size, "url": f"/blobs/sha256/{sha}"}, status=201
    )


@routes.get("/blobs/sha256/{hex}")
async def get_blob(request: web.Request) -> web.StreamResponse:
    hexdigest = request.match_info["hex"]
    if not is_sha256_hex(hexdigest):
        raise bad("expected 64 lowercase hex digits", "hex")
    path = request.app[BLOBS].path(hexdigest)
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise Problem(404, "not-found", "Not found", f"no blob {hexdigest}") from None
    with handle:
        size = os.fstat(handle.fileno()).st_size
        headers = {
            "Cache-Control": "public, max-age=31536000, immutable",
            # The content never changes, so its hash is its entity tag.
            "ETag": f'"{hexdigest}"',
        }
        if f'"{hexdigest}"' in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=headers)
        response = web.StreamResponse(headers=headers)
        response.content_type = "application/octet-stream"
        response.content_length = size
        await response.prepare(request)
        while chunk := handle.read(256 * 1024):
            await response.write(chunk)
        await response.write_eof()
        return response

"""Who is asking: RFC 9421-signed agents, and the operator's bearer token."""

from __future__ import annotations

import hmac

from aiohttp import web

from node.appkeys import ADMIN_TOKEN, CONFIG, NONCES
from node.httpsig import NonceCacheFull, RequestSignatureError, verify_request
from node.problems import Problem
from protocol.did import Did

__all__ = ["read_limited_body", "require_admin", "signed_agent"]


def _target_uri(request: web.Request) -> str:
    """The URI the client signed (specs/08-node-api.md §2).

    Behind a reverse proxy the node cannot see the scheme and host the client
    used, so the operator sets `behind_proxy` and `public_url`; forwarded
    headers are never trusted.
    """
    config = request.app[CONFIG]
    if config.behind_proxy:
        return config.public_url.rstrip("/") + request.raw_path
    return str(request.url)


async def read_limited_body(request: web.Request) -> bytes:
    """The request body, refused with 413 past the configured limit."""
    limit = request.app[CONFIG].max_request_bytes
    length = request.content_length
    if length is not None and length > limit:
        raise Problem(413, "too-large", "Request too large", f"the limit is {limit} bytes")
    if length is not None:
        # The body is exactly Content-Length bytes: read it in one go.
        return await request.read()
    data = bytearray()
    async for chunk in request.content.iter_chunked(65536):
        data += chunk
        if len(data) > limit:
            raise Problem(413, "too-large", "Request too large", f"the limit is {limit} bytes")
    return bytes(data)


async def signed_agent(request: web.Request, body: bytes | None) -> Did:
    """The did that signed this request (RFC 9421). Raises Problem 401."""
    config = request.app[CONFIG]
    try:
        return await verify_request(
            method=request.method,
            url=_target_uri(request),
            headers=request.headers,
            body=body,
            window_s=config.signature_window_s,
            nonces=request.app[NONCES],
        )
    except RequestSignatureError as exc:
        raise Problem(
            401, "bad-request-signature", "Request signature not accepted", str(exc)
        ) from exc
    except NonceCacheFull as exc:
        raise Problem(429, "too-many-requests", "Too many requests", str(exc)) from exc


def require_admin(request: web.Request) -> None:
    """Check the operator's bearer token in constant time. Raises Problem 401."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    expected = request.app[ADMIN_TOKEN]
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.strip().encode(), expected.encode()
    ):
        raise Problem(
            401, "unauthenticated", "Authentication required", "operator bearer token required"
        )

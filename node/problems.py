"""RFC 9457 problem+json responses and the middleware that maps every error to one.

Core errors carry no HTTP status; this module alone decides the status. A
peer's or an exception's text never leaks: an unexpected exception becomes a
500 with a request id, and the traceback goes to the log only.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from sqlalchemy import exc as sa_exc

from node.appkeys import METRICS
from protocol.errors import (
    InvalidCheckpoint,
    InvalidJSON,
    InvalidKey,
    InvalidProof,
    InvalidRecord,
    InvalidSignature,
    ProtocolError,
    Unauthorised,
)

__all__ = ["Problem", "problem_middleware", "problem_response"]

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("node.access")

PROBLEM_BASE = "https://fabcommons.org/problems/"
REQUEST_ID = web.RequestKey("request_id", str)


class Problem(Exception):
    """An error a handler raises to answer with a specific problem."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        # Response headers (Retry-After), never members of the problem object.
        self.headers = dict(headers or {})
        self.extra = extra


def problem_response(
    status: int, slug: str, title: str, detail: str, request_id: str, **extra: Any
) -> web.Response:
    body = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "request_id": request_id,
        **extra,
    }
    return web.json_response(body, status=status, content_type="application/problem+json")


_PROTOCOL_STATUS: list[tuple[type[ProtocolError], int, str, str]] = [
    (InvalidJSON, 400, "invalid-json", "Invalid JSON"),
    (InvalidRecord, 422, "invalid-record", "Invalid record"),
    (InvalidSignature, 422, "invalid-signature", "Invalid signature"),
    (InvalidKey, 422, "invalid-key", "Invalid key"),
    (InvalidProof, 422, "invalid-proof", "Invalid proof"),
    (InvalidCheckpoint, 422, "invalid-checkpoint", "Invalid checkpoint"),
    (Unauthorised, 403, "unauthorised", "Not authorised"),
]

_HTTP_SLUGS = {
    400: ("bad-request", "Bad request"),
    401: ("unauthenticated", "Authentication required"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    411: ("length-required", "Length required"),
    413: ("too-large", "Request too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    429: ("too-many-requests", "Too many requests"),
}


def _protocol_problem(exc: ProtocolError) -> tuple[int, str, str, dict[str, Any]]:
    for cls, status, slug, title in _PROTOCOL_STATUS:
        if isinstance(exc, cls):
            extra: dict[str, Any] = {}
            if isinstance(exc, InvalidRecord):
                extra["field"] = exc.field
            return status, slug, title, extra
    return 422, "protocol-error", "Protocol error", {}


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def storage_unavailable(exc: BaseException) -> bool:
    """An outage of the database (restarting, unreachable, pool exhausted), not a bug.

    Integrity, data and programming errors stay internal errors: they mean
    the node itself is wrong, and the operator must see them as such.
    """
    if isinstance(exc, sa_exc.DBAPIError):
        return not isinstance(
            exc,
            sa_exc.IntegrityError
            | sa_exc.DataError
            | sa_exc.ProgrammingError
            | sa_exc.NotSupportedError,
        )
    return isinstance(exc, sa_exc.TimeoutError | ConnectionError)


def _internal(request_id: str) -> web.Response:
    logger.exception("unexpected error (request id %s)", request_id)
    return problem_response(
        500,
        "internal",
        "Internal error",
        "an unexpected error occurred; quote the request id to the operator",
        request_id,
    )


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give every request an id, log it, and turn every error into problem+json."""
    request_id = request.headers.get("X-Request-Id", "")
    if not (0 < len(request_id) <= 64 and request_id.isascii() and request_id.isprintable()):
        request_id = secrets.token_hex(8)
    request[REQUEST_ID] = request_id
    started = time.perf_counter()
    response: web.StreamResponse
    try:
        response = await handler(request)
    except Problem as exc:
        response = problem_response(
            exc.status, exc.slug, exc.title, exc.detail, request_id, **exc.extra
        )
        response.headers.update(exc.headers)
    except ProtocolError as exc:
        status, slug, title, extra = _protocol_problem(exc)
        response = problem_response(status, slug, title, str(exc), request_id, **extra)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        slug, title = _HTTP_SLUGS.get(exc.status, ("http-error", exc.reason))
        detail = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else title
        response = problem_response(exc.status, slug, title, detail, request_id)
        for name in ("Allow",):
            if name in exc.headers:
                response.headers[name] = exc.headers[name]
    except Exception as exc:
        if storage_unavailable(exc):
            logger.warning("storage unavailable (request id %s): %s", request_id, exc)
            response = problem_response(
                503,
                "unavailable",
                "Storage unavailable",
                "the node's database does not answer; retry shortly",
                request_id,
            )
            response.headers["Retry-After"] = "1"
        else:
            response = _internal(request_id)
    response.headers["X-Request-Id"] = request_id
    elapsed = time.perf_counter() - started
    metrics = request.app.get(METRICS)
    if metrics is not None:
        metrics.observe_request(request, response.status, elapsed)
    access_logger.info(
        "%s %s %d %.1fms rid=%s",
        request.method,
        request.path,
        response.status,
        elapsed * 1000,
        request_id,
    )
    return response

"""POST /api/v1/records: append an envelope signed by an authorised author."""

from __future__ import annotations

from aiohttp import web

from node.appkeys import LOG
from node.auth import read_limited_body, signed_agent
from node.logservice import LogUnavailable
from node.problems import Problem
from protocol.signing import envelope_from_json

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.post("/api/v1/records")
async def post_record(request: web.Request) -> web.Response:
    body = await read_limited_body(request)
    signer = await signed_agent(request, body)
    envelope = envelope_from_json(body)
    if envelope.record.author != signer:
        raise Problem(
            403,
            "signer-not-author",
            "Signer is not the author",
            "the request must be signed by the key that signed the record",
        )
    try:
        result = await request.app[LOG].append(envelope)
    except LogUnavailable as exc:
        raise Problem(503, "unavailable", "Log unavailable", str(exc)) from exc
    return web.json_response(
        {"id": result.id, "index": result.index}, status=201 if result.created else 200
    )

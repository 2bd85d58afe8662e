"""POST /api/v1/records: append an envelope signed by an authorised author.

Features may register a pre-append check per record type in
`PRE_APPEND_CHECKS`: it runs after the signature and schema are verified and
before the append, and refuses with a 4xx Problem what the log's rules
cannot judge alone (e.g. a design whose files were never uploaded).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from node.appkeys import LOG
from node.auth import read_limited_body, signed_agent
from node.logservice import LogService, LogUnavailable
from node.problems import Problem
from protocol.records import Record, RecordBody
from protocol.signing import envelope_from_json

__all__ = ["PRE_APPEND_CHECKS", "PreAppendCheck", "routes"]

routes = web.RouteTableDef()

PreAppendCheck = Callable[[web.Request, Record, RecordBody], Awaitable[None]]
# record type -> check; a check raises Problem (4xx) to refuse the record.
PRE_APPEND_CHECKS: dict[str, PreAppendCheck] = {}


@routes.post("/api/v1/records")
async def post_record(request: web.Request) -> web.Response:
    body = await read_limited_body(request)
    signer = await signed_agent(request, body)
    # A canonical leaf (what the reference client sends) opens in one pass;
    # anything else takes the general path, which gives every refusal.
    item = LogService.prepare_leaf(body)
    author = item.record.author if item is not None else envelope_from_json(body).record.author
    if author != signer:
        raise Problem(
            403,
            "signer-not-author",
            "Signer is not the author",
            "the request must be signed by the key that signed the record",
        )
    if item is None:
        item = LogService.prepare(envelope_from_json(body))
    check = PRE_APPEND_CHECKS.get(item.record.type)
    if check is not None:
        await check(request, item.record, item.body)
    try:
        outcome = await request.app[LOG].append_prepared(item)
    except LogUnavailable as exc:
        raise Problem(503, "unavailable", "Log unavailable", str(exc)) from exc
    return web.json_response(
        {"id": item.record_id, "index": outcome.index}, status=201 if outcome.created else 200
    )

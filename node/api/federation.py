"""The federation read API of the node's own log (DESIGN.md §3, specs/08-node-api.md §3)."""

from __future__ import annotations

import base64
import json

from aiohttp import web

from node.api.params import query_int
from node.appkeys import CONFIG, LOG
from node.logservice import ProofRequestError
from node.problems import Problem
from protocol.records import is_record_id

__all__ = ["routes"]

routes = web.RouteTableDef()


def _b64(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode("ascii") for h in hashes]


@routes.get("/fed/v1/checkpoint")
async def checkpoint(request: web.Request) -> web.Response:
    head = await request.app[LOG].current_head()
    return web.Response(
        body=head.checkpoint,
        content_type="text/plain",
        charset="utf-8",
        headers={"Cache-Control": "no-cache"},
    )


@routes.get("/fed/v1/entries")
async def entries(request: web.Request) -> web.StreamResponse:
    log = request.app[LOG]
    start = query_int(request, "start")
    end = query_int(request, "end")
    if end <= start:
        raise Problem(400, "bad-range", "Bad range", "end must be greater than start")
    head = await log.current_head()
    if start >= head.size:
        raise Problem(
            400, "bad-range", "Bad range", f"start {start} is not below the log size {head.size}"
        )
    end = min(end, head.size, start + request.app[CONFIG].max_entries_per_request)
    leaves = await log.store.leaves(log.did, start, end)
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    await response.prepare(request)
    chunk: list[bytes] = []
    for leaf in leaves:
        chunk.append(leaf)
        chunk.append(b"\n")
        if len(chunk) >= 200:
            await response.write(b"".join(chunk))
            chunk = []
    if chunk:
        await response.write(b"".join(chunk))
    await response.write_eof()
    return response


@routes.get("/fed/v1/proof/inclusion")
async def inclusion(request: web.Request) -> web.Response:
    index = query_int(request, "index")
    tree_size = query_int(request, "tree_size")
    try:
        hashes = await request.app[LOG].inclusion(index, tree_size)
    except ProofRequestError as exc:
        raise Problem(400, "bad-proof-request", "Bad proof request", str(exc)) from exc
    return web.json_response({"leaf_index": index, "tree_size": tree_size, "hashes": _b64(hashes)})


@routes.get("/fed/v1/proof/consistency")
async def consistency(request: web.Request) -> web.Response:
    old = query_int(request, "from")
    new = query_int(request, "to")
    try:
        hashes = await request.app[LOG].consistency(old, new)
    except ProofRequestError as exc:
        raise Problem(400, "bad-proof-request", "Bad proof request", str(exc)) from exc
    return web.json_response({"from": old, "to": new, "hashes": _b64(hashes)})


@routes.get("/fed/v1/records/{id}")
async def record(request: web.Request) -> web.Response:
    rid = request.match_info["id"]
    if not is_record_id(rid):
        raise Problem(400, "bad-parameter", "Bad parameter", "id must be sha256:<64 lowercase hex>")
    log = request.app[LOG]
    found = await log.store.entry_by_id(log.did, rid)
    if found is None:
        raise Problem(404, "not-found", "Not found", f"no record {rid} in this log")
    index, leaf = found
    return web.json_response(
        {"index": index, "envelope": json.loads(leaf)},
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )

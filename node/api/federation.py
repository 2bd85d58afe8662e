"""The federation read API: the node's own log at /fed/v1/…, and every log it
follows, mirrored at /fed/v1/logs/{did}/… in the same formats (DESIGN.md §3, §5).

A mirror serves only what it verified: the origin's signed checkpoint and
the entries and proofs of the verified prefix. Entries are
self-authenticating; the origin's signature is what counts.
"""

from __future__ import annotations

import base64
import json

from aiohttp import web

from node.api.params import bad, query_int
from node.appkeys import CONFIG, LOG, PEERS, STORE
from node.logservice import LogUnavailable
from node.problems import Problem
from protocol.checkpoint import Checkpoint, split_note
from protocol.did import Did
from protocol.errors import ProtocolError
from protocol.records import is_record_id

__all__ = ["routes"]

routes = web.RouteTableDef()

MAX_ENTRIES_RESPONSE_BYTES = 16 * 1024 * 1024


def _b64(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode("ascii") for h in hashes]


async def _log_size(request: web.Request) -> tuple[str, int]:
    """(did, verified size) of the log this request is about, cheaply."""
    did = request.match_info.get("did")
    if did is None:
        did = request.app[LOG].did
        found = await request.app[STORE].size_of(did)
        assert found is not None
        return did, found[0]
    found = await request.app[STORE].size_of(did)
    if found is None or found[1]:
        raise Problem(404, "not-found", "Not found", f"this node does not mirror {did}")
    return did, found[0]


@routes.get("/fed/v1/checkpoint")
@routes.get("/fed/v1/logs/{did}/checkpoint")
async def checkpoint(request: web.Request) -> web.Response:
    """The latest verified checkpoint, with every cosignature this node holds for it."""
    own = "did" not in request.match_info
    did = request.app[LOG].did if own else request.match_info["did"]
    # Only the note: the head's frontier and authority state are not needed.
    found = await request.app[STORE].signed_head(did)
    if found is None and own:
        raise LogUnavailable("the log has not been created")
    if found is None or found[1] != own:
        raise Problem(404, "not-found", "Not found", f"this node does not mirror {did}")
    note = found[2]
    if not note:
        raise Problem(404, "not-found", "Not found", "no verified checkpoint of this log yet")
    size = _note_size(note)
    if size is not None:
        lines = await request.app[PEERS].cosignature_lines(did, size)
        note += "".join(lines).encode("utf-8")
    return web.Response(
        body=note, content_type="text/plain", charset="utf-8", headers={"Cache-Control": "no-cache"}
    )


def _note_size(note: bytes) -> int | None:
    """The size a stored checkpoint note states (as signed_head_size reads it)."""
    try:
        text, _ = split_note(note)
        return Checkpoint.from_text(text).size
    except ProtocolError:
        return None


@routes.get("/fed/v1/entries")
@routes.get("/fed/v1/logs/{did}/entries")
async def entries(request: web.Request) -> web.StreamResponse:
    start = query_int(request, "start")
    end = query_int(request, "end")
    if end <= start:
        raise Problem(400, "bad-range", "Bad range", "end must be greater than start")
    did, size = await _log_size(request)
    if start >= size:
        raise Problem(
            400, "bad-range", "Bad range", f"start {start} is not below the log size {size}"
        )
    end = min(end, size, start + request.app[CONFIG].max_entries_per_request)
    leaves = await request.app[STORE].leaves(did, start, end)
    # specs/08-node-api.md §3: an answer holds at most MAX_ENTRIES_RESPONSE_BYTES
    # (and always at least one entry), so a follower's limit always fits it.
    total = 0
    for count, leaf in enumerate(leaves):
        total += len(leaf) + 1
        if total > MAX_ENTRIES_RESPONSE_BYTES and count > 0:
            leaves = leaves[:count]
            break
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
@routes.get("/fed/v1/logs/{did}/proof/inclusion")
async def inclusion(request: web.Request) -> web.Response:
    index = query_int(request, "index")
    tree_size = query_int(request, "tree_size")
    did, size = await _log_size(request)
    if not 0 <= index < tree_size <= size:
        raise Problem(
            400,
            "bad-proof-request",
            "Bad proof request",
            f"need 0 <= index < tree_size <= {size}",
        )
    hashes = await request.app[STORE].inclusion_proof(did, index, tree_size)
    return web.json_response({"leaf_index": index, "tree_size": tree_size, "hashes": _b64(hashes)})


@routes.get("/fed/v1/proof/consistency")
@routes.get("/fed/v1/logs/{did}/proof/consistency")
async def consistency(request: web.Request) -> web.Response:
    old = query_int(request, "from")
    new = query_int(request, "to")
    did, size = await _log_size(request)
    if not 0 < old <= new <= size:
        raise Problem(
            400, "bad-proof-request", "Bad proof request", f"need 0 < from <= to <= {size}"
        )
    hashes = await request.app[STORE].consistency_proof(did, old, new)
    return web.json_response({"from": old, "to": new, "hashes": _b64(hashes)})


@routes.get("/fed/v1/records/{id}")
@routes.get("/fed/v1/logs/{did}/records/{id}")
async def record(request: web.Request) -> web.Response:
    rid = request.match_info["id"]
    if not is_record_id(rid):
        raise bad("id must be sha256:<64 lowercase hex>", "id")
    did, size = await _log_size(request)
    found = await request.app[STORE].entry_by_id(did, rid)
    if found is None or found[0] >= size:
        raise Problem(404, "not-found", "Not found", f"no record {rid} in this log")
    index, leaf = found
    return web.json_response(
        {"index": index, "envelope": json.loads(leaf)},
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )


@routes.get("/fed/v1/logs")
async def followed_logs(request: web.Request) -> web.Response:
    """The logs this node mirrors, with their verified sizes."""
    rows = await request.app[STORE].all_logs()
    return web.json_response(
        {
            "logs": [
                {"did": Did(r.did), "origin": r.origin, "vkey": r.vkey, "size": r.size}
                for r in rows
                if not r.is_local
            ]
        }
    )

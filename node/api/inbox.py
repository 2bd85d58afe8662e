"""POST /fed/v1/inbox: what peers push (cosignatures, evidence, envelopes, hints).

The request is signed (RFC 9421) by the sending node's key; the sender must
be a peer that is not blocked; each peer has a rate limit. Push is only a
hint: whatever is lost here, pull sync recovers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from node.appkeys import FEDERATION, LOG, PEERS, STORE
from node.auth import read_limited_body, signed_agent
from node.problems import Problem
from node.store.peerstore import CosignatureRow
from protocol.canonical import parse
from protocol.checkpoint import (
    ALG_COSIGNATURE_V1,
    NoteVerifier,
    split_note,
    verify_cosignature,
)
from protocol.did import Did, did_from_public_key, public_key_from_did
from protocol.errors import InvalidJSON, ProtocolError
from protocol.evidence import Evidence, check_evidence
from protocol.records import Record, RecordBody, parse_body
from protocol.signing import envelope_from_json, record_id, verify

__all__ = ["register_envelope_check", "routes"]

routes = web.RouteTableDef()

# Pushed envelopes are hints kept until pull sync confirms them; a peer may
# not make this node store more than this many.
MAX_INBOX_PER_PEER = 10_000

EnvelopeCheck = Callable[[web.Application, Did, Record, RecordBody], Awaitable[None]]
# Per record type, a feature's check of a pushed envelope before it is kept
# (e.g. a job.accept must be signed by the owning workshop's key); it raises
# Problem to refuse.
_ENVELOPE_CHECKS: dict[str, EnvelopeCheck] = {}


def register_envelope_check(record_type: str, check: EnvelopeCheck) -> None:
    _ENVELOPE_CHECKS[record_type] = check


@routes.post("/fed/v1/inbox")
async def inbox(request: web.Request) -> web.Response:
    body = await read_limited_body(request)
    sender = await signed_agent(request, body)
    peer = await request.app[PEERS].peer(sender)
    if peer is None or peer.state == "blocked":
        raise Problem(403, "not-a-peer", "Not a peer", "this node does not federate with you")
    if not request.app[FEDERATION].allow_inbox(sender):
        raise Problem(429, "too-many-requests", "Too many requests", "slow down")
    try:
        data = parse(body)
    except InvalidJSON as exc:
        raise Problem(400, "invalid-json", "Invalid JSON", str(exc)) from exc
    if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
        raise Problem(400, "bad-request", "Bad request", 'expected {"kind": …}')
    kind = data["kind"]
    if kind == "cosignature":
        return await _cosignature(request, peer.origin, sender, data)
    if kind == "evidence":
        return await _evidence(request, data)
    if kind == "envelope":
        return await _envelope(request, sender, data)
    if kind == "hint":
        request.app[FEDERATION].trigger(sender)
        return web.json_response({"accepted": "hint"}, status=202)
    raise Problem(400, "bad-request", "Bad request", f"unknown kind {kind!r}")


async def _cosignature(
    request: web.Request, origin: str, sender: Did, data: dict[str, Any]
) -> web.Response:
    log = request.app[LOG]
    size, line = data.get("size"), data.get("line")
    if data.get("log") != log.did or type(size) is not int or not isinstance(line, str):
        raise Problem(400, "bad-request", "Bad request", "expected log (this node), size, line")
    note = await request.app[STORE].checkpoint_at(log.did, size)
    if note is None:
        raise Problem(404, "not-found", "Not found", f"this log has no checkpoint of size {size}")
    text, _ = split_note(note)
    try:
        _, signatures = split_note(text + b"\n" + line.encode("utf-8"))
        if len(signatures) != 1:
            raise Problem(400, "bad-request", "Bad request", "expected one cosignature line")
        witness = NoteVerifier(origin, public_key_from_did(sender), ALG_COSIGNATURE_V1)
        timestamp = verify_cosignature(text, signatures[0], witness)
    except ProtocolError as exc:
        raise Problem(422, "invalid-cosignature", "Invalid cosignature", str(exc)) from exc
    stored = await request.app[PEERS].add_cosignature(
        CosignatureRow(
            log_did=log.did,
            size=size,
            witness_key=witness.public_key,
            witness_name=origin,
            line=signatures[0].line(),
            timestamp=timestamp,
        )
    )
    return web.json_response({"accepted": "cosignature", "new": stored}, status=202)


async def _evidence(request: web.Request, data: dict[str, Any]) -> web.Response:
    raw = data.get("evidence")
    if not isinstance(raw, dict):
        raise Problem(400, "bad-request", "Bad request", "evidence must be an object")
    try:
        evidence = Evidence.from_dict(raw)
        verifier = check_evidence(evidence)
    except ProtocolError as exc:
        raise Problem(422, "invalid-evidence", "Invalid evidence", str(exc)) from exc
    offender = did_from_public_key(verifier.public_key)
    peers = request.app[PEERS]
    offending_peer = await peers.peer(offender)
    # Only evidence about a log this node follows, under the key it pinned, is
    # kept: that bounds what a peer can make us store.
    if offending_peer is None or offending_peer.vkey != evidence.vkey:
        raise Problem(
            422,
            "invalid-evidence",
            "Invalid evidence",
            "the evidence is not about a log this node follows under that key",
        )
    body = json.dumps(evidence.to_dict(), sort_keys=True)
    new = await peers.add_evidence(offender, evidence.kind, body, int(time.time()))
    if offending_peer.state != "blocked":
        await peers.set_state(offender, "equivocating", detail="evidence from a peer")
    return web.json_response({"accepted": "evidence", "new": new}, status=202)


async def _envelope(request: web.Request, sender: Did, data: dict[str, Any]) -> web.Response:
    if not isinstance(data.get("envelope"), dict):
        raise Problem(400, "bad-request", "Bad request", "envelope must be an object")
    peers = request.app[PEERS]
    if await peers.inbox_count(sender) >= MAX_INBOX_PER_PEER:
        raise Problem(429, "too-many-requests", "Too many requests", "your inbox here is full")
    envelope = envelope_from_json(data["envelope"])
    record = verify(envelope)
    check = _ENVELOPE_CHECKS.get(record.type)
    if check is not None:
        await check(request.app, sender, record, parse_body(record))
    rid = record_id(record)
    payload = json.dumps(envelope.to_dict()).encode()
    new = await request.app[PEERS].add_inbox(sender, "envelope", rid, payload, int(time.time()))
    request.app[FEDERATION].trigger(sender)
    return web.json_response({"accepted": "envelope", "id": rid, "new": new}, status=202)


@routes.get("/fed/v1/evidence")
async def list_evidence(request: web.Request) -> web.Response:
    items = await request.app[PEERS].all_evidence()
    return web.json_response(
        {
            "evidence": [
                {"log": log, "kind": kind, "found": found, "evidence": json.loads(body)}
                for log, kind, body, found in items
            ]
        }
    )

"""Peers: list them with their sync state; the operator adds, removes and blocks them."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from node.api.params import bad
from node.appkeys import FEDERATION, PEERS, STORE
from node.auth import read_limited_body, require_admin
from node.federation.service import PeerRefused
from node.logservice import LogUnavailable
from node.problems import Problem
from node.store.peerstore import PeerRow
from protocol.canonical import parse
from protocol.did import Did, public_key_from_did
from protocol.errors import InvalidJSON, InvalidKey

__all__ = ["routes"]

routes = web.RouteTableDef()


async def _json_object(request: web.Request, allowed: set[str]) -> dict[str, Any]:
    try:
        data = parse(await read_limited_body(request))
    except InvalidJSON as exc:
        raise Problem(400, "invalid-json", "Invalid JSON", str(exc)) from exc
    if not isinstance(data, dict) or set(data) - allowed:
        raise Problem(
            400, "bad-request", "Bad request", f"expected an object with {sorted(allowed)}"
        )
    return data


def _peer_did(request: web.Request) -> Did:
    did = request.match_info["did"]
    try:
        public_key_from_did(did)
    except InvalidKey as exc:
        raise bad(str(exc), "did") from exc
    return Did(did)


async def _peer_json(request: web.Request, peer: PeerRow) -> dict[str, Any]:
    head = await request.app[STORE].head(peer.did)
    return {
        "did": peer.did,
        "name": peer.name,
        "url": peer.url,
        "origin": peer.origin,
        "vkey": peer.vkey,
        "state": peer.state,
        "detail": peer.detail,
        "verified_size": head.size if head else 0,
        "last_success": peer.last_success,
        "last_error": peer.last_error,
        "fetched_entries": peer.fetched_entries,
    }


@routes.get("/api/v1/peers")
async def list_peers(request: web.Request) -> web.Response:
    peers = await request.app[PEERS].all_peers()
    return web.json_response({"peers": [await _peer_json(request, p) for p in peers]})


@routes.post("/api/v1/admin/peers")
async def add_peer(request: web.Request) -> web.Response:
    require_admin(request)
    data = await _json_object(request, {"url"})
    url = data.get("url")
    if not isinstance(url, str):
        raise Problem(400, "bad-request", "Bad request", 'expected {"url": "http(s)://…"}')
    try:
        peer, created = await request.app[FEDERATION].add_peer(url)
    except PeerRefused as exc:
        raise Problem(422, "peer-refused", "Peer refused", str(exc), field="url") from exc
    except LogUnavailable as exc:
        raise Problem(503, "unavailable", "Log unavailable", str(exc)) from exc
    return web.json_response(await _peer_json(request, peer), status=201 if created else 200)


@routes.delete("/api/v1/admin/peers/{did}")
async def remove_peer(request: web.Request) -> web.Response:
    require_admin(request)
    did = _peer_did(request)
    if not await request.app[FEDERATION].remove_peer(did):
        raise Problem(404, "not-found", "Not found", f"{did} is not a peer")
    return web.json_response({"removed": did})


@routes.post("/api/v1/admin/peers/{did}/block")
async def block_peer(request: web.Request) -> web.Response:
    require_admin(request)
    did = _peer_did(request)
    data = await _json_object(request, {"reason"})
    reason = data.get("reason")
    if not isinstance(reason, str) or not 0 < len(reason) <= 2000:
        raise Problem(400, "bad-request", "Bad request", 'expected {"reason": "…"}')
    if await request.app[PEERS].peer(did) is None:
        raise Problem(404, "not-found", "Not found", f"{did} is not a peer")
    try:
        await request.app[FEDERATION].block_peer(did, reason)
    except LogUnavailable as exc:
        raise Problem(503, "unavailable", "Log unavailable", str(exc)) from exc
    return web.json_response({"blocked": did, "reason": reason})


@routes.post("/api/v1/admin/peers/{did}/resume")
async def resume_peer(request: web.Request) -> web.Response:
    """The operator follows a stopped (blocked, invalid, equivocating) peer again."""
    require_admin(request)
    did = _peer_did(request)
    peer = await request.app[PEERS].peer(did)
    if peer is None:
        raise Problem(404, "not-found", "Not found", f"{did} is not a peer")
    await request.app[FEDERATION].resume_peer(did)
    updated = await request.app[PEERS].peer(did)
    assert updated is not None
    return web.json_response(await _peer_json(request, updated))


@routes.post("/api/v1/admin/peers/{did}/sync")
async def sync_now(request: web.Request) -> web.Response:
    """Run one sync round now and answer with the peer's state afterwards."""
    require_admin(request)
    did = _peer_did(request)
    if await request.app[PEERS].peer(did) is None:
        raise Problem(404, "not-found", "Not found", f"{did} is not a peer")
    await request.app[FEDERATION].sync_peer(did)
    peer = await request.app[PEERS].peer(did)
    assert peer is not None
    return web.json_response(await _peer_json(request, peer))

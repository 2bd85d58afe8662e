"""Operator endpoints (bearer token): admit members."""

from __future__ import annotations

from aiohttp import web

from node.appkeys import LOG
from node.auth import read_limited_body, require_admin
from node.clock import utc_now
from node.logservice import LogUnavailable
from node.problems import Problem
from protocol.canonical import parse
from protocol.did import Did, public_key_from_did
from protocol.errors import InvalidJSON, InvalidKey
from protocol.membership import ROLES, MemberAdmit
from protocol.records import format_time

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.post("/api/v1/admin/members")
async def admit_member(request: web.Request) -> web.Response:
    require_admin(request)
    try:
        data = parse(await read_limited_body(request))
    except InvalidJSON as exc:
        raise Problem(400, "invalid-json", "Invalid JSON", str(exc)) from exc
    if not isinstance(data, dict) or set(data) - {"did", "role"} or "did" not in data:
        raise Problem(400, "bad-request", "Bad request", 'expected {"did": …, "role"?: …}')
    role = data.get("role", "member")
    if not isinstance(role, str) or role not in ROLES:
        raise Problem(
            422,
            "invalid-record",
            "Invalid record",
            f"role must be one of {sorted(ROLES)}",
            field="role",
        )
    if not isinstance(data["did"], str):
        raise Problem(422, "invalid-key", "Invalid key", "did must be a string", field="did")
    try:
        public_key_from_did(data["did"])
    except InvalidKey as exc:
        raise Problem(422, "invalid-key", "Invalid key", str(exc), field="did") from exc
    body = MemberAdmit(member=Did(data["did"]), role=role).to_dict()
    try:
        result = await request.app[LOG].append_own(MemberAdmit.TYPE, body, format_time(utc_now()))
    except LogUnavailable as exc:
        raise Problem(503, "unavailable", "Log unavailable", str(exc)) from exc
    return web.json_response({"id": result.id, "index": result.index}, status=201)


@routes.get("/api/v1/members")
async def list_members(request: web.Request) -> web.Response:
    head = await request.app[LOG].current_head()
    authority = head.authority
    members = [
        {"did": identity, "role": role, "key": authority.current_key.get(identity, identity)}
        for identity, role in sorted(authority.members.items())
    ]
    return web.json_response({"members": members, "log_size": head.size})

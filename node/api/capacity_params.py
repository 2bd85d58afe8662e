"""Parameter parsing and OpenAPI pieces shared by node/api/capacity.py and node/api/jobs.py.

Every bad value becomes a 400 problem naming the parameter, never a 500.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from node.api.params import bad
from node.auth import read_limited_body
from node.problems import Problem
from protocol.canonical import parse
from protocol.did import Did, public_key_from_did
from protocol.errors import InvalidJSON, InvalidKey

__all__ = [
    "DID_SCHEMA",
    "ID_SCHEMA",
    "SLUG_SCHEMA",
    "bad",
    "bool_param",
    "did_param",
    "json_object",
    "oas_param",
    "path_did",
    "path_slug",
    "record_id_param",
    "slug_param",
]

_SLUG_RE = re.compile(r"[a-z0-9](?:[a-z0-9._+-]{0,62}[a-z0-9])?")
_ID_RE = re.compile(r"sha256:[0-9a-f]{64}")
SLUG_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": "^[a-z0-9]([a-z0-9._+-]{0,62}[a-z0-9])?$",
}
DID_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": "^did:key:z6Mk[1-9A-HJ-NP-Za-km-z]{44}$",
}
ID_SCHEMA: dict[str, Any] = {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"}


def bool_param(request: web.Request, name: str, *, default: bool) -> bool:
    text = request.query.get(name)
    if text is None:
        return default
    if text not in ("true", "false"):
        raise bad(f"{name} must be true or false", name)
    return text == "true"


def _did(text: str, name: str) -> Did:
    try:
        public_key_from_did(text)
    except InvalidKey as exc:
        raise bad(f"{name} must be a did:key", name) from exc
    return Did(text)


def did_param(request: web.Request, name: str) -> Did | None:
    text = request.query.get(name)
    return None if text is None else _did(text, name)


def slug_param(request: web.Request, name: str) -> str | None:
    text = request.query.get(name)
    if text is None:
        return None
    if not _SLUG_RE.fullmatch(text):
        raise bad(f"{name} must be a lowercase name (a-z 0-9 . _ + -)", name)
    return text


def record_id_param(text: str, name: str) -> str:
    if not _ID_RE.fullmatch(text):
        raise bad(f"{name} must be a record id sha256:<64 lowercase hex>", name)
    return text


def path_did(request: web.Request) -> Did:
    return _did(request.match_info["did"], "did")


def path_slug(request: web.Request) -> str:
    text = request.match_info["slug"]
    if not _SLUG_RE.fullmatch(text):
        raise bad("the workshop must be a lowercase name (a-z 0-9 . _ + -)", "slug")
    return text


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object (I-JSON profile: no floats, no duplicate keys)."""
    try:
        data = parse(await read_limited_body(request))
    except InvalidJSON as exc:
        raise Problem(400, "invalid-json", "Invalid JSON", str(exc)) from exc
    if not isinstance(data, dict):
        raise Problem(400, "bad-request", "Bad request", "expected a JSON object")
    return data


def oas_param(
    name: str, description: str, schema: dict[str, Any], where: str = "query"
) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "description": description,
        "schema": schema,
    }

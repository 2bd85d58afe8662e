"""Workshops, machines and capacity offers: GET /api/v1/offers and friends (issue 6).

Reads come from the capacity projection of every verified log. The
operator registers and retires this node's workshops (the node signs
`workshop.register` / `workshop.retire`); machines and offers are signed by
a workshop's owner key and appended with POST /api/v1/records.
specs/05-capacity-and-jobs.md §11.
"""

from __future__ import annotations

from typing import Any

import yaml
from aiohttp import web

from node import jobrouter
from node.api.capacity_params import (
    DID_SCHEMA,
    SLUG_SCHEMA,
    bool_param,
    did_param,
    json_object,
    oas_param,
    path_did,
    path_slug,
    slug_param,
)
from node.api.oas import ADMIN, errors, json_response
from node.api.params import bad, bounded_int
from node.appkeys import LOG
from node.auth import require_admin
from node.clock import utc_now
from node.logservice import LogUnavailable
from node.problems import Problem
from protocol.records import format_time
from registry.capacity import WorkshopRegister, WorkshopRetire
from registry.okw import export_okw

__all__ = ["OPENAPI_PATHS", "routes", "setup"]

routes = web.RouteTableDef()

MAX_LIMIT = 1000


@routes.get("/api/v1/workshops")
async def list_workshops(request: web.Request) -> web.Response:
    log = did_param(request, "log")
    include_retired = bool_param(request, "include_retired", default=True)
    limit = bounded_int(request, "limit", default=MAX_LIMIT, minimum=1, maximum=MAX_LIMIT)
    found = await request.app[jobrouter.CAPACITY].workshops(
        log=log, include_retired=include_retired, limit=limit
    )
    return web.json_response({"workshops": [w.to_dict() for w in found]})


async def _workshop(request: web.Request) -> tuple[Any, list[Any], list[Any]]:
    log, slug = path_did(request), path_slug(request)
    store = request.app[jobrouter.CAPACITY]
    shop = await store.workshop(log, slug)
    if shop is None:
        raise Problem(404, "not-found", "Not found", f"no workshop {slug} in log {log}")
    machines = await store.machines(log=log, workshop=slug)
    offers = await store.offers(log=log, workshop=slug, include_withdrawn=True)
    return shop, machines, offers


@routes.get("/api/v1/workshops/{did}/{slug}")
async def get_workshop(request: web.Request) -> web.Response:
    shop, machines, offers = await _workshop(request)
    return web.json_response(
        {
            "workshop": shop.to_dict(),
            "machines": [m.to_dict() for m in machines],
            "offers": [o.to_dict() for o in offers],
        }
    )


@routes.get("/api/v1/workshops/{did}/{slug}/okw")
async def get_workshop_okw(request: web.Request) -> web.Response:
    flavour = request.query.get("flavour", "json")
    if flavour not in ("json", "yaml"):
        raise bad("flavour is json or yaml", "flavour")
    shop, machines, _ = await _workshop(request)
    facility = export_okw(
        shop.workshop, [m.machine for m in machines], retired=shop.retired, flavour=flavour
    )
    if flavour == "yaml":
        text = yaml.safe_dump(facility, sort_keys=False, allow_unicode=True)
        return web.Response(text=text, content_type="application/yaml")
    return web.json_response(facility)


@routes.get("/api/v1/machines")
async def list_machines(request: web.Request) -> web.Response:
    log = did_param(request, "log")
    workshop = slug_param(request, "workshop")
    limit = bounded_int(request, "limit", default=MAX_LIMIT, minimum=1, maximum=MAX_LIMIT)
    found = await request.app[jobrouter.CAPACITY].machines(log=log, workshop=workshop, limit=limit)
    return web.json_response({"machines": [m.to_dict() for m in found]})


@routes.get("/api/v1/offers")
async def list_offers(request: web.Request) -> web.Response:
    log = did_param(request, "log")
    workshop = slug_param(request, "workshop")
    process = slug_param(request, "process")
    material = slug_param(request, "material")
    include_withdrawn = bool_param(request, "include_withdrawn", default=False)
    limit = bounded_int(request, "limit", default=100, minimum=1, maximum=MAX_LIMIT)
    offset = bounded_int(request, "offset", default=0, minimum=0, maximum=1_000_000)
    store = request.app[jobrouter.CAPACITY]
    if process is None and material is None:
        found = await store.offers(
            log=log,
            workshop=workshop,
            include_withdrawn=include_withdrawn,
            limit=limit,
            offset=offset,
        )
    else:
        # Filtering by process or material looks inside the bodies: page after filtering.
        everything = await store.offers(
            log=log, workshop=workshop, include_withdrawn=include_withdrawn, limit=1_000_000
        )
        matching = [
            o
            for o in everything
            if (process is None or process in o.offer.processes)
            and (material is None or material in o.offer.materials)
        ]
        found = matching[offset : offset + limit]
    return web.json_response({"offers": [o.to_dict() for o in found]})


@routes.post("/api/v1/admin/workshops")
async def register_workshop(request: web.Request) -> web.Response:
    require_admin(request)
    body = WorkshopRegister.from_dict(await json_object(request))
    try:
        result = await request.app[LOG].append_own(
            WorkshopRegister.TYPE, body.to_dict(), format_time(utc_now())
        )
    except LogUnavailable as exc:
        raise Problem(503, "unavailable", "Log unavailable", str(exc)) from exc
    return web.json_response({"id": result.id, "index": result.index}, status=201)


@routes.post("/api/v1/admin/workshops/{slug}/retire")
async def retire_workshop(request: web.Request) -> web.Response:
    require_admin(request)
    data = await json_object(request)
    body = WorkshopRetire.from_dict({**data, "workshop": path_slug(request)})
    try:
        result = await request.app[LOG].append_own(
            WorkshopRetire.TYPE, body.to_dict(), format_time(utc_now())
        )
    except LogUnavailable as exc:
        raise Problem(503, "unavailable", "Log unavailable", str(exc)) from exc
    return web.json_response({"id": result.id, "index": result.index}, status=201)


def setup(app: web.Application) -> None:
    """Add this feature's routes; the stores are opened by node.jobrouter's cleanup context."""
    app.add_routes(routes)


_OBJ = {"type": "object"}
_LIST = {"type": "array", "items": _OBJ}
_PATH = [
    oas_param("did", "did of the log holding the workshop", DID_SCHEMA, "path"),
    oas_param("slug", "the workshop's name in that log", SLUG_SCHEMA, "path"),
]
_LIMIT = {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}
_BOOL = {"type": "string", "enum": ["true", "false"]}
_APPENDED = json_response(
    {"type": "object", "properties": {"id": {"type": "string"}, "index": {"type": "integer"}}},
    "Appended",
)

# Merged into /api/openapi.json; tests/node/test_api_openapi.py requires every route here.
OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/workshops": {
        "get": {
            "summary": "Workshops of every verified log (specs/05-capacity-and-jobs.md §11)",
            "operationId": "listWorkshops",
            "parameters": [
                oas_param("log", "only this log's workshops", DID_SCHEMA),
                oas_param("include_retired", "list retired workshops too", _BOOL),
                oas_param("limit", "at most this many", _LIMIT),
            ],
            "responses": {
                "200": json_response({"type": "object", "properties": {"workshops": _LIST}}),
                **errors(400),
            },
        }
    },
    "/api/v1/workshops/{did}/{slug}": {
        "get": {
            "summary": "A workshop with its machines and offers (withdrawn ones too)",
            "operationId": "getWorkshop",
            "parameters": _PATH,
            "responses": {"200": json_response(_OBJ), **errors(400, 404)},
        }
    },
    "/api/v1/workshops/{did}/{slug}/okw": {
        "get": {
            "summary": "The workshop as an Open Know-Where facility (specs/05 §9)",
            "operationId": "getWorkshopOkw",
            "parameters": [
                *_PATH,
                oas_param("flavour", "json (default) or yaml", {"enum": ["json", "yaml"]}),
            ],
            "responses": {
                "200": {
                    "description": "OKW facility",
                    "content": {
                        "application/json": {"schema": _OBJ},
                        "application/yaml": {"schema": {"type": "string"}},
                    },
                },
                **errors(400, 404),
            },
        }
    },
    "/api/v1/machines": {
        "get": {
            "summary": "Machines of every verified log",
            "operationId": "listMachines",
            "parameters": [
                oas_param("log", "only this log's machines", DID_SCHEMA),
                oas_param("workshop", "only this workshop's machines", SLUG_SCHEMA),
                oas_param("limit", "at most this many", _LIMIT),
            ],
            "responses": {
                "200": json_response({"type": "object", "properties": {"machines": _LIST}}),
                **errors(400),
            },
        }
    },
    "/api/v1/offers": {
        "get": {
            "summary": "Capacity offers of every verified log (open ones unless asked)",
            "operationId": "listOffers",
            "parameters": [
                oas_param("log", "only this log's offers", DID_SCHEMA),
                oas_param("workshop", "only this workshop's offers", SLUG_SCHEMA),
                oas_param("process", "offers of this process", SLUG_SCHEMA),
                oas_param("material", "offers of this material", SLUG_SCHEMA),
                oas_param("include_withdrawn", "list withdrawn offers too", _BOOL),
                oas_param("limit", "page size", _LIMIT),
                oas_param("offset", "page start", {"type": "integer", "minimum": 0}),
            ],
            "responses": {
                "200": json_response({"type": "object", "properties": {"offers": _LIST}}),
                **errors(400),
            },
        }
    },
    "/api/v1/admin/workshops": {
        "post": {
            "summary": "Register (or update) a workshop of this node: the node signs "
            "workshop.register (operator)",
            "operationId": "registerWorkshop",
            "security": ADMIN,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["workshop", "name", "place", "owners"],
                            "properties": {
                                "workshop": SLUG_SCHEMA,
                                "name": {"type": "string"},
                                "place": _OBJ,
                                "owners": {"type": "array", "items": DID_SCHEMA},
                                "description": {"type": "string"},
                                "url": {"type": "string"},
                            },
                        }
                    }
                },
            },
            "responses": {"201": _APPENDED, **errors(400, 401, 403, 413, 422, 503)},
        }
    },
    "/api/v1/admin/workshops/{slug}/retire": {
        "post": {
            "summary": "Retire a workshop of this node (operator)",
            "operationId": "retireWorkshop",
            "security": ADMIN,
            "parameters": [_PATH[1]],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"type": "object", "properties": {"reason": {"type": "string"}}}
                    }
                },
            },
            "responses": {"201": _APPENDED, **errors(400, 401, 403, 413, 422, 503)},
        }
    },
}

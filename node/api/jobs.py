"""Jobs: routing (POST /api/v1/jobs/route) and the job protocol's API (issue 6).

A job is created by appending a member-signed `job.request` with POST
/api/v1/records; the workshop's owner answers the same way on its own
node. This module routes a request (the ranking and every exclusion with
its reasons), lists and shows jobs with their full history, serves a
workshop's inbox of offered jobs, and checks job answers pushed to this
node's inbox. The job driver itself is node/jobrouter.py.
specs/05-capacity-and-jobs.md §11.
"""

from __future__ import annotations

import math
from typing import Any

from aiohttp import web

from node import jobrouter
from node.api.capacity_params import (
    DID_SCHEMA,
    ID_SCHEMA,
    SLUG_SCHEMA,
    bad,
    did_param,
    json_object,
    oas_param,
    path_did,
    path_slug,
    record_id_param,
    slug_param,
)
from node.api.inbox import register_envelope_check
from node.api.oas import errors, json_response
from node.api.params import bounded_int
from node.appkeys import CONFIG, LOG
from node.clock import utc_now
from node.problems import Problem
from node.ratelimit import TokenBuckets
from protocol.did import Did
from protocol.records import Record, RecordBody, format_time
from registry.jobs import (
    ANSWER_TYPES,
    JOB_STATES,
    TERMINAL_STATES,
    JobAccept,
    JobDecline,
    JobRequest,
)

__all__ = ["OPENAPI_PATHS", "routes", "setup"]

routes = web.RouteTableDef()

MAX_LIMIT = 1000


ROUTE_LIMIT = web.AppKey("route_limit", TokenBuckets)


@routes.post("/api/v1/jobs/route")
async def route_job(request: web.Request) -> web.Response:
    # Behind a reverse proxy every client shares the proxy's address (forwarded
    # headers are not trusted), so there the limit is the node's as a whole.
    client = request.remote or "unknown"
    limit = request.app[ROUTE_LIMIT]
    if not limit.allow(client):
        wait = max(1, math.ceil(limit.retry_after_s(client)))
        raise Problem(
            429,
            "too-many-requests",
            "Too many requests",
            f"routing is limited to {limit.rate:g} requests per second per client; "
            f"retry in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    job = JobRequest.from_dict(await json_object(request))
    now = utc_now()
    try:
        part, result, warnings = await jobrouter.route_request(request.app, job, now=now)
    except jobrouter.RouteRefused as exc:
        status = 409 if exc.retry else 422
        raise Problem(status, exc.slug, "Cannot route this job", exc.detail) from exc
    return web.json_response(
        {
            "now": format_time(now),
            "request": job.to_dict(),
            "part": part.to_dict(),
            "warnings": warnings,
            "judged": len(result.ranking) + len(result.excluded),
            "feasible": len(result.ranking),
            **result.to_dict(),
        }
    )


def _state_param(request: web.Request) -> str | None:
    state = request.query.get("state")
    if state is not None and state not in JOB_STATES:
        raise bad(f"state must be one of {list(JOB_STATES)}", "state")
    return state


@routes.get("/api/v1/jobs")
async def list_jobs(request: web.Request) -> web.Response:
    rows = await request.app[jobrouter.JOBS].find(
        state=_state_param(request),
        job_log=did_param(request, "log"),
        requester=did_param(request, "requester"),
        workshop_log=did_param(request, "workshop_log"),
        workshop=slug_param(request, "workshop"),
        limit=bounded_int(request, "limit", default=100, minimum=1, maximum=MAX_LIMIT),
        offset=bounded_int(request, "offset", default=0, minimum=0, maximum=1_000_000),
    )
    return web.json_response({"jobs": [r.to_dict() for r in rows]})


@routes.get("/api/v1/jobs/{id}")
async def get_job(request: web.Request) -> web.Response:
    job = record_id_param(request.match_info["id"], "id")
    view = await request.app[jobrouter.JOBS].view(job, did_param(request, "log"))
    if view is None:
        raise Problem(404, "not-found", "Not found", f"no job {job} in any verified log")
    return web.json_response(view.to_dict())


@routes.get("/api/v1/workshops/{did}/{slug}/jobs")
async def workshop_inbox(request: web.Request) -> web.Response:
    log, slug = path_did(request), path_slug(request)
    store = request.app[jobrouter.JOBS]
    rows = await store.find(workshop_log=log, workshop=slug, limit=MAX_LIMIT)
    offered: list[dict[str, Any]] = []
    for row in rows:
        if row.state != "offered" or row.live_offer is None:
            continue
        view = await store.view(row.job, row.job_log)
        live = None if view is None else view.live_offer
        if view is None or view.request is None or live is None:
            continue
        offered.append(
            {
                **row.to_dict(),
                "request": view.request.to_dict(),
                "offer": live.to_dict(),
            }
        )
    return web.json_response(
        {
            "workshop": {"log": log, "workshop": slug},
            "offered": offered,
            "assigned": [
                r.to_dict() for r in rows if r.assigned and r.state not in TERMINAL_STATES
            ],
            "closed": [r.to_dict() for r in rows if r.assigned and r.state in TERMINAL_STATES],
        }
    )


async def _check_pushed_answer(
    app: web.Application, sender: Did, record: Record, body: RecordBody
) -> None:
    """A job answer pushed to this node must come from the owning workshop (DESIGN.md §6).

    The workshop's node pushes it, so the workshop is `body.workshop` in the
    sender's log, and the record must be signed by one of its owner keys.
    """
    own = app[LOG].did
    job_log = getattr(body, "job_log", None)
    slug = getattr(body, "workshop", None)
    if job_log != own:
        raise Problem(422, "not-our-job", "Not a job of this node", "job_log is not this node")
    owners = await app[jobrouter.CAPACITY].owners(sender, str(slug))
    if record.author not in owners:
        raise Problem(
            403,
            "not-workshop-owner",
            "Not signed by the workshop",
            f"{record.author} is not an owner key of workshop {slug} in the sender's log",
        )
    if isinstance(body, JobAccept | JobDecline):
        view = await app[jobrouter.JOBS].view(body.job, own)
        offers = () if view is None else view.offers
        if not any(
            o.record_id == body.offer and o.body.workshop_log == sender and o.body.workshop == slug
            for o in offers
        ):
            raise Problem(
                422, "unknown-offer", "No such offer", "this node made no such offer to you"
            )


for _type in sorted(ANSWER_TYPES):
    register_envelope_check(_type, _check_pushed_answer)


def setup(app: web.Application) -> None:
    """Add this feature's routes and start the job driver (node/jobrouter.py)."""
    app.add_routes(routes)
    app[ROUTE_LIMIT] = TokenBuckets.per_second(app[CONFIG].route_rate_per_s)
    jobrouter.setup(app)


_OBJ = {"type": "object"}
_LIST = {"type": "array", "items": _OBJ}
_PLACE = {
    "type": "object",
    "required": ["lat", "lon", "country", "region"],
    "properties": {
        "lat": {"type": "string"},
        "lon": {"type": "string"},
        "country": {"type": "string"},
        "region": {"type": "string"},
    },
}
_MONEY = {
    "type": "object",
    "required": ["amount", "currency"],
    "properties": {"amount": {"type": "integer"}, "currency": {"type": "string"}},
}
_REQUEST = {
    "type": "object",
    "required": [
        "design",
        "design_log",
        "file",
        "quantity",
        "process",
        "material",
        "deliver_to",
        "deadline",
        "budget",
        "response_window_s",
    ],
    "properties": {
        "design": ID_SCHEMA,
        "design_log": DID_SCHEMA,
        "file": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "quantity": {"type": "integer", "minimum": 1},
        "process": SLUG_SCHEMA,
        "material": SLUG_SCHEMA,
        "deliver_to": _PLACE,
        "deadline": {"type": "string"},
        "budget": _MONEY,
        "response_window_s": {"type": "integer", "minimum": 1},
        "note": {"type": "string"},
    },
}

# Merged into /api/openapi.json; tests/node/test_api_openapi.py requires every route here.
OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/jobs/route": {
        "post": {
            "summary": "Rank the feasible offers for a job request, with the reasons for "
            "every offer left out (specs/05-capacity-and-jobs.md §8)",
            "operationId": "routeJob",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _REQUEST}},
            },
            "responses": {
                "200": json_response(
                    {
                        "type": "object",
                        "properties": {
                            "ranking": _LIST,
                            "excluded": _LIST,
                            "part": _OBJ,
                            "warnings": {"type": "array", "items": {"type": "string"}},
                        },
                    }
                ),
                **errors(400, 409, 413, 422, 429),
            },
        }
    },
    "/api/v1/jobs": {
        "get": {
            "summary": "Jobs from every verified log, most recently changed first",
            "operationId": "listJobs",
            "parameters": [
                oas_param("state", "only jobs in this state", {"enum": list(JOB_STATES)}),
                oas_param("log", "only jobs of this (the requester's) log", DID_SCHEMA),
                oas_param("requester", "only jobs this member requested", DID_SCHEMA),
                oas_param("workshop_log", "only jobs of workshops in this log", DID_SCHEMA),
                oas_param("workshop", "only jobs of this workshop", {"type": "string"}),
                oas_param("limit", "page size", {"type": "integer", "minimum": 1}),
                oas_param("offset", "page start", {"type": "integer", "minimum": 0}),
            ],
            "responses": {
                "200": json_response({"type": "object", "properties": {"jobs": _LIST}}),
                **errors(400),
            },
        }
    },
    "/api/v1/jobs/{id}": {
        "get": {
            "summary": "A job's current state and full history from every log",
            "operationId": "getJob",
            "parameters": [
                oas_param("id", "the job's id (its job.request record id)", ID_SCHEMA, "path"),
                oas_param("log", "the log holding the request (if several do)", DID_SCHEMA),
            ],
            "responses": {"200": json_response(_OBJ), **errors(400, 404)},
        }
    },
    "/api/v1/workshops/{did}/{slug}/jobs": {
        "get": {
            "summary": "A workshop's inbox: jobs offered to it awaiting an answer, jobs it "
            "has in hand, jobs it closed",
            "operationId": "workshopJobs",
            "parameters": [
                oas_param("did", "did of the log holding the workshop", DID_SCHEMA, "path"),
                oas_param("slug", "the workshop's name in that log", SLUG_SCHEMA, "path"),
            ],
            "responses": {
                "200": json_response(
                    {
                        "type": "object",
                        "properties": {"offered": _LIST, "assigned": _LIST, "closed": _LIST},
                    }
                ),
                **errors(400),
            },
        }
    },
}

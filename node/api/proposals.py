"""Governance: proposals, ballots and tallies over HTTP (specs/06-governance.md §10).

`POST /api/v1/proposals` and `POST /api/v1/proposals/{id}/ballots` take an
envelope signed by the member, in a request the member signed (RFC 9421).
Before appending, the node checks the record against its log's state with
the same rules the log applies, and against its clock (a ballot that
arrives after the close is refused even if its `created` is earlier), so a
refusal comes with a precise problem. `GET /api/v1/proposals[/{id}]`
shows every proposal of every verified log with its live or final tally
and, for a result, whether this node's recomputation agrees.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from governance.electorate import open_proposal
from governance.errors import GovernanceRefused
from governance.proposals import Ballot, Proposal
from node.api.oas import PROBLEM, SIGNED
from node.api.params import bad, bounded_int
from node.api.records import PRE_APPEND_CHECKS
from node.appkeys import LOG
from node.auth import read_limited_body, signed_agent
from node.clock import utc_now
from node.governance_actions import ACTIONS
from node.governance_service import GOVERNANCE_STORE, governance_context
from node.logservice import LogService, LogUnavailable
from node.problems import Problem
from node.store.governance import StoredProposal, recompute
from node.store.logstore import LogRow
from protocol.records import Record, RecordBody, format_time, is_record_id, parse_time
from protocol.signing import envelope_from_json, record_id

__all__ = ["OPENAPI_PATHS", "routes", "setup"]

routes = web.RouteTableDef()

MAX_LIMIT = 100
MAX_OFFSET = 100_000

# specs/06-governance.md §11: the status of each refusal reason.
_STATUS = {
    "unknown-proposal": 404,
    "proposal-closed": 409,
    "proposal-not-open": 409,
    "too-many-open-proposals": 409,
    "not-a-member": 403,
    "not-in-electorate": 403,
    "invalid-ballot": 422,
    "invalid-proposal": 422,
    "invalid-delegation": 422,
}
_TITLES = {
    "unknown-proposal": "Unknown proposal",
    "proposal-closed": "Proposal closed",
    "proposal-not-open": "Proposal not open yet",
    "too-many-open-proposals": "Too many open proposals",
    "not-a-member": "Not a member",
    "not-in-electorate": "Not in the electorate",
    "invalid-ballot": "Invalid ballot",
    "invalid-proposal": "Invalid proposal",
}


def refusal_problem(exc: GovernanceRefused) -> Problem:
    """The problem+json of a governance refusal (reason = slug)."""
    return Problem(
        _STATUS.get(exc.reason, 403),
        exc.reason,
        _TITLES.get(exc.reason, "Not authorised"),
        exc.detail,
    )


async def check_proposal(request: web.Request, record: Record, body: RecordBody) -> None:
    """Pre-append check of a proposal: the log's rules, plus what only this node knows.

    A proposal already in the log gets the same answer again (08-node-api §4.1).
    """
    assert isinstance(body, Proposal)
    log = request.app[LOG]
    if await log.store.entry_by_id(log.did, record_id(record)) is not None:
        return
    action = body.terms.action
    if action is not None and action.kind not in ACTIONS:
        raise Problem(
            422,
            "unsupported-action",
            "Unsupported action",
            f"this node cannot execute {action.kind!r} actions",
            field="body.action.kind",
        )
    if body.terms.closes_at <= utc_now():
        raise Problem(
            422,
            "invalid-proposal",
            "Invalid proposal",
            "the proposal closes in the past by this node's clock",
            field="body.closes",
        )
    await _check_rules(request, record, body)


async def check_ballot(request: web.Request, record: Record, body: RecordBody) -> None:
    """Pre-append check of a ballot: the log's rules, and the close by this node's clock.

    It runs even for a ballot already in the log: after the close a replay is
    refused (specs/06-governance.md §10.2), and before it the once-rule of the
    log keeps a replayed earlier ballot from counting again.
    """
    assert isinstance(body, Ballot)
    head = await _check_rules(request, record, body)
    entry = open_proposal(head.authority, body.proposal)
    if entry is not None and utc_now() >= parse_time(entry["terms"]["closes"]):
        raise Problem(
            409,
            "proposal-closed",
            "Proposal closed",
            f"voting closed at {entry['terms']['closes']} by this node's clock",
        )


async def _check_rules(request: web.Request, record: Record, body: RecordBody) -> LogRow:
    """Decide the record against the log's current state, as its append will."""
    head = await request.app[LOG].current_head()
    try:
        head.authority.check(record, body)
    except GovernanceRefused as exc:
        raise refusal_problem(exc) from exc
    return head


async def _append_signed(request: web.Request, record_type: str) -> tuple[Any, web.Response]:
    """Verify a signed request carrying an envelope of `record_type`, check it, append it."""
    raw = await read_limited_body(request)
    signer = await signed_agent(request, raw)
    envelope = envelope_from_json(raw)
    if envelope.record.author != signer:
        raise Problem(
            403,
            "signer-not-author",
            "Signer is not the author",
            "the request must be signed by the key that signed the record",
        )
    if envelope.record.type != record_type:
        raise Problem(
            422,
            "wrong-record-type",
            "Wrong record type",
            f"this endpoint takes a {record_type} record",
            field="type",
        )
    item = LogService.prepare(envelope)
    if record_type == Ballot.TYPE:
        assert isinstance(item.body, Ballot)
        if item.body.proposal != request.match_info["id"]:
            raise Problem(
                422,
                "proposal-mismatch",
                "Proposal mismatch",
                "the ballot names another proposal than the URL",
                field="body.proposal",
            )
    log = request.app[LOG]
    check = check_ballot if record_type == Ballot.TYPE else check_proposal
    await check(request, item.record, item.body)
    try:
        outcome = await log.append_prepared(item)
    except GovernanceRefused as exc:
        raise refusal_problem(exc) from exc
    except LogUnavailable as exc:
        raise Problem(503, "unavailable", "Log unavailable", str(exc)) from exc
    answer = {"id": item.record_id, "index": outcome.index}
    return item.body, web.json_response(answer, status=201 if outcome.created else 200)


@routes.post("/api/v1/proposals")
async def post_proposal(request: web.Request) -> web.Response:
    _, response = await _append_signed(request, Proposal.TYPE)
    return response


@routes.post("/api/v1/proposals/{id}/ballots")
async def post_ballot(request: web.Request) -> web.Response:
    _proposal_id(request)
    _, response = await _append_signed(request, Ballot.TYPE)
    return response


def _proposal_id(request: web.Request) -> str:
    proposal_id = request.match_info["id"]
    if not is_record_id(proposal_id):
        raise bad("a proposal id is sha256:<64 lowercase hex>", "id")
    return proposal_id


async def _view(request: web.Request, stored: StoredProposal, *, full: bool) -> dict[str, Any]:
    """The API form of a proposal (specs/06-governance.md §10.4)."""
    terms = stored.proposal.terms
    now = utc_now()
    governance = request.app[GOVERNANCE_STORE]
    # Read once: the live tally and the full view's ballot list use the same rows.
    ballots = (
        await governance.ballots(stored.log, stored.proposal_id)
        if full or stored.tally is None
        else []
    )
    if stored.tally is not None:
        status = "closed"
        tally = stored.tally
    else:
        status = "closing" if now >= terms.closes_at else "open"
        tally = recompute(stored, ballots, format_time(now)).to_dict()
    out: dict[str, Any] = {
        "id": stored.proposal_id,
        "log": stored.log,
        "index": stored.index,
        "author": stored.author,
        "created": stored.created,
        "title": stored.proposal.title,
        **terms.to_dict(),
        "status": status,
        "electorate": len(stored.electorate),
        "ballots_cast": stored.ballots_cast,
        "tally": tally,
        "result": None,
        "execution": None,
    }
    if stored.result_id is not None:
        out["result"] = {
            "id": stored.result_id,
            "created": stored.result_created,
            "agreement": stored.agreement,
        }
        if stored.agreement != "agrees":
            out["result"]["recomputed"] = stored.recomputed
    if terms.action is not None and stored.adopted:
        if stored.executed_by is not None:
            out["execution"] = {"state": "executed", "record": stored.executed_by}
        elif stored.execution_error is not None:
            out["execution"] = {"state": "failed", "error": stored.execution_error}
        else:
            out["execution"] = {"state": "pending"}
    if full:
        out["text"] = stored.proposal.text
        out["voters"] = stored.electorate
        out["ballots"] = [
            {"voter": b.voter, "index": b.index, "record": b.record_id, "created": b.created,
             **b.choice}
            for b in ballots
        ]  # fmt: skip
    return out


@routes.get("/api/v1/proposals")
async def list_proposals(request: web.Request) -> web.Response:
    unknown = set(request.query) - {"status", "log", "limit", "offset"}
    if unknown:
        first = sorted(unknown)[0]
        raise bad(f"unknown query parameter {first}", first)
    status = request.query.get("status")
    if status not in (None, "open", "closed"):
        raise bad("status is open or closed", "status")
    log = request.query.get("log")
    if log is not None and (len(log) != 56 or not log.startswith("did:key:z6Mk")):
        raise bad("log is a did:key", "log")
    limit = bounded_int(request, "limit", default=50, minimum=1, maximum=MAX_LIMIT)
    offset = bounded_int(request, "offset", default=0, minimum=0, maximum=MAX_OFFSET)
    found, total = await request.app[GOVERNANCE_STORE].proposals(
        log=log, status=status, limit=limit, offset=offset
    )
    views = [await _view(request, p, full=False) for p in found]
    return web.json_response({"proposals": views, "total": total, "limit": limit, "offset": offset})


@routes.get("/api/v1/proposals/{id}")
async def get_proposal(request: web.Request) -> web.Response:
    proposal_id = _proposal_id(request)
    stored = await request.app[GOVERNANCE_STORE].get(
        proposal_id, prefer_log=request.query.get("log") or request.app[LOG].did
    )
    if stored is None:
        raise Problem(404, "not-found", "Not found", f"no proposal {proposal_id}")
    return web.json_response(await _view(request, stored, full=True))


def setup(app: web.Application) -> None:
    """Add the routes, the pre-append checks of /api/v1/records, and the closing task."""
    PRE_APPEND_CHECKS[Proposal.TYPE] = check_proposal
    PRE_APPEND_CHECKS[Ballot.TYPE] = check_ballot
    app.add_routes(routes)
    app.cleanup_ctx.append(governance_context)


# -- OpenAPI -----------------------------------------------------------------------------------

_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"},
}


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema}  # fmt: skip


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ENVELOPE_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}}},
}
_APPENDED = {
    "type": "object",
    "required": ["id", "index"],
    "properties": {
        "id": {"$ref": "#/components/schemas/RecordId"},
        "index": {"type": "integer", "minimum": 0},
    },
}
_TALLY: dict[str, Any] = {
    "type": "object",
    "description": "specs/06-governance.md §5.4 (schemas/proposal.result.json, tally)",
    "required": ["method", "final", "electorate", "voters", "quorum_met", "counts", "adopted"],
    "properties": {
        "method": {"type": "string"},
        "final": {"type": "boolean"},
        "electorate": {"type": "integer"},
        "voters": {"type": "integer"},
        "direct": {"type": "integer"},
        "delegated": {"type": "integer"},
        "abstained": {"type": "integer"},
        "quorum_met": {"type": "boolean"},
        "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
        "adopted": {"type": "boolean"},
        "rounds": {"type": "array", "items": {"type": "object"}},
        "winner": {"type": "string"},
        "tied": {"type": "array", "items": {"type": "string"}},
    },
}
_PROPOSAL: dict[str, Any] = {
    "type": "object",
    "required": ["id", "log", "index", "author", "title", "status", "tally", "result"],
    "properties": {
        "id": {"type": "string"},
        "log": {"type": "string"},
        "index": {"type": "integer"},
        "author": {"type": "string"},
        "created": {"type": "string"},
        "title": {"type": "string"},
        "text": {"type": "string"},
        "options": {"type": "array", "items": {"type": "string"}},
        "method": {"type": "string"},
        "opens": {"type": "string"},
        "closes": {"type": "string"},
        "status": {"enum": ["open", "closing", "closed"]},
        "electorate": {"type": "integer"},
        "ballots_cast": {"type": "integer"},
        "tally": _TALLY,
        "result": {"type": ["object", "null"]},
        "execution": {"type": ["object", "null"]},
        "ballots": {"type": "array", "items": {"type": "object"}},
    },
}


def _problems(*codes: int) -> dict[str, Any]:
    return {str(code): PROBLEM for code in codes}


OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/proposals": {
        "get": {
            "summary": "Proposals of every verified log, with live or final tally",
            "operationId": "listProposals",
            "parameters": [
                _query("status", "open or closed", {"enum": ["open", "closed"]}),
                _query(
                    "log",
                    "did of the log (cooperative)",
                    {"type": "string", "pattern": "^did:key:z6Mk[1-9A-HJ-NP-Za-km-z]{44}$"},
                ),
                _query("limit", "page size", {"type": "integer", "minimum": 1, "maximum": 100}),
                _query("offset", "items to skip", {"type": "integer", "minimum": 0}),
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["proposals", "total", "limit", "offset"],
                        "properties": {
                            "proposals": {"type": "array", "items": _PROPOSAL},
                            "total": {"type": "integer"},
                            "limit": {"type": "integer"},
                            "offset": {"type": "integer"},
                        },
                    }
                ),
                **_problems(400),
            },
        },
        "post": {
            "summary": "Make a proposal: a proposal envelope signed by a member "
            "(specs/06-governance.md §3)",
            "operationId": "createProposal",
            "security": SIGNED,
            "requestBody": _ENVELOPE_BODY,
            "responses": {
                "201": _json(_APPENDED, "appended"),
                "200": _json(_APPENDED, "already in the log"),
                **_problems(400, 401, 403, 409, 413, 422, 503),
            },
        },
    },
    "/api/v1/proposals/{id}": {
        "get": {
            "summary": "A proposal with its text, ballots and live or final tally",
            "operationId": "getProposal",
            "parameters": [
                _ID,
                _query(
                    "log",
                    "prefer the copy in this log",
                    {"type": "string", "pattern": "^did:key:z6Mk[1-9A-HJ-NP-Za-km-z]{44}$"},
                ),
            ],
            "responses": {"200": _json(_PROPOSAL), **_problems(400, 404)},
        }
    },
    "/api/v1/proposals/{id}/ballots": {
        "post": {
            "summary": "Vote: a ballot envelope signed by a member of the proposal's electorate "
            "(specs/06-governance.md §4)",
            "operationId": "castBallot",
            "security": SIGNED,
            "parameters": [_ID],
            "requestBody": _ENVELOPE_BODY,
            "responses": {
                "201": _json(_APPENDED, "appended"),
                "200": _json(_APPENDED, "already in the log"),
                **_problems(400, 401, 403, 404, 409, 413, 422, 503),
            },
        }
    },
}

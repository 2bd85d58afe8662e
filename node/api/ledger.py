"""The cooperative ledger: balances, statements with proofs, distributions, policies, export.

specs/07-ledger.md §7 gives the API. Handlers bound their parameters, read
the ledger projection (node/store/ledger.py) and the logs' proofs, and
call the pure core (governance.balances, governance.valueflows) for
corrections and the JSON-LD form. Recording happens through
POST /api/v1/records; sharing completed jobs runs in node/ledger_driver.py.
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

from aiohttp import web

from governance.balances import resolve_corrections
from governance.valueflows import export_graph
from node.api.oas import DID as _DID
from node.api.oas import errors as _errors
from node.api.oas import json_response as _json
from node.api.params import bad, bounded_int
from node.appkeys import LOG, STORE
from node.clock import utc_now
from node.ledger_driver import LEDGER, ledger_context
from node.problems import Problem
from node.store.ledger import AgentEntry
from protocol.checkpoint import Checkpoint, split_note
from protocol.did import Did, public_key_from_did
from protocol.errors import InvalidCheckpoint, InvalidKey
from protocol.records import format_time, is_record_id
from protocol.signing import envelope_from_leaf

__all__ = ["OPENAPI_PATHS", "execute_policy", "routes", "setup"]

logger = logging.getLogger(__name__)

routes = web.RouteTableDef()

MAX_STATEMENT_ENTRIES = 1000
DEFAULT_STATEMENT_ENTRIES = 200
MAX_LIST = 500
MAX_OFFSET = 1_000_000
MAX_EXPORT = 10_000


def _agent(request: web.Request) -> Did:
    did = request.match_info["did"]
    try:
        public_key_from_did(did)
    except InvalidKey as exc:
        raise bad(str(exc), "did") from exc
    return Did(did)


def _limit(request: web.Request, default: int, maximum: int) -> int:
    return bounded_int(request, "limit", default=default, minimum=1, maximum=maximum)


def _only(request: web.Request, allowed: set[str]) -> None:
    unknown = sorted(set(request.query) - allowed)
    if unknown:
        raise bad(f"unknown query parameters {unknown}", unknown[0])


@routes.get("/api/v1/ledger/balances")
async def balances(request: web.Request) -> web.Response:
    """Shared money per agent and currency; net contributions per agent, action and unit."""
    _only(request, set())
    ledger = request.app[LEDGER]
    money = await ledger.money_balances()
    totals = await ledger.contribution_totals()
    return web.json_response(
        {
            "money": [
                {"agent": agent, "currency": currency, "amount": amount}
                for (agent, currency), amount in money.items()
            ],
            "contributions": [
                {"agent": agent, "action": action, "kind": kind, "unit": unit, "quantity": q}
                for (agent, action, kind, unit), q in totals.items()
            ],
        }
    )


async def _checkpoints(request: web.Request, logs: set[Did]) -> dict[Did, tuple[int, str]]:
    """Each log's latest stored checkpoint: (tree size, note text)."""
    store = request.app[STORE]
    out: dict[Did, tuple[int, str]] = {}
    for log in sorted(logs):
        head = await store.head(log)
        if head is None or not head.checkpoint:
            continue
        try:
            text, _ = split_note(head.checkpoint)
            size = Checkpoint.from_text(text).size
        except InvalidCheckpoint:
            continue
        out[log] = (size, head.checkpoint.decode("utf-8"))
    return out


async def _statement_entry(
    request: web.Request,
    entry: AgentEntry,
    agent: Did,
    checkpoints: dict[Did, tuple[int, str]],
) -> dict[str, Any]:
    store = request.app[STORE]
    found = await store.entry_by_id(entry.log, entry.record_id)
    if found is None:  # the projection and the entries share a transaction
        raise Problem(503, "unavailable", "Unavailable", "the ledger is being rebuilt")
    envelope = envelope_from_leaf(found[1])
    out: dict[str, Any] = {
        "log": entry.log,
        "index": entry.index,
        "id": entry.record_id,
        "type": entry.type,
        "envelope": envelope.to_dict(),
        "proof": None,
    }
    checkpoint = checkpoints.get(entry.log)
    if checkpoint is not None and entry.index < checkpoint[0]:
        hashes = await store.inclusion_proof(entry.log, entry.index, checkpoint[0])
        out["proof"] = {
            "leaf_index": entry.index,
            "tree_size": checkpoint[0],
            "hashes": [_b64(h) for h in hashes],
        }
    if entry.type == "ledger.distribution":
        body = envelope.record.body
        out["parts"] = [p for p in body["parts"] if p["agent"] == agent]
        out["currency"] = body["total"]["currency"]
    return out


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@routes.get("/api/v1/ledger/agents/{did}")
async def statement(request: web.Request) -> web.Response:
    """Every ledger entry naming the agent, each with its inclusion proof (§7.2)."""
    _only(request, {"limit"})
    agent = _agent(request)
    limit = _limit(request, DEFAULT_STATEMENT_ENTRIES, MAX_STATEMENT_ENTRIES)
    ledger = request.app[LEDGER]
    found = await ledger.agent_entries(agent, limit=limit)
    truncated = len(found) > limit
    found = found[:limit]
    checkpoints = await _checkpoints(request, {e.log for e in found})
    entries = [await _statement_entry(request, e, agent, checkpoints) for e in found]
    contribution_ids = [e["id"] for e in entries if e["type"] == "ledger.contribution"]
    confirmed = await ledger.confirmed(contribution_ids)
    providers = {
        e["envelope"]["record"]["body"]["provider"]
        for e in entries
        if e["type"] == "ledger.contribution"
    }
    facts = [f for p in sorted(providers) for f in await ledger.contribution_facts(p)]
    corrections = resolve_corrections(facts)
    for e in entries:
        if e["type"] == "ledger.contribution":
            e["confirmed"] = e["id"] in confirmed
            e["corrected_by"] = corrections.corrected_by.get(e["id"])
            e["void"] = corrections.void.get(e["id"])
    money = await ledger.money_balances(agent)
    totals = await ledger.contribution_totals(agent)
    return web.json_response(
        {
            "agent": agent,
            "money": [
                {"currency": currency, "amount": amount}
                for (who, currency), amount in money.items()
                if who == agent
            ],
            "contributions": [
                {"action": action, "kind": kind, "unit": unit, "quantity": q}
                for (_, action, kind, unit), q in totals.items()
            ],
            "checkpoints": {
                log: {"tree_size": size, "note": note} for log, (size, note) in checkpoints.items()
            },
            "entries": entries,
            "truncated": truncated,
        }
    )


@routes.get("/api/v1/ledger/distributions")
async def distributions(request: web.Request) -> web.Response:
    """Verified distributions, optionally of one job, with this node's verdict on each."""
    _only(request, {"job", "limit", "offset"})
    job = request.query.get("job")
    if job is not None and not is_record_id(job):
        raise bad("job must be a record id", "job")
    limit = _limit(request, 100, MAX_LIST)
    offset = bounded_int(request, "offset", default=0, minimum=0, maximum=MAX_OFFSET)
    found = await request.app[LEDGER].distributions(job=job, limit=limit, offset=offset)
    return web.json_response({"distributions": [d.to_json() for d in found]})


@routes.get("/api/v1/ledger/policies")
async def policies(request: web.Request) -> web.Response:
    """Every verified ledger.policy, per log in log order; the last of a log is in force."""
    _only(request, {"log"})
    log = request.query.get("log")
    if log is not None:
        try:
            public_key_from_did(log)
        except InvalidKey as exc:
            raise bad(str(exc), "log") from exc
    found = await request.app[LEDGER].policies(log)
    return web.json_response({"policies": [p.to_json() for p in found]})


@routes.get("/api/v1/ledger/export.jsonld")
async def export(request: web.Request) -> web.Response:
    """The ledger as ValueFlows JSON-LD (specs/07-ledger.md §8)."""
    _only(request, {"limit"})
    limit = _limit(request, MAX_EXPORT, MAX_EXPORT)
    contributions, shared = await request.app[LEDGER].export_rows(limit=limit + 1)
    truncated = len(contributions) > limit or len(shared) > limit
    graph = export_graph(
        contributions[:limit], [(d.log, d.index, d.record_id, d.body) for d in shared[:limit]]
    )
    graph["truncated"] = truncated
    return web.Response(
        text=json.dumps(graph, ensure_ascii=False),
        content_type="application/ld+json",
    )


async def execute_policy(app: web.Application, result_id: str, params: dict[str, Any]) -> None:
    """Governance executor of an adopted `ledger.policy` action: the node puts it in force.

    Raises ProtocolError if the log refuses it (e.g. its version does not
    grow, specs/07-ledger.md §3.4); the governance service records why.
    """
    body = {**params["policy"], "decision": result_id}
    await app[LOG].append_own("ledger.policy", body, format_time(utc_now()))


def _register_action() -> None:
    try:
        from node.governance_actions import register_action
    except ImportError:  # the governance side is not installed: nothing executes policies
        logger.warning("ledger: node.governance_actions is missing; policies cannot take effect")
        return
    register_action("ledger.policy", execute_policy)


def setup(app: web.Application) -> None:
    """Add the ledger's routes, and its store and driver once storage is open."""
    app.add_routes(routes)
    app.cleanup_ctx.append(ledger_context)


_register_action()

_ENTRY = {"type": "object", "required": ["log", "index", "id", "type", "envelope", "proof"]}
_DISTRIBUTION = {
    "type": "object",
    "required": ["log", "index", "id", "complete", "job", "parts", "agreement"],
    "properties": {
        "agreement": {"enum": ["pending", "agree", "disagree", "unknown"]},
        "parts": {"type": "array", "items": {"type": "object"}},
    },
}
_LIMIT = {
    "name": "limit",
    "in": "query",
    "required": False,
    "schema": {"type": "integer", "minimum": 1},
}

# Merged into /api/openapi.json; tests/node/test_api_openapi.py requires every route here.
OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/ledger/balances": {
        "get": {
            "summary": "Shared money per agent and currency; net contributions per agent",
            "operationId": "ledgerBalances",
            "tags": ["ledger"],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["money", "contributions"],
                        "properties": {
                            "money": {"type": "array", "items": {"type": "object"}},
                            "contributions": {"type": "array", "items": {"type": "object"}},
                        },
                    }
                ),
                **_errors(400),
            },
        }
    },
    "/api/v1/ledger/agents/{did}": {
        "get": {
            "summary": "An agent's statement: every ledger entry with its inclusion proof",
            "operationId": "ledgerStatement",
            "tags": ["ledger"],
            "parameters": [_DID, _LIMIT],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["agent", "money", "contributions", "entries", "checkpoints"],
                        "properties": {"entries": {"type": "array", "items": _ENTRY}},
                    }
                ),
                **_errors(400, 503),
            },
        }
    },
    "/api/v1/ledger/distributions": {
        "get": {
            "summary": "Distributions of completed jobs, with this node's verdict on each",
            "operationId": "ledgerDistributions",
            "tags": ["ledger"],
            "parameters": [
                {
                    "name": "job",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"},
                },
                _LIMIT,
                {
                    "name": "offset",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 0},
                },
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["distributions"],
                        "properties": {"distributions": {"type": "array", "items": _DISTRIBUTION}},
                    }
                ),
                **_errors(400),
            },
        }
    },
    "/api/v1/ledger/policies": {
        "get": {
            "summary": "Value-sharing policies put in force, per log",
            "operationId": "ledgerPolicies",
            "tags": ["ledger"],
            "parameters": [
                {
                    "name": "log",
                    "in": "query",
                    "required": False,
                    "schema": _DID["schema"],
                }
            ],
            "responses": {
                "200": _json({"type": "object", "required": ["policies"]}),
                **_errors(400),
            },
        }
    },
    "/api/v1/ledger/export.jsonld": {
        "get": {
            "summary": "The ledger as ValueFlows JSON-LD",
            "operationId": "ledgerExport",
            "tags": ["ledger"],
            "parameters": [_LIMIT],
            "responses": {
                "200": {
                    "description": "A JSON-LD document with @context and @graph",
                    "content": {"application/ld+json": {"schema": {"type": "object"}}},
                },
                **_errors(400),
            },
        }
    },
}

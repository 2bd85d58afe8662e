"""GET /api/openapi.json: the OpenAPI 3.1 description of every route the node serves.

tests/node/test_openapi.py checks that it validates and that it lists every
route the app registers, so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from node.api.oas import ADMIN as _ADMIN
from node.api.oas import DID as _DID
from node.api.oas import PROBLEM as _PROBLEM
from node.api.oas import SIGNED as _SIGNED
from node.api.oas import errors as _errors
from node.api.oas import json_response as _json
from node.api.oas import query as _query
from node.features import FEATURES

__all__ = ["openapi_document", "routes"]

routes = web.RouteTableDef()


def _mirror_paths(own: dict[str, Any]) -> dict[str, Any]:
    """/fed/v1/logs/{did}/…: the same operations as the node's own log, for a mirrored one."""
    mirrored: dict[str, Any] = {}
    for suffix in ("checkpoint", "entries", "proof/inclusion", "proof/consistency", "records/{id}"):
        operation = dict(own[f"/fed/v1/{suffix}"]["get"])
        operation["operationId"] = (
            "mirror" + operation["operationId"][0].upper() + operation["operationId"][1:]
        )
        operation["summary"] = "Mirror: " + operation["summary"]
        operation["parameters"] = [_DID, *operation.get("parameters", [])]
        responses = dict(operation["responses"])
        responses.setdefault("404", _PROBLEM)
        operation["responses"] = responses
        mirrored[f"/fed/v1/logs/{{did}}/{suffix}"] = {"get": operation}
    return mirrored


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (a fresh dict each call)."""
    envelope = {"$ref": "#/components/schemas/Envelope"}
    appended = {
        "type": "object",
        "required": ["id", "index"],
        "properties": {
            "id": {"$ref": "#/components/schemas/RecordId"},
            "index": {"type": "integer", "minimum": 0},
        },
    }
    hashes = {"type": "array", "items": {"type": "string", "contentEncoding": "base64"}}
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "fabcommons node",
            "version": "1",
            "description": "A fabcommons peer node. Normative: specs/ in the repository.",
            "license": {"name": "AGPL-3.0-or-later", "identifier": "AGPL-3.0-or-later"},
        },
        "paths": {
            "/.well-known/fabcommons": {
                "get": {
                    "summary": "Discover the node: did, log origin and verifier key, API roots",
                    "operationId": "wellKnown",
                    "responses": {"200": _json({"$ref": "#/components/schemas/WellKnown"})},
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Liveness and readiness (the database answers)",
                    "operationId": "healthz",
                    "responses": {"200": _json({"type": "object"}), **_errors(503)},
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "operationId": "metrics",
                    "responses": {
                        "200": {
                            "description": "Prometheus text format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/fed/v1/checkpoint": {
                "get": {
                    "summary": "The latest signed checkpoint (C2SP tlog-checkpoint signed note)",
                    "operationId": "getCheckpoint",
                    "responses": {
                        "200": {
                            "description": "The signed note",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/fed/v1/entries": {
                "get": {
                    "summary": "Log leaves start..end-1 as NDJSON, each line its exact leaf bytes",
                    "operationId": "getEntries",
                    "parameters": [
                        _query("start", "first index"),
                        _query("end", "one past the last index"),
                    ],
                    "responses": {
                        "200": {
                            "description": "Up to max_entries_per_request leaves",
                            "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
                        },
                        **_errors(400),
                    },
                }
            },
            "/fed/v1/proof/inclusion": {
                "get": {
                    "summary": "RFC 9162 inclusion proof (audit path)",
                    "operationId": "getInclusionProof",
                    "parameters": [
                        _query("index", "leaf index"),
                        _query("tree_size", "tree size"),
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["leaf_index", "tree_size", "hashes"],
                                "properties": {
                                    "leaf_index": {"type": "integer"},
                                    "tree_size": {"type": "integer"},
                                    "hashes": hashes,
                                },
                            }
                        ),
                        **_errors(400),
                    },
                }
            },
            "/fed/v1/proof/consistency": {
                "get": {
                    "summary": "RFC 9162 consistency proof",
                    "operationId": "getConsistencyProof",
                    "parameters": [_query("from", "older size"), _query("to", "newer size")],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["from", "to", "hashes"],
                                "properties": {
                                    "from": {"type": "integer"},
                                    "to": {"type": "integer"},
                                    "hashes": hashes,
                                },
                            }
                        ),
                        **_errors(400),
                    },
                }
            },
            "/fed/v1/records/{id}": {
                "get": {
                    "summary": "A record of this log by id, with its index",
                    "operationId": "getRecord",
                    "parameters": [
                        {
                            "name": "id",
                            "in": "path",
                            "required": True,
                            "schema": {"$ref": "#/components/schemas/RecordId"},
                        }
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["index", "envelope"],
                                "properties": {"index": {"type": "integer"}, "envelope": envelope},
                            }
                        ),
                        **_errors(400, 404),
                    },
                }
            },
            "/blobs/sha256/{hex}": {
                "get": {
                    "summary": "A stored file by its SHA-256 (immutable)",
                    "operationId": "getBlob",
                    "parameters": [
                        {
                            "name": "hex",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "The file",
                            "content": {"application/octet-stream": {"schema": {}}},
                        },
                        **_errors(400, 404),
                    },
                }
            },
            "/api/v1/records": {
                "post": {
                    "summary": "Append an envelope signed by an authorised author",
                    "description": "The request is signed (RFC 9421) by the record's author.",
                    "operationId": "postRecord",
                    "security": _SIGNED,
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": envelope}},
                    },
                    "responses": {
                        "201": _json(appended, "Appended"),
                        "200": _json(appended, "Already in the log"),
                        **_errors(400, 401, 403, 413, 422, 503),
                    },
                }
            },
            "/api/v1/blobs": {
                "post": {
                    "summary": "Store a file (raw body) uploaded by a member",
                    "operationId": "postBlob",
                    "security": _SIGNED,
                    "requestBody": {
                        "required": True,
                        "content": {"application/octet-stream": {"schema": {}}},
                    },
                    "responses": {
                        "201": _json(
                            {
                                "type": "object",
                                "required": ["sha256", "size"],
                                "properties": {
                                    "sha256": {"type": "string"},
                                    "size": {"type": "integer"},
                                    "url": {"type": "string"},
                                },
                            },
                            "Stored",
                        ),
                        **_errors(400, 401, 403, 413, 507),
                    },
                }
            },
            "/api/v1/members": {
                "get": {
                    "summary": "The members of this node's log with their roles and current keys",
                    "operationId": "listMembers",
                    "responses": {"200": _json({"type": "object"})},
                }
            },
            "/api/v1/admin/members": {
                "post": {
                    "summary": "Admit a member (the node signs member.admit)",
                    "operationId": "admitMember",
                    "security": _ADMIN,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["did"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "did": {"type": "string"},
                                        "role": {"enum": ["member", "operator"]},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": _json(appended, "Admitted"),
                        **_errors(400, 401, 403, 422, 503),
                    },
                }
            },
            "/api/v1/log": {
                "get": {
                    "summary": "This node's log: size, root, checkpoint, cosignatures, final size",
                    "operationId": "getLogState",
                    "responses": {"200": _json({"type": "object"})},
                }
            },
            "/api/v1/peers": {
                "get": {
                    "summary": "Peers with their sync state and verified size",
                    "operationId": "listPeers",
                    "responses": {"200": _json({"type": "object"})},
                }
            },
            "/api/v1/admin/peers": {
                "post": {
                    "summary": "Follow a peer: fetch its well-known document, pin its did and key",
                    "operationId": "addPeer",
                    "security": _ADMIN,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["url"],
                                    "additionalProperties": False,
                                    "properties": {"url": {"type": "string"}},
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": _json({"type": "object"}, "Added"),
                        "200": _json({"type": "object"}, "Already a peer"),
                        **_errors(400, 401, 422, 503),
                    },
                }
            },
            "/api/v1/admin/peers/{did}": {
                "delete": {
                    "summary": "Stop following a peer",
                    "operationId": "removePeer",
                    "security": _ADMIN,
                    "parameters": [_DID],
                    "responses": {"200": _json({"type": "object"}), **_errors(400, 401, 404)},
                }
            },
            "/api/v1/admin/peers/{did}/block": {
                "post": {
                    "summary": "Block a peer (the node signs peer.block with the reason)",
                    "operationId": "blockPeer",
                    "security": _ADMIN,
                    "parameters": [_DID],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["reason"],
                                    "additionalProperties": False,
                                    "properties": {"reason": {"type": "string"}},
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json({"type": "object"}),
                        **_errors(400, 401, 404, 503),
                    },
                }
            },
            "/api/v1/admin/peers/{did}/sync": {
                "post": {
                    "summary": "Run one sync round with a peer now",
                    "operationId": "syncPeer",
                    "security": _ADMIN,
                    "parameters": [_DID],
                    "responses": {"200": _json({"type": "object"}), **_errors(400, 401, 404)},
                }
            },
            "/api/v1/admin/peers/{did}/resume": {
                "post": {
                    "summary": "Follow a stopped (blocked, invalid, equivocating) peer again",
                    "operationId": "resumePeer",
                    "security": _ADMIN,
                    "parameters": [_DID],
                    "responses": {"200": _json({"type": "object"}), **_errors(400, 401, 404)},
                }
            },
            "/fed/v1/inbox": {
                "post": {
                    "summary": "A push from a peer: cosignature, evidence, envelope or hint",
                    "operationId": "postInbox",
                    "security": _SIGNED,
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "responses": {
                        "202": _json({"type": "object"}, "Accepted"),
                        **_errors(400, 401, 403, 404, 413, 422, 429),
                    },
                }
            },
            "/fed/v1/evidence": {
                "get": {
                    "summary": "Equivocation evidence this node holds",
                    "operationId": "listEvidence",
                    "responses": {"200": _json({"type": "object"})},
                }
            },
            "/fed/v1/logs": {
                "get": {
                    "summary": "The logs this node mirrors",
                    "operationId": "listMirroredLogs",
                    "responses": {"200": _json({"type": "object"})},
                }
            },
            "/api/openapi.json": {
                "get": {
                    "summary": "This document",
                    "operationId": "openapi",
                    "responses": {"200": _json({"type": "object"})},
                }
            },
        },
        "components": {
            "securitySchemes": {
                "httpSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Signature",
                    "description": "RFC 9421 signature by the agent's did:key over @method, "
                    "@target-uri and content-digest, with created and nonce",
                },
                "adminToken": {"type": "http", "scheme": "bearer"},
            },
            "schemas": {
                "RecordId": {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"},
                "Envelope": {
                    "type": "object",
                    "required": ["record", "sig"],
                    "additionalProperties": False,
                    "properties": {
                        "record": {
                            "type": "object",
                            "required": ["v", "type", "author", "created", "body"],
                            "additionalProperties": False,
                            "properties": {
                                "v": {"const": 1},
                                "type": {"type": "string"},
                                "author": {"type": "string"},
                                "created": {"type": "string"},
                                "body": {"type": "object"},
                            },
                        },
                        "sig": {"type": "string"},
                    },
                },
                "WellKnown": {
                    "type": "object",
                    "required": ["did", "name", "log", "api", "federation", "software"],
                    "properties": {
                        "did": {"type": "string"},
                        "name": {"type": "string"},
                        "log": {
                            "type": "object",
                            "required": ["origin", "vkey"],
                            "properties": {
                                "origin": {"type": "string"},
                                "vkey": {"type": "string"},
                            },
                        },
                        "api": {"type": "string"},
                        "federation": {"type": "string"},
                        "software": {"type": "object"},
                    },
                },
                "Problem": {
                    "type": "object",
                    "required": ["type", "title", "status", "detail"],
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer", "minimum": 400, "maximum": 599},
                        "detail": {"type": "string"},
                        "request_id": {"type": "string"},
                        "field": {"type": "string"},
                    },
                },
            },
            "responses": {
                "Problem": {
                    "description": "RFC 9457 problem details",
                    "content": {
                        "application/problem+json": {
                            "schema": {"$ref": "#/components/schemas/Problem"}
                        }
                    },
                }
            },
        },
    }

    document["paths"].update(_mirror_paths(document["paths"]))
    for feature in FEATURES:
        for path, item in feature.OPENAPI_PATHS.items():
            if path in document["paths"]:
                raise ValueError(f"{path} is described twice")
            document["paths"][path] = item
    return document


@routes.get("/api/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())

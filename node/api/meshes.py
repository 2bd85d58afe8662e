"""Mesh analysis on demand: POST /api/v1/meshes/analyse (specs/04a-mesh-analysis.md §10).

A member (or the node) sends a model file as the raw request body and gets
its figures, computed in a worker process with the node's time and memory
limits, or a 422 problem that says why the file was refused. Nothing is
stored. Background analysis of published designs is node/analysis.py's.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from node import analysis
from node.analysis import ANALYSIS_POOL, AnalysisUnavailable
from node.api.oas import SIGNED as _SIGNED
from node.api.oas import errors as _errors
from node.api.oas import json_response as _json
from node.api.params import bad
from node.appkeys import LOG
from node.auth import signed_agent
from node.problems import Problem
from registry.figures import FORMATS, UNITS, MeshError, format_of

__all__ = ["OPENAPI_PATHS", "routes", "setup"]

routes = web.RouteTableDef()

_FILENAME_RE = re.compile(r"[^\x00-\x1f\x7f/\\]{1,255}")


def _query(request: web.Request) -> tuple[str, str]:
    filename = request.query.get("filename", "")
    units = request.query.get("units", "")
    if not _FILENAME_RE.fullmatch(filename):
        raise bad(
            "filename is required: a file name of 1 to 255 characters without a path", "filename"
        )
    if units not in UNITS:
        raise bad(f"units must be one of {', '.join(UNITS)}", "units")
    return filename, units


async def _read_body(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise Problem(413, "too-large", "File too large", f"the limit is {limit} bytes")
    data = bytearray()
    async for chunk in request.content.iter_chunked(256 * 1024):
        data += chunk
        if len(data) > limit:
            raise Problem(413, "too-large", "File too large", f"the limit is {limit} bytes")
    return bytes(data)


def _refused(reason: str) -> Problem:
    return Problem(422, "mesh-refused", "Mesh refused", reason)


@routes.post("/api/v1/meshes/analyse")
async def post_analyse(request: web.Request) -> web.Response:
    filename, units = _query(request)
    pool = request.app[ANALYSIS_POOL]
    body = await _read_body(request, pool.limits.max_input_bytes)
    signer = await signed_agent(request, body)
    authority = (await request.app[LOG].current_head()).authority
    if signer != authority.node and (
        authority.identity(signer) not in authority.members or not authority.is_current_key(signer)
    ):
        raise Problem(403, "forbidden", "Forbidden", "only this node's members may analyse files")
    try:
        format_of(filename)
        result = await pool.analyse(filename=filename, units=units, data=body)
    except MeshError as exc:
        raise _refused(exc.reason) from exc
    except AnalysisUnavailable as exc:
        raise Problem(503, "unavailable", "Analysis unavailable", str(exc)) from exc
    return web.json_response({"figures": result.figures.to_dict(), "analyser": result.analyser})


def setup(app: web.Application) -> None:
    """Add the route and make sure the analysis workers run."""
    app.add_routes(routes)
    analysis.setup(app)


_DECIMAL = {"type": "string", "pattern": r"^-?(0|[1-9][0-9]{0,29})\.[0-9]{3}$"}
_TRIPLE = {"type": "array", "items": _DECIMAL, "minItems": 3, "maxItems": 3}
FIGURES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": sorted(
        [
            "triangles",
            "vertices",
            "bodies",
            "degenerate_faces",
            "watertight",
            "units",
            "volume_mm3",
            "area_mm2",
            "aabb_mm",
            "obb_mm",
            "units_verdict",
        ]
    ),
    "properties": {
        "triangles": {"type": "integer", "minimum": 0},
        "vertices": {"type": "integer", "minimum": 0},
        "bodies": {"type": "integer", "minimum": 0},
        "degenerate_faces": {"type": "integer", "minimum": 0},
        "watertight": {"type": "boolean"},
        "units": {"enum": list(UNITS)},
        "volume_mm3": _DECIMAL,
        "area_mm2": _DECIMAL,
        "aabb_mm": _TRIPLE,
        "obb_mm": _TRIPLE,
        "units_verdict": {
            "type": "object",
            "required": ["plausible", "suggested", "reason"],
            "properties": {
                "plausible": {"type": "boolean"},
                "suggested": {"enum": [*UNITS, None]},
                "reason": {"type": "string"},
            },
        },
    },
}

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/meshes/analyse": {
        "post": {
            "operationId": "analyseMesh",
            "summary": "Analyse a model file (STL, OBJ, PLY, 3MF, GLB) without storing it",
            "description": (
                "The raw body is the file. A member of this node signs the request "
                "(RFC 9421, with Content-Digest). Figures are in millimetres; see "
                "specs/04a-mesh-analysis.md. A file that is empty, broken, hostile, too "
                "large, or needs more time or memory than the node allows is refused "
                "with 422 and the reason."
            ),
            "security": _SIGNED,
            "parameters": [
                {
                    "name": "filename",
                    "in": "query",
                    "required": True,
                    "description": "The file's name; its extension names the format: "
                    + ", ".join("." + f for f in FORMATS),
                    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                },
                {
                    "name": "units",
                    "in": "query",
                    "required": True,
                    "description": "The unit of the file's coordinates",
                    "schema": {"enum": list(UNITS)},
                },
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/octet-stream": {
                        "schema": {"type": "string", "contentMediaType": "application/octet-stream"}
                    }
                },
            },
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["figures", "analyser"],
                        "properties": {
                            "figures": FIGURES_SCHEMA,
                            "analyser": {
                                "type": "object",
                                "required": ["name", "trimesh"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "trimesh": {"type": "string"},
                                },
                            },
                        },
                    },
                    "The file's figures",
                ),
                **_errors(400, 401, 403, 413, 422, 429, 503),
            },
        }
    }
}

"""Designs: search, detail with attribution, OKH-LOSH export, and the checks on publishing.

specs/04-designs.md §7 gives the API. Handlers parse and bound the query,
ask `DesignStore` (the projection of every verified log) and the analysis
store, and call the pure core (registry.designs, registry.okh) for
attribution and export. Publishing is POST /api/v1/records; the pre-append
check registered here refuses a design whose files were never uploaded or
whose licence its known ancestors do not allow. The blob fetcher
(node/designblobs.py) brings peers' design files here.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from node import analysis as mesh_analysis
from node.api.oas import DID as _DID_PARAM
from node.api.oas import errors as _errors
from node.api.oas import json_response as _json
from node.api.params import bad, bounded_int
from node.api.records import PRE_APPEND_CHECKS
from node.appkeys import BLOBS, CONFIG, LOG, PEERS, STORE
from node.designblobs import BlobFetcher
from node.problems import Problem
from node.store.analyses import AnalysisStore
from node.store.designs import DesignQuery, DesignStore, StoredDesign
from protocol.did import public_key_from_did
from protocol.errors import InvalidKey
from protocol.records import Record, RecordBody, is_record_id
from registry.designs import Design, attribution_chain, check_derivation, tasl_text
from registry.licences import LicenceRefused, check_publishable, is_spdx_id, licence_url
from registry.okh import export_losh

__all__ = ["ANALYSES", "DESIGNS", "FETCHER", "OPENAPI_PATHS", "routes", "setup"]

routes = web.RouteTableDef()


DESIGNS: web.AppKey[DesignStore] = web.AppKey("designs", DesignStore)
ANALYSES: web.AppKey[AnalysisStore] = web.AppKey("design_analyses", AnalysisStore)
FETCHER: web.AppKey[BlobFetcher] = web.AppKey("design_blob_fetcher", BlobFetcher)

MAX_LIMIT = 100
MAX_OFFSET = 10_000
# Designs examined for one fits-in query (the filter needs each design's figures).
MAX_FITS_SCAN = 2000
_QUERY_KEYS = frozenset(
    {
        "q",
        "process",
        "material",
        "tag",
        "license",
        "author",
        "cooperative",
        "fits",
        "limit",
        "offset",
    }
)
_SLUG_RE = re.compile(r"[a-z0-9]+(?:[-.][a-z0-9]+)*")
_FITS_RE = re.compile(
    r"([0-9]{1,7}(?:\.[0-9]{1,3})?)x([0-9]{1,7}(?:\.[0-9]{1,3})?)x([0-9]{1,7}(?:\.[0-9]{1,3})?)"
)


def _did_param(request: web.Request, name: str) -> str | None:
    text = request.query.get(name)
    if text is None:
        return None
    try:
        public_key_from_did(text)
    except InvalidKey as exc:
        raise bad(f"{name} must be a did:key", name) from exc
    return text


def _many(request: web.Request, name: str, *, max_len: int, slug: bool) -> tuple[str, ...]:
    values = request.query.getall(name, [])
    if len(values) > 8:
        raise bad(f"at most 8 {name} filters", name)
    for value in values:
        if not 0 < len(value) <= max_len or (slug and not _SLUG_RE.fullmatch(value)):
            what = "a lowercase slug" if slug else "text"
            raise bad(f"{name} must be {what} of 1 to {max_len} characters", name)
    return tuple(values)


def _fits(request: web.Request) -> tuple[Decimal, Decimal, Decimal] | None:
    text = request.query.get("fits")
    if text is None:
        return None
    match = _FITS_RE.fullmatch(text)
    if match is None:
        raise bad("fits must be a box in mm, e.g. 220x220x250", "fits")
    box = sorted((Decimal(g) for g in match.groups()), reverse=True)
    if box[2] <= 0:
        raise bad("fits must have positive sides", "fits")
    return box[0], box[1], box[2]


def _query(request: web.Request) -> DesignQuery:
    unknown = sorted(set(request.query) - _QUERY_KEYS)
    if unknown:
        raise bad(
            f"unknown parameter {unknown[0]}; known: {', '.join(sorted(_QUERY_KEYS))}", unknown[0]
        )
    text = request.query.get("q", "")
    if len(text) > 200:
        raise bad("q must be at most 200 characters", "q")
    words = tuple(dict.fromkeys(text.split()))
    if len(words) > 8:
        raise bad("q may hold at most 8 words", "q")
    licence = request.query.get("license")
    if licence is not None and not is_spdx_id(licence):
        raise bad("license must be an SPDX licence identifier", "license")
    return DesignQuery(
        words=words,
        processes=_many(request, "process", max_len=48, slug=True),
        materials=_many(request, "material", max_len=48, slug=True),
        tags=_many(request, "tag", max_len=64, slug=False),
        license=licence,
        author=_did_param(request, "author"),
        cooperative=_did_param(request, "cooperative"),
        limit=bounded_int(request, "limit", default=20, minimum=1, maximum=MAX_LIMIT),
        offset=bounded_int(request, "offset", default=0, minimum=0, maximum=MAX_OFFSET),
    )


def _figure_box(figures: Any) -> tuple[Decimal, ...] | None:
    """A model's oriented box (else its axis-aligned one), sorted descending, in mm."""
    for name in ("obb_mm", "aabb_mm"):
        box = getattr(figures, name, None)
        if box is None and isinstance(figures, dict):
            box = figures.get(name)
        try:
            if box is not None and len(box) == 3:
                return tuple(sorted((Decimal(str(v)) for v in box), reverse=True))
        except (InvalidOperation, TypeError):
            continue
    return None


def fits_in(figures: Sequence[tuple[str, Any]], box: tuple[Decimal, Decimal, Decimal]) -> bool:
    """True if the design has analysed models and every one fits the box, allowing rotation.

    A part fits when its box's sides, sorted, are each no longer than the
    box's sides, sorted: a sufficient test that needs no search over poses.
    """
    boxes = [_figure_box(f) for _, f in figures]
    if not boxes or any(b is None for b in boxes):
        return False
    return all(all(s <= m for s, m in zip(b, box, strict=True)) for b in boxes if b is not None)


def _first_thumbnail(analyses: list[dict[str, Any]]) -> str | None:
    for item in analyses:
        url = item.get("thumbnail")
        if isinstance(url, str):
            return url
    return None


def _summary(stored: StoredDesign, thumbnail: str | None) -> dict[str, Any]:
    design = stored.design
    return {
        "id": stored.record_id,
        "url": f"/api/v1/designs/{stored.record_id}",
        "log": stored.log,
        "index": stored.index,
        "author": stored.author,
        "created": stored.created,
        "title": design.title,
        "summary": design.summary,
        "license": design.license,
        "version": design.version,
        "authors": [a.to_dict() for a in design.authors],
        "processes": list(design.processes),
        "materials": list(design.materials),
        "tags": list(design.tags),
        "supersedes": design.supersedes,
        "derived_from": list(design.derived_from),
        "thumbnail": thumbnail,
    }


@routes.get("/api/v1/designs")
async def list_designs(request: web.Request) -> web.Response:
    query = _query(request)
    box = _fits(request)
    store = request.app[DESIGNS]
    total: int | None
    if box is None:
        page, total = await store.search(query)
        more = query.offset + len(page) < total
    else:
        page, more = await _search_fitting(request, query, box)
        total = None
    thumbnails = await request.app[ANALYSES].thumbnails([s.record_id for s in page])
    items = [_summary(s, thumbnails.get(s.record_id)) for s in page]
    return web.json_response(
        {
            "designs": items,
            "total": total,
            "limit": query.limit,
            "offset": query.offset,
            "next_offset": query.offset + len(page) if more else None,
        }
    )


async def _search_fitting(
    request: web.Request, query: DesignQuery, box: tuple[Decimal, Decimal, Decimal]
) -> tuple[list[StoredDesign], bool]:
    analyses = request.app[ANALYSES]
    matches: list[StoredDesign] = []
    scanned = 0
    candidates: AsyncIterator[StoredDesign] = request.app[DESIGNS].iter_matches(query)
    async for stored in candidates:
        scanned += 1
        if scanned > MAX_FITS_SCAN:
            break
        if fits_in(await analyses.figures_for(stored.record_id), box):
            matches.append(stored)
            if len(matches) > query.offset + query.limit:
                break
    page = matches[query.offset : query.offset + query.limit]
    return page, len(matches) > query.offset + query.limit


def _design_id(request: web.Request) -> str:
    design_id = request.match_info["id"]
    if not is_record_id(design_id):
        raise bad("a design id is sha256:<64 lowercase hex>", "id")
    return design_id


def _known(design_id: str, stored: StoredDesign | None) -> StoredDesign:
    if stored is None:
        raise Problem(404, "not-found", "Not found", f"no design {design_id} is known here")
    return stored


async def _stored_or_404(request: web.Request) -> StoredDesign:
    design_id = _design_id(request)
    return _known(design_id, await request.app[DESIGNS].get(design_id))


@routes.get("/api/v1/designs/{id}")
async def get_design(request: web.Request) -> web.Response:
    design_id = _design_id(request)
    store = request.app[DESIGNS]
    # The closure holds the design itself: one query fewer than a lookup first.
    known = await store.closure([design_id])
    stored = _known(design_id, known.get(design_id))
    design = stored.design

    def lookup(candidate: str) -> Design | None:
        found = known.get(candidate)
        return found.design if found is not None else None

    chain = attribution_chain(design_id, lookup)
    public = request.app[CONFIG].public_url.rstrip("/")
    text = tasl_text(design_id, design, chain, source=lambda i: f"{public}/api/v1/designs/{i}")
    older, newer = await store.versions(design_id)
    blobs = request.app[BLOBS]
    files = [
        {**f.to_dict(), "url": f"/blobs/sha256/{f.sha256}", "available": blobs.exists(f.sha256)}
        for f in design.files
    ]
    analyses = await request.app[ANALYSES].for_design(design_id)
    return web.json_response(
        {
            **_summary(stored, _first_thumbnail(analyses)),
            "identity": stored.identity,
            "description": design.description,
            "upstream": design.upstream,
            "license_url": licence_url(design.license),
            "files": files,
            "analysis": analyses,
            "versions": {"supersedes": older, "superseded_by": newer},
            "derivatives": await store.derivatives(design_id),
            "attribution": {"chain": [a.to_dict() for a in chain], "text": text},
            "okh": f"/api/v1/designs/{design_id}/okh.toml",
            "body": design.to_dict(),
        }
    )


@routes.get("/api/v1/designs/{id}/okh.toml")
async def get_design_okh(request: web.Request) -> web.Response:
    stored = await _stored_or_404(request)
    return web.Response(
        text=export_losh(stored.design, design_id=stored.record_id),
        content_type="application/toml",
        charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="okh.toml"'},
    )


# -- publishing: the pre-append check ---------------------------------------------------------


def _licence_problem(exc: LicenceRefused) -> Problem:
    return Problem(
        422, "licence-refused", "Licence refused", exc.reason, licence=exc.licence, field=exc.field
    )


async def check_design(request: web.Request, record: Record, body: RecordBody) -> None:
    """Refuse a design whose files are not here or whose licence its lineage forbids."""
    assert isinstance(body, Design)
    try:
        check_publishable(body.license)
    except LicenceRefused as exc:
        raise _licence_problem(exc) from exc
    blobs = request.app[BLOBS]
    for f in body.files:
        path = blobs.path(f.sha256)
        if not path.is_file():
            raise Problem(
                409,
                "file-not-uploaded",
                "File not uploaded",
                f"file {f.name} (sha256 {f.sha256}) has not been uploaded to this node; "
                "POST it to /api/v1/blobs first",
                file=f.name,
            )
        size = path.stat().st_size
        if size != f.size:
            raise Problem(
                422,
                "file-size-mismatch",
                "File size mismatch",
                f"file {f.name} is declared {f.size} bytes but its blob has {size}",
                file=f.name,
            )
    store = request.app[DESIGNS]
    wanted = [*body.derived_from, *([body.supersedes] if body.supersedes else [])]
    known = await store.closure(wanted)

    def lookup(candidate: str) -> Design | None:
        found = known.get(candidate)
        return found.design if found is not None else None

    try:
        check_derivation(body.license, body.derived_from, lookup)
    except LicenceRefused as exc:
        raise _licence_problem(exc) from exc
    previous = known.get(body.supersedes) if body.supersedes else None
    if previous is not None:
        authority = (await request.app[LOG].current_head()).authority
        identity = authority.identity(record.author)
        authors = {previous.identity, previous.author, *previous.design.author_dids()}
        if identity not in authors and record.author not in authors:
            raise Problem(
                403,
                "not-an-author",
                "Not an author",
                f"only an author of {body.supersedes} may publish a version that supersedes it",
            )


# -- setup ------------------------------------------------------------------------------------


async def _designs_context(app: web.Application) -> AsyncIterator[None]:
    engine = app[STORE].engine
    app[DESIGNS] = DesignStore(engine)
    app[ANALYSES] = AnalysisStore(engine)
    config = app[CONFIG]
    fetcher = BlobFetcher(
        blobs=app[BLOBS],
        store=app[STORE],
        peers=app[PEERS],
        designs=app[DESIGNS],
        local_log=app[LOG].did,
        timeout_s=config.peer_timeout_s,
    )
    app[FETCHER] = fetcher
    if config.background_tasks:
        await fetcher.start()
    try:
        yield
    finally:
        if config.background_tasks:
            await fetcher.stop()


def setup(app: web.Application) -> None:
    """Add the design routes, the publishing check, the projection and the blob fetcher."""
    PRE_APPEND_CHECKS[Design.TYPE] = check_design
    app.add_routes(routes)
    app.cleanup_ctx.append(_designs_context)
    # The mesh analysis of designs' model files (idempotent: meshes may set it up too).
    mesh_analysis.setup(app)


# -- OpenAPI -----------------------------------------------------------------------------------

_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"},
}


def _param(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


_SUMMARY: dict[str, Any] = {
    "type": "object",
    "required": ["id", "url", "log", "index", "title", "license", "authors", "thumbnail"],
    "properties": {
        "id": {"type": "string"},
        "url": {"type": "string"},
        "log": {"type": "string"},
        "index": {"type": "integer"},
        "author": {"type": "string"},
        "created": {"type": "string"},
        "title": {"type": "string"},
        "summary": {"type": "string"},
        "license": {"type": "string"},
        "version": {"type": "string"},
        "authors": {"type": "array", "items": {"type": "object"}},
        "processes": {"type": "array", "items": {"type": "string"}},
        "materials": {"type": "array", "items": {"type": "string"}},
        "tags": {"type": "array", "items": {"type": "string"}},
        "supersedes": {"type": ["string", "null"]},
        "derived_from": {"type": "array", "items": {"type": "string"}},
        "thumbnail": {"type": ["string", "null"]},
    },
}
_DID_SCHEMA = _DID_PARAM["schema"]

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/designs": {
        "get": {
            "summary": "Search designs from every verified log (specs/04-designs.md §7)",
            "operationId": "listDesigns",
            "parameters": [
                _param(
                    "q",
                    "words that must all appear (title, text, tags, authors)",
                    {"type": "string", "maxLength": 200},
                ),
                _param("process", "a process the design names (repeatable)", {"type": "string"}),
                _param("material", "a material the design names (repeatable)", {"type": "string"}),
                _param("tag", "a tag, case-insensitive (repeatable)", {"type": "string"}),
                _param("license", "SPDX licence id", {"type": "string"}),
                _param("author", "did of an author or of the signer", _DID_SCHEMA),
                _param(
                    "cooperative", "did of the log (cooperative) holding the design", _DID_SCHEMA
                ),
                _param(
                    "fits",
                    "every analysed model fits this box in mm, e.g. 220x220x250",
                    {"type": "string", "pattern": "^[0-9.]+x[0-9.]+x[0-9.]+$"},
                ),
                _param(
                    "limit", "page size", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}
                ),
                _param(
                    "offset",
                    "items to skip",
                    {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
                ),
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["designs", "total", "limit", "offset", "next_offset"],
                        "properties": {
                            "designs": {"type": "array", "items": _SUMMARY},
                            "total": {"type": ["integer", "null"]},
                            "limit": {"type": "integer"},
                            "offset": {"type": "integer"},
                            "next_offset": {"type": ["integer", "null"]},
                        },
                    }
                ),
                **_errors(400),
            },
        }
    },
    "/api/v1/designs/{id}": {
        "get": {
            "summary": "A design with its files, analysis, versions and attribution (TASL)",
            "operationId": "getDesign",
            "parameters": [_ID],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["id", "files", "analysis", "versions", "attribution", "body"],
                        "properties": {
                            **_SUMMARY["properties"],
                            "files": {"type": "array", "items": {"type": "object"}},
                            "analysis": {"type": "array", "items": {"type": "object"}},
                            "versions": {"type": "object"},
                            "derivatives": {"type": "array", "items": {"type": "string"}},
                            "attribution": {
                                "type": "object",
                                "required": ["chain", "text"],
                                "properties": {
                                    "chain": {"type": "array", "items": {"type": "object"}},
                                    "text": {"type": "string"},
                                },
                            },
                            "okh": {"type": "string"},
                            "body": {"type": "object"},
                        },
                    }
                ),
                **_errors(400, 404),
            },
        }
    },
    "/api/v1/designs/{id}/okh.toml": {
        "get": {
            "summary": "The design as an OKH-LOSH manifest (TOML; specs/04-designs.md §6)",
            "operationId": "getDesignOkh",
            "parameters": [_ID],
            "responses": {
                "200": {
                    "description": "OKH-LOSH TOML",
                    "content": {"application/toml": {"schema": {"type": "string"}}},
                },
                **_errors(400, 404),
            },
        }
    },
}

"""The UI's pages. Each handler renders a template; the page's JavaScript does the rest.

Handlers read only what the public API also serves (the log's head, the
node's name and did), through the same services the API handlers use; lists,
forms and live state are loaded by the pages' scripts from /api/v1 and
/fed/v1, so a page never shows what a client of the API could not see.
"""

from __future__ import annotations

import re

from aiohttp import web

from node.appkeys import LOG, PEERS
from node.federation.sync import signed_head_size
from node.web._render import render

__all__ = ["routes"]

routes = web.RouteTableDef()

_RECORD_ID = re.compile(r"sha256:[0-9a-f]{64}")
# registry/capacity_fields.py's slugs; specs/01-records.md §1.2's did:key.
_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9._+-]{0,62}[a-z0-9])?")
_DID = re.compile(r"did:key:z6Mk[1-9A-HJ-NP-Za-km-z]{44}")


@routes.get("/")
async def root(request: web.Request) -> web.Response:
    raise web.HTTPFound("/ui/")


@routes.get("/ui")
async def ui_root(request: web.Request) -> web.Response:
    raise web.HTTPFound("/ui/")


def _not_found(request: web.Request, what: str) -> web.Response:
    response = render(request, "not_found.html", "", "Not found", what=what)
    response.set_status(404)
    return response


@routes.get("/ui/")
async def home(request: web.Request) -> web.Response:
    log = request.app[LOG]
    head = await log.current_head()
    return render(
        request,
        "home.html",
        "home",
        "Home",
        origin=log.origin,
        size=head.size,
        checkpoint_size=signed_head_size(head),
        checkpoint=head.checkpoint.decode("utf-8"),
        peer_count=len(await request.app[PEERS].all_peers()),
    )


@routes.get("/ui/log")
async def log_page(request: web.Request) -> web.Response:
    log = request.app[LOG]
    head = await log.current_head()
    return render(
        request,
        "log.html",
        "log",
        "Log",
        origin=log.origin,
        size=head.size,
        checkpoint=head.checkpoint.decode("utf-8"),
    )


@routes.get("/ui/key")
async def key_page(request: web.Request) -> web.Response:
    return render(request, "key.html", "key", "Your key")


@routes.get("/ui/designs")
async def designs_page(request: web.Request) -> web.Response:
    return render(request, "designs.html", "designs", "Designs")


@routes.get("/ui/designs/{id}")
async def design_page(request: web.Request) -> web.Response:
    design_id = request.match_info["id"]
    if not _RECORD_ID.fullmatch(design_id):
        return _not_found(request, "design")
    return render(request, "design.html", "designs", "Design", design_id=design_id)


@routes.get("/ui/publish")
async def publish_page(request: web.Request) -> web.Response:
    supersedes = request.query.get("supersedes", "")
    if supersedes and not _RECORD_ID.fullmatch(supersedes):
        supersedes = ""
    return render(request, "publish.html", "publish", "Publish a design", supersedes=supersedes)


@routes.get("/ui/workshops")
async def workshops_page(request: web.Request) -> web.Response:
    return render(request, "workshops.html", "workshops", "Workshops")


@routes.get("/ui/workshops/{did}/{slug}")
async def workshop_page(request: web.Request) -> web.Response:
    did, slug = request.match_info["did"], request.match_info["slug"]
    if not _DID.fullmatch(did) or not _SLUG.fullmatch(slug):
        return _not_found(request, "workshop")
    return render(request, "workshop.html", "workshops", "Workshop", log=did, slug=slug)


@routes.get("/ui/jobs")
async def jobs_page(request: web.Request) -> web.Response:
    return render(request, "jobs.html", "jobs", "Jobs")


@routes.get("/ui/jobs/new")
async def job_new_page(request: web.Request) -> web.Response:
    return render(request, "job_new.html", "jobs", "Request a job")


@routes.get("/ui/jobs/{id}")
async def job_page(request: web.Request) -> web.Response:
    job_id = request.match_info["id"]
    if not _RECORD_ID.fullmatch(job_id):
        return _not_found(request, "job")
    return render(request, "job.html", "jobs", "Job", job_id=job_id)


@routes.get("/ui/proposals")
async def proposals_page(request: web.Request) -> web.Response:
    return render(request, "proposals.html", "proposals", "Proposals")


@routes.get("/ui/proposals/{id}")
async def proposal_page(request: web.Request) -> web.Response:
    proposal_id = request.match_info["id"]
    if not _RECORD_ID.fullmatch(proposal_id):
        return _not_found(request, "proposal")
    return render(request, "proposal.html", "proposals", "Proposal", proposal_id=proposal_id)


@routes.get("/ui/ledger")
async def ledger_page(request: web.Request) -> web.Response:
    return render(request, "ledger.html", "ledger", "Ledger")

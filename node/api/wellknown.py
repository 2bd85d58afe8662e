"""Discovery and operations: /.well-known/fabcommons, /healthz, /metrics."""

from __future__ import annotations

import functools
from importlib.metadata import PackageNotFoundError, version

from aiohttp import web

from node.appkeys import CONFIG, LOG, METRICS
from node.problems import Problem

__all__ = ["routes"]

routes = web.RouteTableDef()


@functools.cache  # reading the installed metadata costs more than the whole request
def _software_version() -> str:
    try:
        return version("fabcommons")
    except PackageNotFoundError:
        return "0+unknown"


@routes.get("/.well-known/fabcommons")
async def well_known(request: web.Request) -> web.Response:
    log = request.app[LOG]
    config = request.app[CONFIG]
    return web.json_response(
        {
            "did": log.did,
            "name": config.name,
            "log": {"origin": log.origin, "vkey": log.verifier.vkey},
            "api": "/api/v1",
            "federation": "/fed/v1",
            "software": {"name": "fabcommons", "version": _software_version()},
        }
    )


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    try:
        head = await request.app[LOG].current_head()
    except Exception as exc:  # the database does not answer
        raise Problem(503, "unavailable", "Unavailable", "the database does not answer") from exc
    return web.json_response({"status": "ok", "log_size": head.size})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    return web.Response(
        body=request.app[METRICS].render(),
        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
    )

"""Workshops, machines and capacity offers: GET /api/v1/offers and friends (issue 6)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

__all__ = ["OPENAPI_PATHS", "routes", "setup"]

routes = web.RouteTableDef()

# Merged into /api/openapi.json; tests/node/test_openapi.py requires every route here.
OPENAPI_PATHS: dict[str, Any] = {}


def setup(app: web.Application) -> None:
    """Add this feature's routes (and any background work, via app.cleanup_ctx)."""
    app.add_routes(routes)

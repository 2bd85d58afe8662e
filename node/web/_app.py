"""Wiring of the web interface: templates, static files and setup(app)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from node.web._pages import routes

__all__ = ["OPENAPI_PATHS", "STATIC_DIR", "routes", "setup"]

_HERE = Path(__file__).resolve().parent
STATIC_DIR = _HERE / "static"
TEMPLATE_DIR = _HERE / "templates"

# The pages are HTML, not API: nothing of them goes into /api/openapi.json.
OPENAPI_PATHS: dict[str, Any] = {}


def setup(app: web.Application) -> None:
    """Add the UI's routes, its static files at /ui/static/ and the template engine."""
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    app.add_routes(routes)
    app.router.add_static("/ui/static/", STATIC_DIR, name="ui-static")

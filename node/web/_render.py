"""Rendering of the UI's pages: the layout's context and the security headers."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from node.appkeys import CONFIG, LOG

__all__ = ["CSP", "IMPORT_MAP", "render"]

# three.js's add-ons import the bare specifier "three"; an import map resolves
# it to the copy the Makefile vendors (no build step, no CDN).
IMPORT_MAP = json.dumps(
    {
        "imports": {
            "three": "/ui/static/vendor/three/build/three.module.js",
            "three/addons/": "/ui/static/vendor/three/addons/",
        }
    },
    separators=(",", ":"),
)
_IMPORT_MAP_HASH = base64.b64encode(hashlib.sha256(IMPORT_MAP.encode()).digest()).decode()

# Only the node itself: no inline script but the import map (by hash), no
# third-party origin, no framing. The JavaScript needs nothing more.
CSP = "; ".join(
    (
        "default-src 'self'",
        f"script-src 'self' 'sha256-{_IMPORT_MAP_HASH}'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


def render(
    request: web.Request, template: str, page: str, title: str, **context: Any
) -> web.Response:
    """Render a page of the UI with the layout's common context and security headers."""
    config = request.app[CONFIG]
    response = aiohttp_jinja2.render_template(
        template,
        request,
        {
            "page": page,
            "title": title,
            "node_name": config.name,
            "node_did": request.app[LOG].did,
            "import_map": IMPORT_MAP,
            **context,
        },
    )
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-cache"
    return response

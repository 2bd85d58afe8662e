"""The node's web interface (issue 9): HTML pages under /ui/ and their static files.

A feature module like the API modules (`routes`, `OPENAPI_PATHS`, `setup`),
listed in node/features.py. Its pages are HTML, not API: OPENAPI_PATHS is
empty and tests/node/test_api_openapi.py leaves /ui/ out of its check. The
pages' JavaScript talks to the node only through the public API
(/api/v1/…, /fed/v1/…, /blobs/…); a member's private key stays in the
browser, which signs records and requests itself (static/js/keys.js).
"""

from __future__ import annotations

from node.web._app import OPENAPI_PATHS, routes, setup

__all__ = ["OPENAPI_PATHS", "routes", "setup"]

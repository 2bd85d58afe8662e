"""GET /api/openapi.json: a valid OpenAPI 3.1 document that lists exactly the app's routes."""

from __future__ import annotations

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.mark.parametrize("backend", ["sqlite"])  # the routes do not depend on storage
async def test_openapi_validates_and_covers_every_route(node_factory):
    node = await node_factory()
    reply = await node.get("/api/openapi.json")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("application/json")
    document = reply.json()
    assert document["openapi"].startswith("3.1")
    validate(document, cls=OpenAPIV31SpecValidator)

    registered = set()
    for route in node.app.router.routes():
        if route.method == "HEAD":
            continue
        info = route.resource.get_info()
        path = info.get("path") or info.get("formatter") or info.get("prefix")
        # The web UI (node/web) serves HTML pages and static files, not API.
        if path in ("/", "/ui") or path.startswith("/ui/"):
            continue
        registered.add((path, route.method.lower()))
    documented = {
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if method in _METHODS
    }
    assert registered, "the app registers no routes?"
    assert registered - documented == set(), "routes missing from the OpenAPI document"
    assert documented - registered == set(), "documented operations the app does not serve"

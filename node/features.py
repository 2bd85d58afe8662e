"""The node's features beyond the log itself, each an API module with `setup(app)`.

A feature module exposes `routes`, `OPENAPI_PATHS` (merged into
/api/openapi.json) and `setup(app)`, which adds its routes and, through
`app.cleanup_ctx`, any background work it needs once storage is open.
"""

from __future__ import annotations

from node import web
from node.api import capacity, designs, jobs, ledger, meshes, proposals

__all__ = ["FEATURES"]

FEATURES = (designs, meshes, capacity, jobs, proposals, ledger, web)

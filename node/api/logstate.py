"""GET /api/v1/log: the state of this node's own log for clients and the web UI."""

from __future__ import annotations

import base64

from aiohttp import web

from node.appkeys import FEDERATION, LOG, PEERS
from node.federation.sync import signed_head_size

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.get("/api/v1/log")
async def log_state(request: web.Request) -> web.Response:
    """Size, root, signed checkpoint, cosigned sizes and the final size (DESIGN.md §5)."""
    log = request.app[LOG]
    head = await log.current_head()
    cosigned = await request.app[PEERS].cosigned_sizes(log.did)
    return web.json_response(
        {
            "did": log.did,
            "origin": log.origin,
            "size": head.size,
            "root": base64.b64encode(head.root).decode("ascii"),
            "checkpoint_size": signed_head_size(head),
            "checkpoint": head.checkpoint.decode("utf-8"),
            "cosigned": [{"size": size, "witnesses": count} for size, count in cosigned[:50]],
            "required_cosignatures": request.app[FEDERATION].required_cosignatures(head.authority),
            "final_size": await request.app[FEDERATION].final_size(),
        }
    )

"""The aiohttp application factory: `create_app(config)`; it never parses argv."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from node.api import (
    admin,
    blobs,
    federation,
    inbox,
    logstate,
    openapi,
    peers,
    records,
    wellknown,
)
from node.appkeys import (
    ADMIN_TOKEN,
    BLOBS,
    CONFIG,
    FEDERATION,
    LOG,
    METRICS,
    NODE_KEY,
    NONCES,
    PEERS,
    STORE,
)
from node.config import NodeConfig
from node.features import FEATURES
from node.federation.recover import recover_from_peers
from node.federation.service import FederationService
from node.logservice import LogService
from node.metrics import Metrics
from node.problems import problem_middleware
from node.store import BlobStore, LogStore, create_engine, migrate
from node.store.noncestore import DatabaseNonceCache
from node.store.peerstore import PeerStore
from protocol.keys import load_key

__all__ = ["create_app", "read_admin_token"]

logger = logging.getLogger(__name__)


def read_admin_token(config: NodeConfig) -> str:
    """The operator's bearer token; refused if others can read its file."""
    mode = config.token_path.stat().st_mode
    if mode & 0o077:
        raise ValueError(f"{config.token_path} is readable by others; run chmod 600 on it")
    token = config.token_path.read_text(encoding="ascii").strip()
    if len(token) < 32:
        raise ValueError(f"{config.token_path} does not hold a usable token")
    return token


async def _storage(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    await migrate(config.database_url)
    engine = create_engine(config.database_url)
    store = LogStore(engine)
    app[STORE] = store
    # Several worker processes may share one PostgreSQL database: their
    # replay caches must be shared too. A SQLite node is one process.
    nonce_cache = DatabaseNonceCache(config.database_url, config.data_dir / "nonces.db")
    await nonce_cache.open()
    app[NONCES] = nonce_cache
    blob_store = BlobStore(config.blob_dir, config.max_blob_bytes)
    blob_store.clean_temporary()
    app[BLOBS] = blob_store
    peer_store = PeerStore(engine, store.reader)
    if await store.local_head() is not None:
        # Before taking appends: catch up with a longer copy a peer holds (a restore).
        await recover_from_peers(
            store, peer_store, timeout_s=config.peer_timeout_s, batch_size=config.sync_batch
        )
    log = LogService(store, app[NODE_KEY], config.origin, batch_max=config.append_batch_max)
    await log.start()
    app[LOG] = log
    app[METRICS] = Metrics(
        log_size=lambda: float(log.head.size if log.head else 0),
        appended=lambda: float(log.appended_total),
    )
    app[PEERS] = peer_store
    federation_service = FederationService(
        config=config,
        store=store,
        peers=peer_store,
        log=log,
        key=app[NODE_KEY],
    )
    app[FEDERATION] = federation_service
    await federation_service.start()
    logger.info(
        "node %s serving log %s (size %d)", log.did, log.origin, log.head.size if log.head else 0
    )
    try:
        yield
    finally:
        await federation_service.stop()
        await log.stop()
        await nonce_cache.close()
        await engine.dispose()


def create_app(config: NodeConfig) -> web.Application:
    """Build the node's application; storage opens and closes in its cleanup context."""
    app = web.Application(
        middlewares=[problem_middleware], client_max_size=config.max_request_bytes
    )
    app[CONFIG] = config
    app[NODE_KEY] = load_key(config.key_path)
    app[ADMIN_TOKEN] = read_admin_token(config)
    app.cleanup_ctx.append(_storage)
    for module in (wellknown, federation, records, blobs, admin, peers, inbox, logstate, openapi):
        app.add_routes(module.routes)
    for feature in FEATURES:
        feature.setup(app)
    return app

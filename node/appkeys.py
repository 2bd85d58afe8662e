"""Typed application-state keys: the one place that names what an app holds."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from node.config import NodeConfig
    from node.federation.service import FederationService
    from node.httpsig import NonceCache
    from node.logservice import LogService
    from node.metrics import Metrics
    from node.store import BlobStore, LogStore
    from node.store.peerstore import PeerStore
    from protocol.keys import AgentKey

__all__ = [
    "ADMIN_TOKEN",
    "BLOBS",
    "CONFIG",
    "FEDERATION",
    "LOG",
    "METRICS",
    "NODE_KEY",
    "NONCES",
    "PEERS",
    "STORE",
]

CONFIG: web.AppKey[NodeConfig] = web.AppKey("config")
NODE_KEY: web.AppKey[AgentKey] = web.AppKey("node_key")
ADMIN_TOKEN: web.AppKey[str] = web.AppKey("admin_token")
STORE: web.AppKey[LogStore] = web.AppKey("store")
LOG: web.AppKey[LogService] = web.AppKey("log")
BLOBS: web.AppKey[BlobStore] = web.AppKey("blobs")
NONCES: web.AppKey[NonceCache] = web.AppKey("nonces")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
PEERS: web.AppKey[PeerStore] = web.AppKey("peers")
FEDERATION: web.AppKey[FederationService] = web.AppKey("federation")

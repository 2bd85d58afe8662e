"""Prometheus metrics of one node app (its own registry: no process-global state)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics"]

# Methods are the client's to choose; past this many keys, look children up.
_MAX_CACHED_CHILDREN = 1000


class Metrics:
    """Request counts and latencies, log size, appends and batches."""

    def __init__(self, *, log_size: Callable[[], float], appended: Callable[[], float]) -> None:
        self.registry = CollectorRegistry()
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.requests = Counter(
            "fabcommons_http_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "fabcommons_http_request_seconds",
            "HTTP request latency by route",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
            registry=self.registry,
        )
        entries = Gauge(
            "fabcommons_log_entries", "Entries in this node's log", registry=self.registry
        )
        entries.set_function(log_size)
        appends = Gauge(
            "fabcommons_log_appended_since_start",
            "Records appended by this process since it started (rate() gives appends/s)",
            registry=self.registry,
        )
        appends.set_function(appended)

    def observe_request(self, request: web.Request, status: int, seconds: float) -> None:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        key = (request.method, route, status)
        children = self._children.get(key)
        if children is None:
            # labels() looks the child up under a lock on every call; keep
            # the pair per (method, route, status), a set that stays small.
            children = (
                self.requests.labels(request.method, route, str(status)),
                self.latency.labels(route),
            )
            if len(self._children) < _MAX_CACHED_CHILDREN:
                self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)

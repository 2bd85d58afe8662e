"""Errors of the node shell, rooted at NodeError (the core's errors live in protocol.errors)."""

from __future__ import annotations

from typing import Any

__all__ = [
    "LogVerificationError",
    "NodeClientError",
    "NodeError",
    "NodeExists",
    "PeerError",
    "PeerRefused",
]


class NodeError(Exception):
    """Root of the node's own errors."""


class NodeExists(NodeError):
    """The data directory already holds a node; nothing was changed."""


class NodeClientError(NodeError):
    """A request another node refused or could not answer."""

    def __init__(self, status: int, problem: dict[str, Any] | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.problem = problem or {}


class LogVerificationError(NodeError):
    """A log failed verification; the message says where and why."""


class PeerError(NodeError):
    """A peer that is down or misbehaves."""


class PeerRefused(PeerError):
    """A peer that cannot be added (unreachable, malformed, ourselves)."""

"""Errors of the protocol core, split by cause.

They carry no HTTP status: the node's middleware maps them to problem+json.
"""

from __future__ import annotations

__all__ = [
    "InvalidCheckpoint",
    "InvalidJSON",
    "InvalidKey",
    "InvalidProof",
    "InvalidRecord",
    "InvalidSignature",
    "ProtocolError",
    "Unauthorised",
]


class ProtocolError(Exception):
    """Root of every error the protocol core raises."""


class InvalidJSON(ProtocolError):
    """Bytes or values outside the I-JSON profile of specs/01-records.md §2."""


class InvalidRecord(ProtocolError):
    """A record, envelope or body that does not follow its schema."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class InvalidKey(ProtocolError):
    """A did, public key, key file or verifier key that cannot be used."""


class InvalidSignature(ProtocolError):
    """A signature that does not verify under the key it claims."""


class InvalidProof(ProtocolError):
    """A Merkle inclusion or consistency proof that does not hold."""


class InvalidCheckpoint(ProtocolError):
    """A signed note or checkpoint that is malformed or not signed by the expected key."""


class Unauthorised(ProtocolError):
    """An author who may not sign this record at this position of the log."""

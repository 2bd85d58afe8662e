"""The fabcommons protocol core: pure, no I/O but key files, no clock.

Canonical JSON (RFC 8785), did:key identities, signed records and envelopes,
RFC 9162 Merkle trees, C2SP checkpoints and cosignatures, and the rules of
who may append what. specs/01-records.md and specs/02-log.md are normative.
"""

from __future__ import annotations

from protocol.authority import AuthorisedEntry, LogAuthority, register_rule
from protocol.canonical import canonicalize, parse
from protocol.checkpoint import Checkpoint, NoteVerifier, open_checkpoint, sign_checkpoint
from protocol.did import Did, did_from_public_key, public_key_from_did
from protocol.errors import (
    InvalidCheckpoint,
    InvalidJSON,
    InvalidKey,
    InvalidProof,
    InvalidRecord,
    InvalidSignature,
    ProtocolError,
    Unauthorised,
)
from protocol.keys import AgentKey, load_key, save_key
from protocol.peers import PeerBlock, PeerFederate
from protocol.records import RECORD_TYPES, Envelope, Record, RecordId, parse_body
from protocol.signing import leaf_bytes, record_id, sign, verify

__all__ = [
    "RECORD_TYPES",
    "AgentKey",
    "AuthorisedEntry",
    "Checkpoint",
    "Did",
    "Envelope",
    "InvalidCheckpoint",
    "InvalidJSON",
    "InvalidKey",
    "InvalidProof",
    "InvalidRecord",
    "InvalidSignature",
    "LogAuthority",
    "NoteVerifier",
    "PeerBlock",
    "PeerFederate",
    "ProtocolError",
    "Record",
    "RecordId",
    "Unauthorised",
    "canonicalize",
    "did_from_public_key",
    "leaf_bytes",
    "load_key",
    "open_checkpoint",
    "parse",
    "parse_body",
    "public_key_from_did",
    "record_id",
    "register_rule",
    "save_key",
    "sign",
    "sign_checkpoint",
    "verify",
]

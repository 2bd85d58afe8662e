"""Record ids, signing input, signing and verification of envelopes, leaf bytes.

specs/01-records.md §5–§6. Verification raises; it never returns a bool.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from protocol.canonical import canonicalize, parse, parse_canonical
from protocol.did import Did, public_key_from_did
from protocol.errors import InvalidJSON, InvalidKey, InvalidRecord, InvalidSignature, ProtocolError
from protocol.keys import AgentKey, verify_signature
from protocol.merkle import leaf_hash
from protocol.records import MAX_LEAF_BYTES, Envelope, Record, RecordId

__all__ = [
    "SIGNING_PREFIX",
    "CheckedLeaf",
    "OpenedLeaf",
    "check_leaves",
    "envelope_from_json",
    "envelope_from_leaf",
    "leaf_bytes",
    "open_leaf",
    "record_bytes",
    "record_id",
    "sign",
    "signing_input",
    "verify",
]

# specs/01-records.md §5: domain separation, so that a record signature can
# never be replayed as a signature over anything else the same key signs.
SIGNING_PREFIX = b"fabcommons-record-v1\n"


def record_bytes(record: Record) -> bytes:
    """JCS(record). Raises InvalidJSON when the body is outside the profile."""
    return canonicalize(record.to_dict())


def record_id(record: Record) -> RecordId:
    """ "sha256:" + lowercase hex SHA-256 of JCS(record)."""
    return RecordId("sha256:" + hashlib.sha256(record_bytes(record)).hexdigest())


def signing_input(record: Record) -> bytes:
    """The exact bytes the author signs."""
    return SIGNING_PREFIX + record_bytes(record)


def sign(record: Record, key: AgentKey) -> Envelope:
    """Sign record with key, which must be the record's author. Raises InvalidRecord."""
    if record.author != key.did:
        raise InvalidRecord("author", "is not the did of the signing key")
    return Envelope(record=record, sig=key.sign(signing_input(record)))


def verify(envelope: Envelope) -> Record:
    """Check the envelope's signature by its author; return the record.

    Raises InvalidSignature, or InvalidRecord when the record cannot be canonicalised.
    """
    try:
        message = signing_input(envelope.record)
    except InvalidJSON as exc:
        raise InvalidRecord("record", str(exc)) from exc
    try:
        verify_signature(public_key_from_did(envelope.record.author), message, envelope.sig)
    except InvalidKey as exc:
        raise InvalidSignature(str(exc)) from exc
    return envelope.record


def leaf_bytes(envelope: Envelope) -> bytes:
    """JCS(envelope): the bytes a log stores and hashes. Raises InvalidRecord if too large."""
    try:
        data = canonicalize(envelope.to_dict())
    except InvalidJSON as exc:
        raise InvalidRecord("record", str(exc)) from exc
    if len(data) > MAX_LEAF_BYTES:
        raise InvalidRecord("envelope", f"larger than {MAX_LEAF_BYTES} bytes")
    return data


def envelope_from_leaf(data: bytes) -> Envelope:
    """Parse a log leaf, which must be exactly JCS(envelope). Raises InvalidRecord."""
    if len(data) > MAX_LEAF_BYTES:
        raise InvalidRecord("envelope", f"larger than {MAX_LEAF_BYTES} bytes")
    try:
        value = parse_canonical(data)
    except InvalidJSON as exc:
        raise InvalidRecord("envelope", str(exc)) from exc
    return Envelope.from_dict(value)


@dataclass(frozen=True, slots=True)
class OpenedLeaf:
    """A log leaf whose form and signature verified."""

    envelope: Envelope
    record_id: RecordId


# JCS sorts "record" before "sig", so a canonical leaf is exactly
# {"record":<JCS(record)>,"sig":"<base64url>"} (specs/01-records.md §4.4).
_LEAF_HEAD = b'{"record":'
_LEAF_SIG = b',"sig":"'


def open_leaf(data: bytes) -> OpenedLeaf:
    """Parse and verify a log leaf in one pass: canonical form, shape, signature.

    The record's JCS bytes are the leaf's own slice, so they are hashed and
    verified without serialising again. Raises InvalidRecord or InvalidSignature.
    """
    envelope = envelope_from_leaf(data)
    cut = data.rfind(_LEAF_SIG)
    if not data.startswith(_LEAF_HEAD) or cut < 0:
        raise InvalidRecord("envelope", "leaf is not {record, sig}")
    jcs_record = data[len(_LEAF_HEAD) : cut]
    try:
        verify_signature(
            public_key_from_did(envelope.record.author), SIGNING_PREFIX + jcs_record, envelope.sig
        )
    except InvalidKey as exc:
        raise InvalidSignature(str(exc)) from exc
    return OpenedLeaf(envelope, RecordId("sha256:" + hashlib.sha256(jcs_record).hexdigest()))


CheckedLeaf = tuple[RecordId, str, Did, str, dict[str, Any], bytes]
"""A leaf that opened, in a compact picklable form: (record id, type, author,
created, body, RFC 9162 leaf hash). The first five are the fields of a
Record that passed its checks (`Record.prevalidated` rebuilds it)."""


def check_leaves(leaves: Sequence[bytes]) -> list[CheckedLeaf | None]:
    """`open_leaf` over many leaves: each one's fields and leaf hash, or None if it does not open.

    What a sync worker process runs; its answer is small to send back (no
    Envelope or Record objects), and None leaves the reason to the caller,
    who opens that leaf again to learn it.
    """
    out: list[CheckedLeaf | None] = []
    for leaf in leaves:
        try:
            opened = open_leaf(leaf)
        except ProtocolError:
            out.append(None)
            continue
        record = opened.envelope.record
        out.append(
            (
                opened.record_id,
                record.type,
                record.author,
                record.created,
                # Record checked that the body is a dict; typed as a Mapping.
                record.body,  # type: ignore[arg-type]
                leaf_hash(leaf),
            )
        )
    return out


def envelope_from_json(data: bytes | str | Any) -> Envelope:
    """Parse an envelope a client sent (any JSON spelling). Raises InvalidRecord."""
    if isinstance(data, bytes | str):
        if len(data) > MAX_LEAF_BYTES * 2:
            raise InvalidRecord("envelope", "request body too large")
        try:
            data = parse(data)
        except InvalidJSON as exc:
            raise InvalidRecord("envelope", str(exc)) from exc
    envelope = Envelope.from_dict(data)
    leaf_bytes(envelope)  # enforces the profile and the size limit
    return envelope

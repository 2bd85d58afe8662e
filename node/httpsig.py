"""RFC 9421 HTTP Message Signatures for agents and peers, via `http-message-signatures`.

A signed request covers `@method`, `@target-uri` and `content-digest`
(RFC 9530, SHA-256 or SHA-512 of the body), with the signature parameters
`created`, `nonce`, `keyid` (the signer's did:key) and `alg="ed25519"`. The
verifier accepts a request created within the window, refuses a nonce seen
before within that window, and returns the signer's did.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import http_message_signatures as hms
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from http_message_signatures import algorithms

from protocol.did import Did, public_key_from_did
from protocol.errors import InvalidKey
from protocol.errors import InvalidSignature as InvalidSignatureError
from protocol.keys import AgentKey, verify_signature

__all__ = [
    "COVERED_COMPONENTS",
    "MemoryNonceCache",
    "NonceCache",
    "NonceCacheFull",
    "RequestSignatureError",
    "sign_request_headers",
    "verify_request",
]

COVERED_COMPONENTS = ("@method", "@target-uri", "content-digest")
_MAX_NONCE_LENGTH = 128


class RequestSignatureError(Exception):
    """A request whose RFC 9421 signature is missing, malformed, stale, replayed or wrong."""


class NonceCacheFull(Exception):
    """The replay cache is full of live nonces; the request must be retried later."""


class NonceCache(Protocol):
    async def remember(
        self, keyid: str, nonce: str, *, created: int, expires: int, now: int
    ) -> bool:
        """Record a nonce; False if seen before and not yet expired."""
        ...


@dataclass
class MemoryNonceCache:
    """A bounded in-process nonce cache, for tools and tests; a node keeps its cache in
    its database (node/store/noncestore.py) so that a restart forgets nothing."""

    max_entries: int = 1_000_000
    _seen: OrderedDict[tuple[str, str], int] = field(default_factory=OrderedDict)

    async def remember(
        self, keyid: str, nonce: str, *, created: int, expires: int, now: int
    ) -> bool:
        # Entries are inserted in arrival order and all live one window, so
        # the oldest are at the front.
        while self._seen:
            oldest_key, oldest_expiry = next(iter(self._seen.items()))
            if oldest_expiry >= now:
                break
            del self._seen[oldest_key]
        key = (keyid, nonce)
        previous = self._seen.get(key)
        if previous is not None and previous >= now:
            return False
        if len(self._seen) >= self.max_entries:
            # Never forget a live nonce: that would reopen the replay window.
            raise NonceCacheFull("too many signed requests in the window; retry shortly")
        self._seen[key] = expires
        return True


@dataclass
class _Message:
    method: str
    url: str
    headers: Any


class _SodiumEd25519(algorithms.ED25519):
    """Ed25519 verified by libsodium, whose checks specs/01-records.md §1.3 pins.

    OpenSSL accepts signatures by small-order keys that libsodium refuses;
    an agent's request must be held to the same rule as its records.
    """

    def verify(self, signature: bytes, message: bytes) -> None:
        try:
            verify_signature(self.public_key.public_bytes_raw(), message, signature)
        except (InvalidSignatureError, InvalidKey) as exc:
            raise hms.InvalidSignature("signature does not verify") from exc


class _DidKeyResolver(hms.HTTPSignatureKeyResolver):
    def __init__(self, private: Ed25519PrivateKey | None = None) -> None:
        self._private = private

    def resolve_public_key(self, key_id: str) -> Ed25519PublicKey:
        try:
            return Ed25519PublicKey.from_public_bytes(public_key_from_did(key_id))
        except InvalidKey as exc:
            raise hms.InvalidSignature(f"keyid is not an Ed25519 did:key: {exc}") from exc

    def resolve_private_key(self, key_id: str) -> Ed25519PrivateKey:
        if self._private is None:
            raise hms.HTTPMessageSignaturesException("no private key")
        return self._private


def sign_request_headers(
    key: AgentKey,
    method: str,
    url: str,
    body: bytes,
    *,
    headers: Mapping[str, str] | None = None,
    now: float | None = None,
) -> dict[str, str]:
    """Return the request headers with Content-Digest, Signature-Input and Signature added."""
    message = _Message(method=method.upper(), url=url, headers=dict(headers or {}))
    signer = hms.HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519,
        key_resolver=_DidKeyResolver(Ed25519PrivateKey.from_private_bytes(key.seed())),
    )
    created = datetime.fromtimestamp(time.time() if now is None else now, tz=UTC)
    signer.sign(
        message,
        key_id=key.did,
        created=created,
        nonce=secrets.token_urlsafe(16),
        label="sig",
        covered_component_ids=COVERED_COMPONENTS,
        body=body,
    )
    return dict(message.headers)


async def verify_request(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    window_s: int,
    nonces: NonceCache,
    now: float | None = None,
) -> Did:
    """Verify an agent-signed request and return the signer's did. Raises RequestSignatureError.

    With body=None (a streamed upload) the signature must still cover
    Content-Digest, and the caller must check the digest against the stream.
    """
    moment = time.time() if now is None else now
    verifier = hms.HTTPMessageVerifier(
        signature_algorithm=_SodiumEd25519, key_resolver=_DidKeyResolver()
    )
    # The library checks `created` against its own clock; our window is both ways.
    verifier.max_clock_skew = timedelta(seconds=window_s)
    message = _Message(method=method.upper(), url=url, headers=headers)
    if "signature-input" not in {k.lower() for k in headers}:
        raise RequestSignatureError("request is not signed (RFC 9421 Signature-Input missing)")
    try:
        results = verifier.verify(
            message,
            max_age=timedelta(seconds=window_s),
            require_components=COVERED_COMPONENTS,
            body=body,
        )
    except hms.HTTPMessageSignaturesException as exc:
        raise RequestSignatureError(f"request signature: {exc}") from exc
    except Exception as exc:  # malformed structured fields and the like
        raise RequestSignatureError("request signature is malformed") from exc
    if len(results) != 1:
        raise RequestSignatureError("exactly one request signature is expected")
    params = results[0].parameters
    created = params.get("created")
    if type(created) is not int or abs(created - moment) > window_s:
        raise RequestSignatureError(f"signature created outside the {window_s} s window")
    nonce = params.get("nonce")
    if not isinstance(nonce, str) or not 8 <= len(nonce) <= _MAX_NONCE_LENGTH:
        raise RequestSignatureError("signature nonce is missing or malformed")
    keyid = params.get("keyid")
    if not isinstance(keyid, str):
        raise RequestSignatureError("signature keyid is missing")
    if not await nonces.remember(
        keyid, nonce, created=created, expires=created + window_s, now=int(moment)
    ):
        raise RequestSignatureError("replayed request (nonce seen before)")
    return Did(keyid)

"""RFC 9421 HTTP Message Signatures for agents and peers, via `http-message-signatures`.

A signed request covers `@method`, `@target-uri` and `content-digest`
(RFC 9530, SHA-256 or SHA-512 of the body), with the signature parameters
`created`, `nonce`, `keyid` (the signer's did:key) and `alg="ed25519"`. The
verifier accepts a request created within the window, refuses a nonce seen
before within that window, and returns the signer's did.

Verification has a fast path for exactly the form the reference signer
produces (one signature; those three components in that order; `created`,
`keyid`, `alg="ed25519"`, `nonce` in that order; one SHA-256 digest; every
value in the form a Structured Fields serialiser writes). It parses the two
fields with one regular expression each and builds the signature base
directly, a fifth of the library's cost. It only ever accepts: anything it
does not recognise, or that fails any of its checks, goes to the library,
which decides (tests/node/test_httpsig_fastpath.py checks, over generated
requests, that the fast path accepts only what the library accepts, with the
same parameters, and builds byte-identical signature bases).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
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

# The fast path's grammar (RFC 9651 as a serialiser writes it): a dictionary
# key; an integer without leading zeros; a string with nothing to escape.
_KEY = r"[a-z*][a-z0-9_.*-]*"
_PLAIN_STRING = r"[\x20\x21\x23-\x5b\x5d-\x7e]*"
_SIGNATURE_INPUT = re.compile(
    rf'({_KEY})=(\("@method" "@target-uri" "content-digest"\);created=(0|[1-9][0-9]{{0,14}})'
    rf';keyid="({_PLAIN_STRING})";alg="ed25519";nonce="({_PLAIN_STRING})")'
)
_SIGNATURE = re.compile(rf"({_KEY})=:([A-Za-z0-9+/]{{86}}==):")
_SHA256_DIGEST = re.compile(r"sha-256=:[A-Za-z0-9+/]{43}=:")
_METHOD = re.compile(r"[A-Z]{1,16}")
_PROFILE_FIELDS = ("signature-input", "signature", "content-digest")


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


@dataclass(frozen=True, slots=True)
class _Profile:
    """A request's signature fields, parsed by the fast path's grammar."""

    signature_base: bytes
    signature: bytes
    content_digest: str
    created: int
    keyid: str
    nonce: str


def _profile_fields(headers: Mapping[str, str]) -> tuple[str, str, str] | None:
    """Signature-Input, Signature and Content-Digest, each from exactly one field line.

    None if one is missing, repeated (under any spelling of its name), or not
    one plain line; the library then combines and normalises the lines itself.
    """
    found: dict[str, str] = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower in _PROFILE_FIELDS:
            if lower in found or "\r" in value or "\n" in value:
                return None
            # RFC 9421 §2.1: a field value without its surrounding white space.
            found[lower] = value.strip(" \t")
    if len(found) != len(_PROFILE_FIELDS):
        return None
    return found["signature-input"], found["signature"], found["content-digest"]


@lru_cache(maxsize=256)
def _target_uri(method: str, url: str) -> str | None:
    """The library's own `@target-uri` value for this URL, if it is one the base may hold.

    Cached: a node sees the same few URLs again and again.
    """
    try:
        resolver = hms.HTTPSignatureComponentResolver(_Message(method, url, {}))  # type: ignore[no-untyped-call]
        value = resolver.get_target_uri()  # type: ignore[no-untyped-call]
    except hms.HTTPMessageSignaturesException:
        return None
    if (
        not isinstance(value, str)
        or not (value.isascii() and value.isprintable())
        or value != value.strip(" ")
    ):
        return None
    return value


@lru_cache(maxsize=4096)
def _did_public_key(keyid: str) -> bytes | None:
    """The Ed25519 key of a did:key, if the library's key resolver accepts it too."""
    try:
        raw = public_key_from_did(keyid)
        Ed25519PublicKey.from_public_bytes(raw)
    except (InvalidKey, ValueError):
        return None
    return raw


def _parse_profile(method: str, url: str, headers: Mapping[str, str]) -> _Profile | None:
    """The request's signature in the reference signer's exact form, or None."""
    fields = _profile_fields(headers)
    if fields is None or _METHOD.fullmatch(method) is None:
        return None
    signature_input, signature_field, content_digest = fields
    params = _SIGNATURE_INPUT.fullmatch(signature_input)
    signed = _SIGNATURE.fullmatch(signature_field)
    if params is None or signed is None or params[1] != signed[1]:
        return None
    if _SHA256_DIGEST.fullmatch(content_digest) is None:
        return None
    target_uri = _target_uri(method, url)
    if target_uri is None:
        return None
    signature = binascii.a2b_base64(signed[2])
    if base64.b64encode(signature).decode("ascii") != signed[2]:
        return None  # non-zero unused bits: not what a serialiser writes
    base = (
        f'"@method": {method}\n"@target-uri": {target_uri}\n'
        f'"content-digest": {content_digest}\n"@signature-params": {params[2]}'
    )
    return _Profile(
        signature_base=base.encode("ascii"),
        signature=signature,
        content_digest=content_digest,
        created=int(params[3]),
        keyid=params[4],
        nonce=params[5],
    )


def _verify_fast(
    method: str, url: str, headers: Mapping[str, str], body: bytes | None, window_s: int
) -> dict[str, Any] | None:
    """The signature's parameters if the fast path can accept the request, else None.

    Every check the library makes on such a request is made here too; None
    means "let the library decide", never "refuse".
    """
    if body is not None and not isinstance(body, bytes):
        return None  # the library refuses anything but bytes
    profile = _parse_profile(method, url, headers)
    if profile is None:
        return None
    # The library's clock check (max_clock_skew = max_age = window_s): not
    # after now + window, not before now - 2 windows, on its own clock.
    clock = time.time()
    if not clock - 2 * window_s <= profile.created <= clock + window_s:
        return None
    if body is not None:
        expected = "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"
        if profile.content_digest != expected:
            return None
    public_key = _did_public_key(profile.keyid)
    if public_key is None:
        return None
    try:
        verify_signature(public_key, profile.signature_base, profile.signature)
    except (InvalidSignatureError, InvalidKey):
        return None
    return {
        "created": profile.created,
        "keyid": profile.keyid,
        "alg": "ed25519",
        "nonce": profile.nonce,
    }


def _verify_with_library(
    method: str, url: str, headers: Mapping[str, str], body: bytes | None, window_s: int
) -> dict[str, Any]:
    """The signature's parameters as the library verifies them. Raises RequestSignatureError."""
    verifier = hms.HTTPMessageVerifier(
        signature_algorithm=_SodiumEd25519, key_resolver=_DidKeyResolver()
    )
    # The library checks `created` against its own clock; our window is both ways.
    verifier.max_clock_skew = timedelta(seconds=window_s)
    message = _Message(method=method, url=url, headers=headers)
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
    return dict(results[0].parameters)


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
    method = method.upper()
    if "signature-input" not in {k.lower() for k in headers}:
        raise RequestSignatureError("request is not signed (RFC 9421 Signature-Input missing)")
    params = _verify_fast(method, url, headers, body, window_s)
    if params is None:
        params = _verify_with_library(method, url, headers, body, window_s)
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

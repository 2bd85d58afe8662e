"""Refusals change nothing: every bad submission to POST /api/v1/records gets a 4xx
problem+json, and afterwards the log's size, checkpoint and leaves are unchanged.

Each case builds one request against a node where ada and grace are members
and ada has at least one record in the log; "stranger" is not a member. The
table runs as subtests on one node per backend.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import rfc8785
from http_message_signatures import HTTPMessageSigner, algorithms

from protocol.did import did_from_public_key
from protocol.signing import leaf_bytes

PATH = "/api/v1/records"


@dataclass
class Ctx:
    node: Any
    ada: Any
    grace: Any
    stranger: Any
    make_envelope: Callable[..., Any]


@dataclass
class Attempt:
    body: bytes
    headers: dict[str, str]
    stream: bool = False  # send the body chunked, without Content-Length


def _signed(ctx: Ctx, key: Any, body: bytes, **kwargs: Any) -> Attempt:
    return Attempt(body, ctx.node.sign_headers(key, PATH, body, **kwargs))


def _profile(ctx: Ctx, key: Any, name: str = "Ada Lovelace") -> bytes:
    return leaf_bytes(ctx.make_envelope(key, body={"display_name": name}))


def _raw_envelope(ctx: Ctx, body_json: str, **record: str) -> bytes:
    """An envelope spelled by hand (so it can hold what JCS cannot), with a random sig."""
    fields = {
        "v": "1",
        "type": '"member.profile"',
        "author": json.dumps(ctx.ada.did),
        "created": '"2025-03-04T05:06:07Z"',
        "body": body_json,
        **record,
    }
    inner = ",".join(f'"{k}":{v}' for k, v in fields.items())
    sig = base64.urlsafe_b64encode(secrets.token_bytes(64)).rstrip(b"=").decode()
    return f'{{"record":{{{inner}}},"sig":"{sig}"}}'.encode()


def _hand_signed(
    ctx: Ctx,
    body: bytes,
    *,
    keyid: str | None = None,
    components: tuple[str, ...] = ("@method", "@target-uri", "content-digest"),
    nonce: bool = True,
    signature: Callable[[bytes], bytes] | None = None,
) -> Attempt:
    """Sign with the http-message-signatures package directly, to vary what is signed."""

    @dataclass
    class _Request:
        method: str
        url: str
        headers: dict[str, str]

    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    request = _Request(
        "POST",
        ctx.node.url(PATH),
        {"Content-Type": "application/json", "Content-Digest": f"sha-256=:{digest}:"},
    )
    signer = HTTPMessageSigner(signature_algorithm=algorithms.ED25519)
    prepared = signer.prepare(
        request,
        key_id=keyid or ctx.ada.did,
        created=datetime.now(UTC),
        nonce=secrets.token_urlsafe(16) if nonce else None,
        covered_component_ids=components,
        use_existing_digest=True,
    )
    sign = signature if signature is not None else ctx.ada.sign
    signer.apply(request, prepared, sign(prepared.signature_base))
    return Attempt(body, request.headers)


async def tampered_body(ctx: Ctx) -> Attempt:
    data = ctx.make_envelope(ctx.ada, body={"display_name": "Ada"}).to_dict()
    data["record"]["body"]["display_name"] = "Mallory"
    return _signed(ctx, ctx.ada, rfc8785.dumps(data))


async def tampered_sig(ctx: Ctx) -> Attempt:
    data = ctx.make_envelope(ctx.ada, body={"display_name": "Ada"}).to_dict()
    sig = bytearray(base64.urlsafe_b64decode(data["sig"] + "=="))
    sig[10] ^= 0x01
    data["sig"] = base64.urlsafe_b64encode(bytes(sig)).rstrip(b"=").decode()
    return _signed(ctx, ctx.ada, rfc8785.dumps(data))


async def tampered_author(ctx: Ctx) -> Attempt:
    # ada's signature, grace named as author, grace signs the request.
    data = ctx.make_envelope(ctx.ada, body={"display_name": "Ada"}).to_dict()
    data["record"]["author"] = ctx.grace.did
    return _signed(ctx, ctx.grace, rfc8785.dumps(data))


async def replayed(ctx: Ctx) -> Attempt:
    attempt = _signed(ctx, ctx.ada, _profile(ctx, ctx.ada, "Ada replayed"))
    first = await ctx.node.request("POST", PATH, data=attempt.body, headers=attempt.headers)
    assert first.status == 201
    return attempt


async def unsigned(ctx: Ctx) -> Attempt:
    body = _profile(ctx, ctx.ada)
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    return Attempt(
        body, {"Content-Type": "application/json", "Content-Digest": f"sha-256=:{digest}:"}
    )


async def signed_by_other_member(ctx: Ctx) -> Attempt:
    return _signed(ctx, ctx.grace, _profile(ctx, ctx.ada))


async def stale_created(ctx: Ctx) -> Attempt:
    return _signed(ctx, ctx.ada, _profile(ctx, ctx.ada), now=time.time() - 301)


async def future_created(ctx: Ctx) -> Attempt:
    # 60 s of margin: how far ahead `created` is shrinks while the request travels.
    return _signed(ctx, ctx.ada, _profile(ctx, ctx.ada), now=time.time() + 360)


async def unadmitted_author(ctx: Ctx) -> Attempt:
    return _signed(ctx, ctx.stranger, _profile(ctx, ctx.stranger, "Stranger"))


async def float_in_body(ctx: Ctx) -> Attempt:
    return _signed(ctx, ctx.ada, _raw_envelope(ctx, '{"display_name":"Ada","height_m":1.5}'))


async def duplicate_keys(ctx: Ctx) -> Attempt:
    return _signed(ctx, ctx.ada, _raw_envelope(ctx, '{"display_name":"Ada","display_name":"Eve"}'))


async def integer_beyond_2_53(ctx: Ctx) -> Attempt:
    return _signed(ctx, ctx.ada, _raw_envelope(ctx, '{"display_name":"Ada","n":9007199254740992}'))


async def lone_surrogate(ctx: Ctx) -> Attempt:
    return _signed(ctx, ctx.ada, _raw_envelope(ctx, '{"display_name":"Ada \\ud800"}'))


async def record_version_2(ctx: Ctx) -> Attempt:
    return _signed(ctx, ctx.ada, _raw_envelope(ctx, '{"display_name":"Ada"}', v="2"))


async def created_not_utc(ctx: Ctx) -> Attempt:
    body = _raw_envelope(ctx, '{"display_name":"Ada"}', created='"2025-03-04T05:06:07+01:00"')
    return _signed(ctx, ctx.ada, body)


async def unknown_type(ctx: Ctx) -> Attempt:
    envelope = ctx.make_envelope(ctx.ada, "widget.frobnicate", {"display_name": "Ada"})
    return _signed(ctx, ctx.ada, leaf_bytes(envelope))


async def unknown_body_field(ctx: Ctx) -> Attempt:
    envelope = ctx.make_envelope(ctx.ada, body={"display_name": "Ada", "colour": "red"})
    return _signed(ctx, ctx.ada, leaf_bytes(envelope))


async def unknown_envelope_field(ctx: Ctx) -> Attempt:
    data = ctx.make_envelope(ctx.ada).to_dict()
    data["cosig"] = data["sig"]
    return _signed(ctx, ctx.ada, rfc8785.dumps(data))


async def oversize(ctx: Ctx) -> Attempt:
    return _signed(ctx, ctx.ada, b" " * (ctx.node.config.max_request_bytes + 1))


async def oversize_chunked(ctx: Ctx) -> Attempt:
    attempt = _signed(ctx, ctx.ada, b" " * (ctx.node.config.max_request_bytes + 1))
    attempt.stream = True
    return attempt


async def wrong_content_digest(ctx: Ctx) -> Attempt:
    signed = _signed(ctx, ctx.ada, _profile(ctx, ctx.ada, "what was signed"))
    return Attempt(_profile(ctx, ctx.ada, "what was sent"), signed.headers)


async def signed_for_other_path(ctx: Ctx) -> Attempt:
    body = _profile(ctx, ctx.ada)
    return Attempt(body, ctx.node.sign_headers(ctx.ada, "/api/v1/blobs", body))


async def keyid_not_a_did_key(ctx: Ctx) -> Attempt:
    return _hand_signed(ctx, _profile(ctx, ctx.ada), keyid="did:web:example.org")


async def digest_not_covered(ctx: Ctx) -> Attempt:
    return _hand_signed(ctx, _profile(ctx, ctx.ada), components=("@method", "@target-uri"))


async def no_nonce(ctx: Ctx) -> Attempt:
    return _hand_signed(ctx, _profile(ctx, ctx.ada), nonce=False)


async def small_order_key_forgery(ctx: Ctx) -> Attempt:
    # The identity point as a public key: R = identity, S = 0 satisfies the
    # verification equation for every message, and OpenSSL accepts it;
    # libsodium (specs/01-records.md §1.3) refuses small-order keys.
    identity_point = b"\x01" + bytes(31)
    return _hand_signed(
        ctx,
        _profile(ctx, ctx.ada),
        keyid=did_from_public_key(identity_point),
        signature=lambda _: identity_point + bytes(32),
    )


async def garbage_json(ctx: Ctx) -> Attempt:
    return _signed(ctx, ctx.ada, b'{"record": {not json')


async def empty_body(ctx: Ctx) -> Attempt:
    return _signed(ctx, ctx.ada, b"")


async def not_utf8(ctx: Ctx) -> Attempt:
    return _signed(ctx, ctx.ada, b'{"record": "\xff\xfe"}')


Builder = Callable[[Ctx], Awaitable[Attempt]]
# (builder, allowed statuses). Where DESIGN.md §3 only says "a 4xx", the table
# pins what the node answers today; JSON that does not parse may be 400 or 422.
CASES: list[tuple[Builder, tuple[int, ...]]] = [
    (tampered_body, (422,)),
    (tampered_sig, (422,)),
    (tampered_author, (422,)),
    (replayed, (401,)),
    (unsigned, (401,)),
    (signed_by_other_member, (403,)),
    (stale_created, (401,)),
    (future_created, (401,)),
    (unadmitted_author, (403,)),
    (float_in_body, (422,)),
    (duplicate_keys, (422,)),
    (integer_beyond_2_53, (422,)),
    (lone_surrogate, (422,)),
    (record_version_2, (422,)),
    (created_not_utc, (422,)),
    (unknown_type, (422,)),
    (unknown_body_field, (422,)),
    (unknown_envelope_field, (422,)),
    (oversize, (413,)),
    (oversize_chunked, (413,)),
    (wrong_content_digest, (401,)),
    (signed_for_other_path, (401,)),
    (keyid_not_a_did_key, (401,)),
    (digest_not_covered, (401,)),
    (no_nonce, (401,)),
    (small_order_key_forgery, (401,)),
    (garbage_json, (400, 422)),
    (empty_body, (400, 422)),
    (not_utf8, (400, 422)),
]


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 64 * 1024):
        yield data[start : start + 64 * 1024]


async def test_refusals_change_nothing(
    node_factory, make_key, make_envelope, check_problem, subtests
):
    # One node serves the whole table: each case checks that its own refusal
    # left the log as it found it.
    node = await node_factory()
    ctx = Ctx(node, make_key("ada"), make_key("grace"), make_key("stranger"), make_envelope)
    await node.admit(ctx.ada.did)
    await node.admit(ctx.grace.did)
    assert (await node.post_envelope(make_envelope(ctx.ada), ctx.ada)).status == 201

    for build, statuses in CASES:
        with subtests.test(build.__name__.replace("_", "-")):
            attempt = await build(ctx)
            before = await node.state()
            data = _chunks(attempt.body) if attempt.stream else attempt.body
            reply = await node.request("POST", PATH, data=data, headers=attempt.headers)
            assert reply.status in statuses, (reply.status, reply.body[:300])
            check_problem(reply, reply.status)
            assert await node.state() == before

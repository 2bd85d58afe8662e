"""Issue 3's acceptance: a client written without any project code is accepted.

The envelope is built with rfc8785 + PyNaCl + hashlib/base64 only, and the
HTTP request is signed with the `http-message-signatures` package only (RFC
9421, alg ed25519, covering @method, @target-uri and content-digest, with
created and nonce; keyid = the author's did:key, computed here). Nothing in
the client code path below imports `protocol` or `node`; the operator's
admission goes through the test node's helper.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import nacl.signing
import rfc8785
from http_message_signatures import HTTPMessageSigner, algorithms

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, rem = divmod(number, 58)
        out = _B58[rem] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def did_key(public_key: bytes) -> str:
    # did:key = "did:key:z" + base58btc(multicodec ed25519-pub 0xed 0x01 ‖ key).
    return "did:key:z" + b58encode(b"\xed\x01" + public_key)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def envelope_bytes(key: nacl.signing.SigningKey, record: dict) -> bytes:
    signature = key.sign(b"fabcommons-record-v1\n" + rfc8785.dumps(record)).signature
    return rfc8785.dumps({"record": record, "sig": b64url(signature)})


@dataclass
class _Request:
    method: str
    url: str
    headers: dict[str, str]


def signed_headers(
    key: nacl.signing.SigningKey, url: str, body: bytes, *, digest: str, created: float
) -> dict[str, str]:
    hasher = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}[digest]
    content_digest = f"{digest}=:{base64.b64encode(hasher(body).digest()).decode()}:"
    request = _Request(
        "POST", url, {"Content-Type": "application/json", "Content-Digest": content_digest}
    )
    signer = HTTPMessageSigner(signature_algorithm=algorithms.ED25519)
    prepared = signer.prepare(
        request,
        key_id=did_key(bytes(key.verify_key)),
        created=datetime.fromtimestamp(created, tz=UTC),
        nonce=secrets.token_urlsafe(16),
        label="sig",
        covered_component_ids=("@method", "@target-uri", "content-digest"),
        use_existing_digest=True,
    )
    signer.apply(request, prepared, key.sign(prepared.signature_base).signature)
    return request.headers


async def test_independent_client_is_accepted_once_admitted(node_factory, check_problem):
    node = await node_factory()
    key = nacl.signing.SigningKey(hashlib.sha256(b"independent client").digest())
    did = did_key(bytes(key.verify_key))
    url = node.url("/api/v1/records")

    def record(name: str) -> dict:
        return {
            "v": 1,
            "type": "member.profile",
            "author": did,
            "created": "2025-06-01T12:00:00.5Z",
            "body": {"display_name": name, "contact": "zoe@example.org"},
        }

    def post(body: bytes, digest: str):
        headers = signed_headers(key, url, body, digest=digest, created=time.time())
        return node.request("POST", "/api/v1/records", data=body, headers=headers)

    # RFC 9530 digests with SHA-256 and with SHA-512, each for its own record.
    cases = [("sha-256", record("Zoë Ünïcode ✓")), ("sha-512", record("Zoë, second profile"))]
    for digest, data in cases:  # well-formed, but the author is not a member yet
        check_problem(await post(envelope_bytes(key, data), digest), 403)
    assert await node.size() == 0

    await node.admit(did)
    for index, (digest, data) in enumerate(cases, start=1):
        body = envelope_bytes(key, data)
        reply = await post(body, digest)
        assert reply.status == 201, reply.body
        record_id = "sha256:" + hashlib.sha256(rfc8785.dumps(data)).hexdigest()
        assert reply.json() == {"id": record_id, "index": index}
        assert await node.leaves(index, index + 1) == [body]
        stored = await node.get(f"/fed/v1/records/{record_id}")
        assert stored.status == 200
        assert stored.json() == {"index": index, "envelope": json.loads(body)}

        again = await post(body, digest)  # a new request (new nonce) for the same envelope
        assert again.status == 200
        assert again.json() == {"id": record_id, "index": index}
    assert await node.size() == 3

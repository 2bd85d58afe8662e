"""Discovery and operations: /.well-known/fabcommons, the checkpoint it binds, /healthz, /metrics.

Expected values are computed here with hashlib, base64 and PyNaCl from the
wire contract (DESIGN.md §3), never by the node's own helpers.
"""

from __future__ import annotations

import base64
import hashlib

import nacl.signing
from prometheus_client.parser import text_string_to_metric_families

from protocol.checkpoint import NoteVerifier, open_checkpoint

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58decode(text: str) -> bytes:
    number = 0
    for ch in text:
        number = number * 58 + _B58.index(ch)
    body = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


async def test_well_known_document_binds_did_vkey_and_checkpoint(node_factory):
    # fresh: init_node migrates an empty database itself, as `fabcommons init` does.
    node = await node_factory(name="Lyon Fab Lab — Atelier 3", fresh=True)
    reply = await node.get("/.well-known/fabcommons")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("application/json")
    doc = reply.json()
    assert set(doc) == {"did", "name", "log", "api", "federation", "software"}
    assert set(doc["log"]) == {"origin", "vkey"}
    assert doc["name"] == "Lyon Fab Lab — Atelier 3"
    assert doc["api"] == "/api/v1"
    assert doc["federation"] == "/fed/v1"
    assert doc["software"]["name"] == "fabcommons"
    assert isinstance(doc["software"]["version"], str)
    assert doc["software"]["version"]
    # node.setup's default origin: "fabcommons/" + the name slugged to [a-z0-9-].
    origin = "fabcommons/lyon-fab-lab-atelier-3"
    assert doc["log"]["origin"] == origin
    assert doc["did"] == node.key.did == node.identity.did

    # vkey = <origin>+<hex SHA-256(origin ‖ LF ‖ 0x01 ‖ key)[:4]>+<base64(0x01 ‖ key)>.
    name, key_hash, material = doc["log"]["vkey"].split("+", 2)
    assert name == origin
    raw = base64.b64decode(material, validate=True)
    assert len(raw) == 33
    assert raw[0] == 0x01
    public_key = raw[1:]
    assert key_hash == hashlib.sha256(origin.encode() + b"\n\x01" + public_key).digest()[:4].hex()

    # did:key:z + base58btc(0xed 0x01 ‖ key): the same key as the vkey's.
    assert doc["did"].startswith("did:key:z6Mk")
    decoded = b58decode(doc["did"].removeprefix("did:key:z"))
    assert decoded == b"\xed\x01" + public_key

    # The checkpoint verifies with that vkey, and independently with PyNaCl.
    note = await node.checkpoint()
    signed = open_checkpoint(note, NoteVerifier.from_vkey(doc["log"]["vkey"]))
    assert signed.checkpoint.origin == origin
    assert signed.checkpoint.size == 0
    assert signed.checkpoint.root_hash == hashlib.sha256(b"").digest()
    text, _, signature_block = note.partition(b"\n\n")
    text += b"\n"
    assert (
        text == f"{origin}\n0\n{base64.b64encode(hashlib.sha256(b'').digest()).decode()}\n".encode()
    )
    dash, key_name, sig_b64 = signature_block.decode().rstrip("\n").split(" ")
    assert dash == "\u2014"
    assert key_name == origin
    sig = base64.b64decode(sig_b64)
    assert sig[:4].hex() == key_hash
    nacl.signing.VerifyKey(public_key).verify(text, sig[4:])


async def test_healthz_reports_log_size(node_factory, make_key):
    node = await node_factory()
    reply = await node.get("/healthz")
    assert reply.status == 200
    assert reply.json() == {"status": "ok", "log_size": 0}
    await node.admit(make_key("ada").did)
    await node.admit(make_key("grace").did)
    assert (await node.get("/healthz")).json() == {"status": "ok", "log_size": 2}


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


async def test_metrics_count_entries_and_requests(node_factory, make_key, make_envelope):
    node = await node_factory()
    ada = make_key("ada")
    await node.admit(ada.did)
    for n in range(3):
        reply = await node.post_envelope(make_envelope(ada, body={"display_name": f"Ada {n}"}), ada)
        assert reply.status == 201
    refused = await node.request("POST", "/api/v1/records", data=b"{}")
    assert refused.status == 401
    for _ in range(2):
        assert (await node.get("/healthz")).status == 200

    reply = await node.get("/metrics")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/plain")
    samples = _samples(reply.body.decode())
    assert samples[("fabcommons_log_entries", frozenset())] == 4
    assert samples[("fabcommons_log_appended_since_start", frozenset())] == 4

    def requests(method: str, route: str, status: str) -> float:
        labels = frozenset({("method", method), ("route", route), ("status", status)})
        return samples.get(("fabcommons_http_requests_total", labels), 0.0)

    assert requests("POST", "/api/v1/records", "201") == 3
    assert requests("POST", "/api/v1/records", "401") == 1
    assert requests("POST", "/api/v1/admin/members", "201") == 1
    assert requests("GET", "/healthz", "200") == 2

"""The worked examples of specs/03-federation.md and specs/08-node-api.md, checked.

Every fenced block whose info string is `<kind> example=<name>` is a test
vector. Each is checked against the reference implementation and against an
independent computation that uses only PyNaCl, hashlib, base64 and rfc8785
(the `_independent` helpers below), so a wrong vector cannot agree with a
wrong implementation. The JSON Schemas of the peer.* types are checked
against protocol/peers.py; every `specs/03-federation.md §N` or
`specs/08-node-api.md §N` cited in protocol/ or node/ must be a heading; the
cross-references between the specs must name existing sections; and the
limits tables of 08 §6 must be the reference's defaults.

The RFC 9421 checks of 08 §2 call node/httpsig.py (no event loop, no DB):
it is the reference of that section.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import importlib
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import jsonschema
import nacl.signing
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from node import httpsig
from node.config import NodeConfig
from protocol import errors
from protocol.authority import LogAuthority
from protocol.checkpoint import (
    ALG_COSIGNATURE_V1,
    Checkpoint,
    NoteVerifier,
    cosign_checkpoint,
    open_checkpoint,
    sign_checkpoint,
    split_note,
    verified_cosignatures,
    verify_cosignature,
)
from protocol.did import did_from_public_key, public_key_from_did
from protocol.errors import InvalidProof, InvalidRecord, ProtocolError, Unauthorised
from protocol.evidence import Evidence, check_evidence
from protocol.keys import AgentKey
from protocol.merkle import implied_old_root, verify_consistency
from protocol.peers import PeerBlock, PeerFederate
from protocol.records import Record, parse_body
from protocol.signing import envelope_from_leaf, record_id, sign, verify

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"
SCHEMAS = SPECS / "schemas"
PEER_TYPES = ("peer.federate", "peer.block")


# --------------------------------------------------------------------------- extraction


@dataclass(frozen=True)
class Example:
    kind: str
    value: str

    def lines(self) -> list[str]:
        # Never str.splitlines(): it also splits on U+2028 and other separators.
        return self.value.split("\n")

    def json(self) -> Any:
        return json.loads(self.value)


_FENCE = re.compile(
    r"^```(?P<kind>[a-z0-9]+) example=(?P<name>[a-z0-9.-]+)\n(?P<body>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)


def _examples(spec: str) -> dict[str, Example]:
    """The example blocks of a spec. A note keeps its final LF; other values drop it."""
    text = (SPECS / spec).read_text(encoding="utf-8")
    found: dict[str, Example] = {}
    for match in _FENCE.finditer(text):
        name, kind, body = match["name"], match["kind"], match["body"]
        assert name not in found, f"{spec}: example {name} is defined twice"
        assert body.endswith("\n")
        found[name] = Example(kind, body if kind == "note" else body[:-1])
    return found


EX3 = _examples("03-federation.md")
EX8 = _examples("08-node-api.md")

EXPECTED_03 = {
    "peer-2-did", "peer-2-vkey", "peer-federate-1", "peer-federate-1-id",
    "peer-block-1", "peer-block-1-id",
    "witness-1-vkey", "peer-2-checkpoint-8", "peer-2-checkpoint-8-cosigned",
    "peer-2-checkpoint-3", "peer-2-checkpoint-4", "peer-2-other-checkpoint-3",
    "peer-2-other-checkpoint-8",
    "evidence-fork-1", "evidence-inconsistent-1", "evidence-inconsistent-2",
    "evidence-refused", "inbox-cosignature-1",
}  # fmt: skip
EXPECTED_08 = {"wellknown-1", "httpsig-1-body", "httpsig-1-signature-base", "httpsig-1-headers"}


def test_every_example_is_checked() -> None:
    """Each spec holds exactly the examples this file checks."""
    assert set(EX3) == EXPECTED_03
    assert set(EX8) == EXPECTED_08
    older = set(_examples("01-records.md")) | set(_examples("02-log.md"))
    assert not (set(EX3) | set(EX8)) & older


# --------------------------------------------------------------------------- independent helpers

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _independent_did(public_key: bytes) -> str:
    number = int.from_bytes(b"\xed\x01" + public_key, "big")
    digits = ""
    while number:
        number, rem = divmod(number, 58)
        digits = _B58[rem] + digits
    return "did:key:z" + digits


def _independent_key_of_did(did: str) -> bytes:
    number = 0
    for ch in did.removeprefix("did:key:z"):
        number = number * 58 + _B58.index(ch)
    raw = number.to_bytes(34, "big")
    assert raw[:2] == b"\xed\x01"
    return raw[2:]


def _seed_key(byte: int) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(bytes([byte]) * 32)


def _public(byte: int) -> bytes:
    return bytes(_seed_key(byte).verify_key)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _lh(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _nh(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1, recursively, from leaf bytes."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return _lh(leaves[0])
    k = _k(len(leaves))
    return _nh(_mth(leaves[:k]), _mth(leaves[k:]))


def _subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    """RFC 9162 §2.1.4.1 SUBPROOF, recursively."""
    if m == len(leaves):
        return [] if complete else [_mth(leaves)]
    k = _k(len(leaves))
    if m <= k:
        return [*_subproof(m, leaves[:k], complete), _mth(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), _mth(leaves[:k])]


def _evidence_proof(m: int, leaves: list[bytes]) -> list[bytes]:
    """03 §6.4: the RFC 9162 proof from m, with MTH(D[0:m]) first when m is a power of two."""
    proof = _subproof(m, leaves, True)
    return [_mth(leaves[:m]), *proof] if m & (m - 1) == 0 else proof


def _implied(m: int, n: int, new_root: bytes, proof: list[bytes]) -> bytes | None:
    """03 §6.4 steps 1-4, transcribed; None where the text says refuse."""
    if not proof or len(proof) > 128 or any(len(h) != 32 for h in proof) or not 0 < m < n:
        return None
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    x1 = x2 = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            x1, x2 = _nh(c, x1), _nh(c, x2)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            x2 = _nh(x2, c)
        fn, sn = fn >> 1, sn >> 1
    return x1 if sn == 0 and x2 == new_root else None


def _key_hash(name: str, alg: int, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public_key).digest()[:4]


def _vkey(name: str, alg: int, public_key: bytes) -> str:
    return f"{name}+{_key_hash(name, alg, public_key).hex()}+{_b64(bytes([alg]) + public_key)}"


def _note(origin: str, size: int, tree_root: bytes, seed_byte: int) -> bytes:
    """A checkpoint note signed independently (02-log §4.3, §5.2)."""
    text = f"{origin}\n{size}\n{_b64(tree_root)}\n".encode()
    signature = _seed_key(seed_byte).sign(text).signature
    key_hash = _key_hash(origin, 1, _public(seed_byte))
    return text + b"\n" + f"\u2014 {origin} {_b64(key_hash + signature)}\n".encode()


NODE_ORIGIN = "fablab.example"
PEER_ORIGIN = "makerspace.example"
NODE_DID = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp"  # 01-records did-1
NODE = AgentKey.from_seed(bytes(32))
MEMBER = AgentKey.from_seed(bytes([1]) * 32)
STRANGER = AgentKey.from_seed(bytes([4]) * 32)
PEER = AgentKey.from_seed(bytes([5]) * 32)

# 03 §6.7: the honest tree is the eight leaves of 02-log §2; the other tree
# differs in leaf 2 only.
_HONEST_HEX = ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
               "606162636465666768696a6b6c6d6e6f")  # fmt: skip
HONEST = [bytes.fromhex(h) for h in _HONEST_HEX]
OTHER = [*HONEST[:2], b"\x11", *HONEST[3:]]


# --------------------------------------------------------------------------- 03 §2 peer records


def test_peer_identity() -> None:
    assert _independent_did(_public(5)) == EX3["peer-2-did"].value == PEER.did
    assert _vkey(PEER_ORIGIN, 1, _public(5)) == EX3["peer-2-vkey"].value
    verifier = NoteVerifier.from_vkey(EX3["peer-2-vkey"].value)
    assert (verifier.name, verifier.public_key) == (PEER_ORIGIN, public_key_from_did(PEER.did))
    assert _independent_did(_public(0)) == NODE_DID == NODE.did


@pytest.mark.parametrize(
    ("name", "record_type", "body_keys"),
    [("peer-federate-1", "peer.federate", {"peer", "url", "vkey"}),
     ("peer-block-1", "peer.block", {"peer", "reason"})],
    ids=["federate", "block"],
)  # fmt: skip
def test_peer_record_examples(name: str, record_type: str, body_keys: set[str]) -> None:
    leaf = EX3[name].value.encode("utf-8")
    data = json.loads(leaf)
    assert rfc8785.dumps(data) == leaf
    record_data = data["record"]
    assert record_data["type"] == record_type
    assert record_data["author"] == NODE_DID
    assert set(record_data["body"]) == body_keys
    assert record_data["body"]["peer"] == EX3["peer-2-did"].value
    jcs = rfc8785.dumps(record_data)
    assert EX3[f"{name}-id"].value == "sha256:" + hashlib.sha256(jcs).hexdigest()
    signature = base64.urlsafe_b64decode(data["sig"] + "==")
    _seed_key(0).verify_key.verify(b"fabcommons-record-v1\n" + jcs, signature)
    assert _schema_ok(record_type, record_data["body"])

    envelope = envelope_from_leaf(leaf)
    record = verify(envelope)
    assert record_id(record) == EX3[f"{name}-id"].value
    assert sign(record, NODE) == envelope
    body = parse_body(record)
    assert isinstance(body, PeerFederate if record_type == "peer.federate" else PeerBlock)
    assert body.to_dict() == record_data["body"]
    LogAuthority(node=NODE_DID).admit_entry(envelope)


def _peer_record(record_type: str, author: AgentKey, **changes: Any) -> Any:
    body: dict[str, Any] = {
        "peer.federate": {"peer": PEER.did, "url": "https://makerspace.example",
                          "vkey": EX3["peer-2-vkey"].value},
        "peer.block": {"peer": PEER.did, "reason": "r"},
    }[record_type]  # fmt: skip
    body.update(changes)
    record = Record(type=record_type, author=author.did, created="2025-01-16T09:30:00Z", body=body)
    return sign(record, author)


@pytest.mark.parametrize("record_type", PEER_TYPES)
def test_only_the_node_key_signs_peer_records(record_type: str) -> None:
    """03 §2.3: the node key only, and never about the node itself; a member cannot."""
    authority = LogAuthority(node=NODE_DID)
    admit = Record(
        type="member.admit", author=NODE_DID, created="2025-01-16T09:00:00Z",
        body={"member": MEMBER.did, "role": "operator"},
    )  # fmt: skip
    authority.admit_entry(sign(admit, NODE))
    for author in (MEMBER, STRANGER, PEER):
        with pytest.raises(Unauthorised):
            authority.admit_entry(_peer_record(record_type, author))
    own = {"peer": NODE_DID}
    if record_type == "peer.federate":
        own["vkey"] = _vkey(NODE_ORIGIN, 1, _public(0))
    with pytest.raises(Unauthorised):
        authority.admit_entry(_peer_record(record_type, NODE, **own))
    authority.admit_entry(_peer_record(record_type, NODE))


def test_federate_vkey_must_be_the_peer_key() -> None:
    """03 §2.1: a vkey of another key, or with a wrong key hash, is refused (body.vkey)."""
    for vkey in (
        _vkey(PEER_ORIGIN, 1, _public(4)),
        EX3["peer-2-vkey"].value.replace("+c5352104+", "+c5352105+"),
    ):
        with pytest.raises(InvalidRecord) as caught:
            PeerFederate.from_dict({"peer": PEER.did, "url": "https://m.example", "vkey": vkey})
        assert caught.value.field == "body.vkey"


def test_federate_vkey_of_a_cosigning_key_is_refused() -> None:
    vkey = _vkey(PEER_ORIGIN, ALG_COSIGNATURE_V1, _public(5))
    with pytest.raises(InvalidRecord):
        PeerFederate.from_dict({"peer": PEER.did, "url": "https://m.example", "vkey": vkey})


# --------------------------------------------------------------------------- 03 §2 schemas


@functools.cache
def _schema(record_type: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / f"{record_type}.json").read_text("utf-8"))
    return loaded


@functools.cache
def _validator(record_type: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(_schema(record_type))


def _schema_ok(record_type: str, body: Any) -> bool:
    return bool(_validator(record_type).is_valid(body))


def _code_ok(record_type: str, body: Any) -> bool:
    record = Record(type=record_type, author=NODE_DID, created="2025-01-15T09:00:00Z", body={})
    object.__setattr__(record, "body", body)
    try:
        parse_body(record)
    except InvalidRecord:
        return False
    return True


def _vkey_rule(body: Mapping[str, Any]) -> bool:
    """03 §2.1, independently: the vkey's key hash holds and its key is the peer's key."""
    name, key_hash, material = body["vkey"].split("+", 2)
    raw = base64.b64decode(material)
    public_key = raw[1:]
    return (
        _key_hash(name, raw[0], public_key).hex() == key_hash
        and raw[0] == 1  # 03 §2.1: a log key is a note key of type 0x01
        and public_key == _independent_key_of_did(body["peer"])
    )


@pytest.mark.parametrize("record_type", PEER_TYPES)
def test_peer_schema_files(record_type: str) -> None:
    schema = _schema(record_type)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["title"] == record_type
    assert schema["$id"] == f"urn:fabcommons:schema:v1:{record_type}"
    assert schema["additionalProperties"] is False
    assert f"(schemas/{record_type}.json)" in (SPECS / "03-federation.md").read_text("utf-8")


_PEER_DID, _OTHER_DID = PEER.did, STRANGER.did
_VK = EX3["peer-2-vkey"].value
_VK_OTHER = _vkey(PEER_ORIGIN, 1, _public(4))
_VK_COSIGN = _vkey(PEER_ORIGIN, 4, _public(5))
_RID = "sha256:" + "ab" * 32
_URL = "https://makerspace.example"
_FED = {"peer": _PEER_DID, "url": _URL, "vkey": _VK}

# (type, body, schema accepts, code accepts)
SCHEMA_CASES: list[tuple[str, dict[str, Any], bool, bool]] = [
    ("peer.federate", _FED, True, True),
    ("peer.federate", {**_FED, "result": _RID}, True, True),
    ("peer.federate", {**_FED, "url": "http://"}, True, True),
    ("peer.federate", {**_FED, "url": "https://" + "x" * 1992}, True, True),
    ("peer.federate", {**_FED, "url": "https://" + "x" * 1993}, False, False),
    ("peer.federate", {**_FED, "url": "ftp://makerspace.example"}, False, False),
    ("peer.federate", {**_FED, "url": "HTTPS://makerspace.example"}, False, False),
    ("peer.federate", {**_FED, "url": ""}, False, False),
    ("peer.federate", {**_FED, "extra": 1}, False, False),
    ("peer.federate", {"peer": _PEER_DID, "url": _URL}, False, False),
    ("peer.federate", {**_FED, "vkey": _VK + "="}, False, False),
    ("peer.federate", {**_FED, "vkey": _VK.replace("+c5352104+", "+C5352104+")}, False, False),
    ("peer.federate", {**_FED, "vkey": "maker space.example" + _VK[18:]}, False, False),
    ("peer.federate", {**_FED, "vkey": None}, False, False),
    ("peer.federate", {**_FED, "result": None}, False, False),
    ("peer.federate", {**_FED, "result": _RID.upper()}, False, False),
    # A schema is necessary, not sufficient (01-records §7.1): these vkeys are
    # well formed, but name another key or carry a wrong key hash (03 §2.1).
    ("peer.federate", {**_FED, "vkey": _VK_OTHER}, True, False),
    ("peer.federate", {**_FED, "vkey": _VK.replace("+c5352104+", "+c5352105+")}, True, False),
    ("peer.federate", {**_FED, "peer": _OTHER_DID}, True, False),
    ("peer.federate", {**_FED, "peer": "did:key:z6Mk" + "1" * 44}, True, False),
    ("peer.block", {"peer": _PEER_DID, "reason": "r"}, True, True),
    ("peer.block", {"peer": _PEER_DID, "reason": "r" * 2000, "result": _RID}, True, True),
    ("peer.block", {"peer": _PEER_DID, "reason": "\U0001f600" * 2000}, True, True),
    ("peer.block", {"peer": _PEER_DID, "reason": "r" * 2001}, False, False),
    ("peer.block", {"peer": _PEER_DID, "reason": ""}, False, False),
    ("peer.block", {"peer": _PEER_DID}, False, False),
    ("peer.block", {"reason": "r"}, False, False),
    ("peer.block", {"peer": _PEER_DID, "reason": "r", "url": _URL}, False, False),
    ("peer.block", {"peer": _PEER_DID + " ", "reason": "r"}, False, False),
    ("peer.block", {"peer": _PEER_DID, "reason": 5}, False, False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("record_type", "body", "schema_ok", "code_ok"),
    SCHEMA_CASES,
    ids=[f"{t}-{i}" for i, (t, *_rest) in enumerate(SCHEMA_CASES)],
)
def test_schema_and_code_decide_alike(
    record_type: str, body: dict[str, Any], schema_ok: bool, code_ok: bool
) -> None:
    assert _schema_ok(record_type, body) is schema_ok
    assert _code_ok(record_type, body) is code_ok


_VALUES = st.sampled_from(
    [_PEER_DID, _OTHER_DID, _RID, _RID.upper(), _URL, "http://", "ftp://x", _VK, _VK_OTHER,
     _VK_COSIGN, _VK + "=", "", "x", "x" * 2000, "x" * 2001, 0, True, None, [], {}]
)  # fmt: skip
_VALID = {"peer": _PEER_DID, "url": _URL, "vkey": _VK, "result": _RID, "reason": "r"}


@st.composite
def _typed_bodies(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A peer type and a body of its members, each valid half of the time, sometimes one
    required member missing or an unknown one added."""
    record_type = draw(st.sampled_from(PEER_TYPES))
    schema = _schema(record_type)
    keys = set(schema["required"])
    keys |= set(draw(st.lists(st.sampled_from(sorted(schema["properties"])), unique=True)))
    if draw(st.integers(0, 9)) == 0:
        keys.discard(draw(st.sampled_from(sorted(keys))))
    if draw(st.integers(0, 9)) == 0:
        keys.add("extra")
    values = {k: st.one_of(st.just(_VALID.get(k, "x")), _VALUES) for k in sorted(keys)}
    return record_type, {k: draw(v) for k, v in values.items()}


@settings(max_examples=150, deadline=None, derandomize=True)
@given(case=_typed_bodies())
def test_code_is_schema_and_the_vkey_rule(case: tuple[str, dict[str, Any]]) -> None:
    """Property: the code accepts a body exactly when the schema does and, for
    peer.federate, the cross-member rule of 03 §2.1 holds."""
    record_type, body = case
    expected = _schema_ok(record_type, body)
    if expected and record_type == "peer.federate":
        expected = _vkey_rule(body)
    assert _code_ok(record_type, body) == expected


# --------------------------------------------------------------------------- 03 §5 witnessing

_NOTES = {
    "peer-2-checkpoint-3": (HONEST, 3),
    "peer-2-checkpoint-4": (HONEST, 4),
    "peer-2-checkpoint-8": (HONEST, 8),
    "peer-2-other-checkpoint-3": (OTHER, 3),
    "peer-2-other-checkpoint-8": (OTHER, 8),
}


@pytest.mark.parametrize("name", sorted(_NOTES))
def test_peer_checkpoints(name: str) -> None:
    leaves, size = _NOTES[name]
    note = EX3[name].value.encode("utf-8")
    assert note == _note(PEER_ORIGIN, size, _mth(leaves[:size]), 5)
    assert note == sign_checkpoint(Checkpoint(PEER_ORIGIN, size, _mth(leaves[:size])), PEER)
    opened = open_checkpoint(note, NoteVerifier.from_vkey(EX3["peer-2-vkey"].value))
    assert (opened.checkpoint.size, opened.checkpoint.root_hash) == (size, _mth(leaves[:size]))


def test_witness_vkey() -> None:
    """03 §5.1: the witness name is the node's origin, its key the node key, type 0x04."""
    expected = _vkey(NODE_ORIGIN, 4, _public(0))
    assert EX3["witness-1-vkey"].value == expected
    assert NoteVerifier(NODE_ORIGIN, NODE.public_key, ALG_COSIGNATURE_V1).vkey == expected


def test_cosignature_inbox_body() -> None:
    """03 §5.6, §7.2.1: the line verifies independently and as the inbox checks it."""
    body = EX3["inbox-cosignature-1"].json()
    assert set(body) == {"kind", "log", "size", "line"}
    assert (body["kind"], body["log"], body["size"]) == ("cosignature", PEER.did, 8)
    line: str = body["line"]
    assert line.endswith("\n")
    assert line.count("\n") == 1
    dash, name, payload_text = line[:-1].split(" ")
    assert (dash, name) == ("\u2014", NODE_ORIGIN)
    payload = base64.b64decode(payload_text, validate=True)
    assert len(payload) == 4 + 8 + 64
    assert payload[:4] == _key_hash(NODE_ORIGIN, 4, _public(0))
    timestamp = int.from_bytes(payload[4:12], "big")
    assert timestamp == 1737025200  # 2025-01-16T11:00:00Z
    text = f"{PEER_ORIGIN}\n8\n{_b64(_mth(HONEST))}\n".encode()
    message = b"cosignature/v1\ntime 1737025200\n" + text
    _seed_key(0).verify_key.verify(message, payload[12:])

    # As node/api/inbox.py checks it: one line after the stored note's text,
    # under (the sender's pinned origin, the sender's key, 0x04).
    stored = EX3["peer-2-checkpoint-8"].value.encode("utf-8")
    stored_text, _ = split_note(stored)
    assert stored_text == text
    _, signatures = split_note(stored_text + b"\n" + line.encode("utf-8"))
    assert len(signatures) == 1
    witness = NoteVerifier(NODE_ORIGIN, public_key_from_did(NODE_DID), ALG_COSIGNATURE_V1)
    assert verify_cosignature(text, signatures[0], witness) == timestamp
    made = cosign_checkpoint(text, NODE_ORIGIN, NODE, timestamp=timestamp)
    assert made.line() == line

    served = EX3["peer-2-checkpoint-8-cosigned"].value.encode("utf-8")
    assert served == stored + line.encode("utf-8")
    opened = open_checkpoint(served, NoteVerifier.from_vkey(EX3["peer-2-vkey"].value))
    assert verified_cosignatures(text, opened.signatures, [witness]) == {NODE.public_key: timestamp}


# --------------------------------------------------------------------------- 03 §6 evidence


def _check(data: Any) -> NoteVerifier:
    return check_evidence(Evidence.from_dict(data))


def test_fork_example() -> None:
    data = EX3["evidence-fork-1"].json()
    assert set(data) == {"kind", "vkey", "note_a", "note_b", "proof"}
    assert (data["kind"], data["vkey"], data["proof"]) == ("fork", EX3["peer-2-vkey"].value, [])
    assert data["note_a"] == EX3["peer-2-checkpoint-3"].value
    assert data["note_b"] == EX3["peer-2-other-checkpoint-3"].value
    assert _mth(HONEST[:3]) != _mth(OTHER[:3])
    verifier = _check(data)
    assert did_from_public_key(verifier.public_key) == PEER.did  # the offender (03 §6.3)
    assert Evidence.from_dict(data).to_dict() == data


@pytest.mark.parametrize(
    ("name", "m"), [("evidence-inconsistent-1", 3), ("evidence-inconsistent-2", 4)]
)
def test_inconsistent_examples(name: str, m: int) -> None:
    data = EX3[name].json()
    assert (data["kind"], data["vkey"]) == ("inconsistent", EX3["peer-2-vkey"].value)
    assert data["note_a"] == EX3[f"peer-2-checkpoint-{m}"].value
    assert data["note_b"] == EX3["peer-2-other-checkpoint-8"].value
    proof = [base64.b64decode(h, validate=True) for h in data["proof"]]
    assert proof == _evidence_proof(m, OTHER)
    other_root = _mth(OTHER)
    # Independently (03 §6.4): the proof leads to the other root and implies the
    # other size-m root, not the signed honest one.
    assert _implied(m, 8, other_root, proof) == _mth(OTHER[:m]) != _mth(HONEST[:m])
    assert implied_old_root(m, 8, other_root, proof) == _mth(OTHER[:m])
    rfc_proof = _subproof(m, OTHER, True)
    with pytest.raises(InvalidProof):
        verify_consistency(m, 8, _mth(HONEST[:m]), other_root, rfc_proof)
    assert did_from_public_key(_check(data).public_key) == PEER.did
    assert Evidence.from_dict(data).to_dict() == data


_REFUSED: list[dict[str, Any]] = EX3["evidence-refused"].json()


@pytest.mark.parametrize("case", _REFUSED, ids=[c["why"] for c in _REFUSED])
def test_evidence_refused(case: Mapping[str, Any]) -> None:
    error = getattr(errors, case["error"])
    assert issubclass(error, ProtocolError)
    with pytest.raises(error):
        _check(case["evidence"])


def test_refused_examples_are_the_cases_described() -> None:
    """The notes of the refused cases are the example notes (or the stranger's one)."""
    by_why = {c["why"]: c["evidence"] for c in _REFUSED}
    notes = {EX3[n].value for n in _NOTES}
    stranger = _note(PEER_ORIGIN, 3, _mth(OTHER[:3]), 4).decode()
    for evidence in by_why.values():
        assert {evidence["note_a"], evidence["note_b"]} <= notes | {stranger}
    assert by_why["note_b is not signed by the log key"]["note_b"] == stranger
    cosign_vkey = by_why["the vkey is a cosignature key (type 0x04)"]["vkey"]
    assert cosign_vkey == _vkey(PEER_ORIGIN, 4, _public(5))
    no_prefix = by_why["a power-of-two old size without the old subtree's hash"]["proof"]
    assert [base64.b64decode(h) for h in no_prefix] == _subproof(4, OTHER, True)
    consistent = by_why["the old checkpoint is a prefix of the new one"]
    proof = [base64.b64decode(h) for h in consistent["proof"]]
    assert _implied(3, 8, _mth(HONEST), proof) == _mth(HONEST[:3])


@functools.cache
def _signed(leaves: tuple[bytes, ...], size: int) -> str:
    return sign_checkpoint(Checkpoint(PEER_ORIGIN, size, _mth(list(leaves[:size]))), PEER).decode()


@settings(max_examples=40, deadline=None, derandomize=True)
@given(data=st.data())
def test_evidence_recipe_proves_every_inconsistency(data: st.DataObject) -> None:
    """Property (03 §6.4, §6.5): for any two trees that differ before size m, the
    recipe's evidence is accepted; for one tree it is refused as consistent."""
    n = data.draw(st.integers(2, 40), label="n")
    m = data.draw(st.integers(1, n - 1), label="m")
    changed = data.draw(st.integers(0, m - 1), label="changed leaf")
    honest = tuple(i.to_bytes(2, "big") for i in range(n))
    other = tuple(b"x" + leaf if i == changed else leaf for i, leaf in enumerate(honest))
    vkey = EX3["peer-2-vkey"].value
    proof = _evidence_proof(m, list(other))
    assert _implied(m, n, _mth(list(other)), proof) == _mth(list(other[:m]))
    evidence = {"kind": "inconsistent", "vkey": vkey, "note_a": _signed(honest, m),
                "note_b": _signed(other, n), "proof": [_b64(h) for h in proof]}  # fmt: skip
    _check(evidence)
    honest_proof = _evidence_proof(m, list(honest))
    consistent = {**evidence, "note_b": _signed(honest, n),
                  "proof": [_b64(h) for h in honest_proof]}  # fmt: skip
    with pytest.raises(InvalidProof):
        _check(consistent)
    fork = {"kind": "fork", "vkey": vkey, "note_a": _signed(honest, m),
            "note_b": _signed(other, m), "proof": []}  # fmt: skip
    _check(fork)


# --------------------------------------------------------------------------- 08 §1 discovery


def test_wellknown_example() -> None:
    doc = EX8["wellknown-1"].json()
    assert set(doc) == {"did", "name", "log", "api", "federation", "software"}
    assert doc["did"] == _independent_did(_public(0))
    assert doc["log"] == {"origin": NODE_ORIGIN, "vkey": _vkey(NODE_ORIGIN, 1, _public(0))}
    assert (doc["api"], doc["federation"]) == ("/api/v1", "/fed/v1")
    assert doc["software"]["name"] == "fabcommons"
    verifier = NoteVerifier.from_vkey(doc["log"]["vkey"])
    assert verifier.public_key == public_key_from_did(doc["did"])  # 03 §1.2 step 2
    assert verifier.name == doc["log"]["origin"]


# --------------------------------------------------------------------------- 08 §2 RFC 9421

_URL_RECORDS = "https://fablab.example/api/v1/records"
_NONCE = "bm9uY2UtMDAwMDAwMQ"
_COVERED = '("@method" "@target-uri" "content-digest")'


def _digest(body: bytes) -> str:
    return f"sha-256=:{_b64(hashlib.sha256(body).digest())}:"


def _independent_headers(
    seed_byte: int,
    url: str,
    body: bytes,
    *,
    created: int,
    nonce: str,
    covered: str = _COVERED,
    extra: str = ';alg="ed25519"',
    method: str = "POST",
    public_key: bytes | None = None,
    signature: bytes | None = None,
) -> tuple[str, dict[str, str]]:
    """RFC 9421 §2.5 signature base and header fields, built by hand (08 §2.1)."""
    did = _independent_did(public_key if public_key is not None else _public(seed_byte))
    params = f'{covered};created={created};keyid="{did}"{extra}'
    if nonce:
        params += f';nonce="{nonce}"'
    components = {"@method": method, "@target-uri": url, "content-digest": _digest(body)}
    lines = [f'"{c}": {v}' for c, v in components.items() if f'"{c}"' in covered]
    base = "\n".join([*lines, f'"@signature-params": {params}'])
    if signature is None:
        signature = _seed_key(seed_byte).sign(base.encode()).signature
    headers = {
        "Content-Type": "application/json",
        "Content-Digest": _digest(body),
        "Signature-Input": f"sig={params}",
        "Signature": f"sig=:{_b64(signature)}:",
    }
    return base, headers


def _verify(url: str, headers: Mapping[str, str], body: bytes, **kwargs: Any) -> str:
    kwargs.setdefault("window_s", 300)
    kwargs.setdefault("nonces", httpsig.MemoryNonceCache())
    return asyncio.run(
        httpsig.verify_request(method="POST", url=url, headers=headers, body=body, **kwargs)
    )


def test_signed_request_example(monkeypatch: pytest.MonkeyPatch) -> None:
    body = EX8["httpsig-1-body"].value.encode("utf-8")
    base, headers = _independent_headers(1, _URL_RECORDS, body, created=1737021600, nonce=_NONCE)
    assert EX8["httpsig-1-signature-base"].value == base
    example_headers = dict(line.split(": ", 1) for line in EX8["httpsig-1-headers"].lines())
    assert example_headers == headers
    # The body is an entry of the log of 01-records §8.4, signed by its author.
    assert verify(envelope_from_leaf(body)).author == MEMBER.did

    # The reference signer makes exactly these fields (given the clock and nonce).
    monkeypatch.setattr(httpsig.secrets, "token_urlsafe", lambda _n: _NONCE)
    made = httpsig.sign_request_headers(
        MEMBER, "POST", _URL_RECORDS, body,
        headers={"Content-Type": "application/json"}, now=1737021600,
    )  # fmt: skip
    assert made == headers
    # The reference verifier accepts them at that time (a window wide enough for
    # the library's own clock check; 08 §2.1 check 4 is tested below).
    assert _verify(_URL_RECORDS, headers, body, window_s=10**10, now=1737021600) == MEMBER.did


def _now_headers(url: str = _URL_RECORDS, offset: int = 0, **kwargs: Any) -> dict[str, str]:
    kwargs.setdefault("nonce", "n" + hashlib.sha256(f"{time.time_ns()}{url}".encode()).hexdigest())
    return _independent_headers(1, url, b"{}", created=int(time.time()) + offset, **kwargs)[1]


@pytest.mark.parametrize("offset", [-290, -1, 0, 1, 290], ids=str)
def test_signed_request_within_the_window(offset: int) -> None:
    assert _verify(_URL_RECORDS, _now_headers(offset=offset), b"{}") == MEMBER.did


@pytest.mark.parametrize("offset", [-310, 310, -10_000], ids=str)
def test_signed_request_outside_the_window(offset: int) -> None:
    """08 §2.1 check 4: 300 s, in both directions."""
    with pytest.raises(httpsig.RequestSignatureError):
        _verify(_URL_RECORDS, _now_headers(offset=offset), b"{}")


_REFUSED_SIGNED = {
    "http scheme (a TLS-terminating proxy, 08 §2.2)": (
        "http://fablab.example/api/v1/records", {}, b"{}"),
    "another host": ("https://fablab.example.org/api/v1/records", {}, b"{}"),
    "another path": ("https://fablab.example/api/v1/blobs", {}, b"{}"),
    "another body": (_URL_RECORDS, {}, b"{ }"),
    "content-digest not covered": (
        _URL_RECORDS, {"covered": '("@method" "@target-uri")'}, b"{}"),
    "target URI not covered": (
        _URL_RECORDS, {"covered": '("@method" "content-digest")'}, b"{}"),
    "another alg": (_URL_RECORDS, {"extra": ';alg="hmac-sha256"'}, b"{}"),
    "an unknown parameter": (_URL_RECORDS, {"extra": ';alg="ed25519";x="1"'}, b"{}"),
    "no nonce": (_URL_RECORDS, {"nonce": ""}, b"{}"),
    "a short nonce": (_URL_RECORDS, {"nonce": "1234567"}, b"{}"),
}  # fmt: skip


@pytest.mark.parametrize("why", sorted(_REFUSED_SIGNED))
def test_signed_request_refused(why: str) -> None:
    url, changes, body = _REFUSED_SIGNED[why]
    headers = _now_headers(**changes)
    with pytest.raises(httpsig.RequestSignatureError):
        _verify(url, headers, body)


def test_signed_request_replay_is_refused() -> None:
    """08 §2.3: the same (keyid, nonce) twice within the window."""
    cache = httpsig.MemoryNonceCache()
    headers = _now_headers()
    assert _verify(_URL_RECORDS, headers, b"{}", nonces=cache) == MEMBER.did
    with pytest.raises(httpsig.RequestSignatureError):
        _verify(_URL_RECORDS, headers, b"{}", nonces=cache)


def test_signed_request_without_alg_is_accepted() -> None:
    """08 §2.1: a signer MUST send alg; the reference verifier accepts its absence."""
    assert _verify(_URL_RECORDS, _now_headers(extra=""), b"{}") == MEMBER.did


def test_signed_request_by_a_small_order_key_is_refused() -> None:
    identity = b"\x01" + bytes(31)  # 01-records §1.3 did-weak
    headers = _now_headers(public_key=identity, signature=identity + bytes(32))
    with pytest.raises(httpsig.RequestSignatureError):
        _verify(_URL_RECORDS, headers, b"{}")


# --------------------------------------------------------------------------- 08 §6 limits


def _section(spec: str, number: str) -> str:
    text = (SPECS / spec).read_text(encoding="utf-8")
    start = re.search(rf"^## §{re.escape(number)}\. .*$", text, re.MULTILINE)
    assert start is not None
    end = re.search(r"^## ", text[start.end() :], re.MULTILINE)
    return text[start.end() : start.end() + end.start()] if end else text[start.end() :]


def _table_rows(text: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in text.split("\n")
        if line.startswith("| ") and not line.startswith("| ---")
    ]


def test_settings_table_is_the_config_defaults() -> None:
    rows = [r for r in _table_rows(_section("08-node-api.md", "6")) if r[0].startswith("`")]
    settings_rows = {r[0].strip("`"): r[1] for r in rows if not r[2].startswith("`")}
    defaults = NodeConfig(data_dir=Path("unused"), name="n", origin="o")
    documented = {f.name for f in fields(NodeConfig)} - {
        "data_dir", "name", "origin", "database_url", "host", "port", "public_url", "log_json",
    }  # fmt: skip
    assert set(settings_rows) == documented
    for name, text in settings_rows.items():
        value = getattr(defaults, name)
        if isinstance(value, bool):
            assert text == str(value), name
        else:
            assert type(value)(text) == value, name


def test_fixed_limits_table_is_the_code() -> None:
    rows = [r for r in _table_rows(_section("08-node-api.md", "6")) if r[2].startswith("`")]
    assert len(rows) >= 9
    for _what, value, where in rows:
        module_name, _, constant = where.strip("`").rpartition(".")
        assert getattr(importlib.import_module(module_name), constant) == int(value), where


# --------------------------------------------------------------------------- citations

_NEW_SPECS = ("03-federation.md", "08-node-api.md")
_HEADING = re.compile(r"^#{2,6} §(\d+(?:\.\d+)*)\.? ", re.MULTILINE)
_CITATION = re.compile(r"specs/(?P<spec>0[38]-[a-z-]+\.md) §(?P<section>\d+(?:\.\d+)*)")


@functools.cache
def _headings(spec: str) -> frozenset[str]:
    return frozenset(_HEADING.findall((SPECS / spec).read_text(encoding="utf-8")))


def _code_citations() -> list[tuple[str, str, str]]:
    found = []
    for package in ("protocol", "node"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
                for match in _CITATION.finditer(line):
                    found.append(
                        (f"{path.relative_to(ROOT)}:{number}", match["spec"], match["section"])
                    )
    return found


CODE_CITATIONS = _code_citations()


def test_the_code_cites_the_new_specs() -> None:
    cited = {(spec, section) for _, spec, section in CODE_CITATIONS}
    assert {("03-federation.md", s) for s in ("2", "3", "6")} <= cited
    assert ("08-node-api.md", "2") in cited


@pytest.mark.parametrize(
    ("where", "spec", "section"), CODE_CITATIONS, ids=[f"{w} §{s}" for w, _, s in CODE_CITATIONS]
)
def test_cited_section_exists(where: str, spec: str, section: str) -> None:
    assert section in _headings(spec), f"{where} cites specs/{spec} §{section}, a missing heading"


# A reference `[<spec name> ]§N` inside a spec: the word before it says which spec.
_REFERENCE = re.compile(r"(?:(?P<before>[\w.`-]+)\s+)?§(?P<section>\d+(?:\.\d+)*)")
_SPEC_NAMES = {"01-records": "01-records.md", "02-log": "02-log.md",
               "03-federation": "03-federation.md", "08-node-api": "08-node-api.md"}  # fmt: skip


def _spec_references(spec: str) -> list[tuple[str, str, str]]:
    text = (SPECS / spec).read_text(encoding="utf-8")
    found = []
    for match in _REFERENCE.finditer(text):
        before = (match["before"] or "").strip("`")
        where = f"{spec}:{text.count(chr(10), 0, match.start()) + 1}"
        if before in _SPEC_NAMES:
            found.append((where, _SPEC_NAMES[before], match["section"]))
        elif not (before.isdigit() or before == "DESIGN.md"):  # RFC n §x, DESIGN.md §x
            found.append((where, spec, match["section"]))
    return found


SPEC_REFERENCES = [r for spec in _NEW_SPECS for r in _spec_references(spec)]


@pytest.mark.parametrize(
    ("where", "spec", "section"),
    SPEC_REFERENCES,
    ids=[f"{w}→{s} §{n}" for w, s, n in SPEC_REFERENCES],
)
def test_spec_reference_exists(where: str, spec: str, section: str) -> None:
    assert section in _headings(spec), f"{where} refers to {spec} §{section}, a missing heading"


@pytest.mark.parametrize("spec", _NEW_SPECS)
def test_sections_are_numbered_in_order(spec: str) -> None:
    text = (SPECS / spec).read_text(encoding="utf-8")
    numbers = [tuple(int(p) for p in h.split(".")) for h in _HEADING.findall(text)]
    assert numbers == sorted(numbers)
    assert len(numbers) == len(set(numbers))
    top = [n[0] for n in numbers if len(n) == 1]
    assert top == list(range(1, len(top) + 1))


def test_readme_lists_the_specs() -> None:
    readme = (SPECS / "README.md").read_text(encoding="utf-8")
    for spec in _NEW_SPECS:
        assert f"[{spec}]({spec})" in readme

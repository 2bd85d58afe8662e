"""The worked examples of specs/01-records.md and specs/02-log.md, checked against protocol/.

Every fenced block whose info string is `<kind> example=<name>` is a test
vector. Each is checked against the reference implementation and, where a
value is computed, also against an independent computation that uses only
rfc8785, PyNaCl, hashlib and base64 (the `_independent` helpers below), so a
wrong vector cannot agree with a wrong implementation. The JSON Schemas in
specs/schemas/ are checked against protocol/membership.py, and every
`specs/01-records.md §N` or `specs/02-log.md §N` that a comment in protocol/
cites must be a heading of that spec.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import nacl.exceptions
import nacl.signing
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import errors
from protocol.authority import LogAuthority
from protocol.canonical import canonicalize, parse
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
from protocol.did import public_key_from_did
from protocol.errors import (
    InvalidCheckpoint,
    InvalidJSON,
    InvalidKey,
    InvalidProof,
    InvalidRecord,
    InvalidSignature,
    Unauthorised,
)
from protocol.keys import AgentKey, load_key, save_key, verify_signature
from protocol.membership import rotation_statement, sign_rotation
from protocol.merkle import (
    EMPTY_ROOT,
    Frontier,
    MemoryHashStore,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
    verify_consistency,
    verify_inclusion,
)
from protocol.records import MAX_LEAF_BYTES, Envelope, Record, b64url_encode, parse_body
from protocol.replay import LogReplay
from protocol.signing import (
    envelope_from_json,
    envelope_from_leaf,
    leaf_bytes,
    open_leaf,
    record_id,
    sign,
    signing_input,
    verify,
)

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"
SCHEMAS = SPECS / "schemas"
CORE_TYPES = ("node.profile", "member.admit", "member.leave", "key.rotate", "member.profile")


# --------------------------------------------------------------------------- extraction


@dataclass(frozen=True)
class Example:
    kind: str
    value: str

    def lines(self) -> list[str]:
        # Never str.splitlines(): it also splits on U+2028 and other separators.
        return self.value.split("\n")

    def hex(self) -> bytes:
        return bytes.fromhex("".join(self.value.split()))

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


EX1 = _examples("01-records.md")
EX2 = _examples("02-log.md")
EX = {**EX1, **EX2}

EXPECTED_01 = {
    "did-1-seed", "did-1-public-key", "did-1-multicodec", "did-1", "did-2", "did-3",
    "did-refused", "did-weak", "did-weak-sig", "keyfile-1",
    "profile-refused", "profile-refused-bytes", "profile-accepted",
    "jcs-1-input", "jcs-1-utf8-hex", "timestamps-valid", "timestamps-invalid",
    "sig-refused", "leaf-not-canonical",
    "record-1", "record-1-jcs", "record-1-id", "record-1-signing-input-sha256",
    "record-1-sig", "record-1-leaf", "record-1-leaf-hash",
    "rotation-1-statement", "rotation-1-sig",
    "log-1-entries", "log-1-ids", "log-1-refused-retired", "log-1-refused-stranger",
}  # fmt: skip
EXPECTED_02 = {
    "rfc6962-leaves", "rfc6962-leaf-hashes", "rfc6962-roots", "rfc6962-inclusion",
    "rfc6962-consistency", "rfc6962-subtrees-8", "rfc6962-frontier-7",
    "log-1-root", "log-1-frontier",
    "checkpoint-body-refused", "checkpoint-body-accepted",
    "checkpoint-1-vkey", "checkpoint-1-key-hash", "checkpoint-1", "note-refused",
    "cosignature-1-vkey", "cosignature-1-message", "cosignature-1-line",
    "checkpoint-1-cosigned",
    "log-1-proof-inclusion", "log-1-proof-consistency", "log-1-record-2",
}  # fmt: skip


def test_every_example_is_checked() -> None:
    """Each spec holds exactly the examples this file checks, and no name is in both."""
    assert set(EX1) == EXPECTED_01
    assert set(EX2) == EXPECTED_02
    assert not set(EX1) & set(EX2)


# --------------------------------------------------------------------------- independent helpers

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _independent_did(public_key: bytes) -> str:
    number = int.from_bytes(b"\xed\x01" + public_key, "big")
    digits = ""
    while number:
        number, rem = divmod(number, 58)
        digits = _B58[rem] + digits
    return "did:key:z" + digits


def _seed_key(byte: int) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(bytes([byte]) * 32)


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


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH, recursively."""
    if len(leaves) == 1:
        return []
    k = _k(len(leaves))
    if m < k:
        return [*_path(m, leaves[:k]), _mth(leaves[k:])]
    return [*_path(m - k, leaves[k:]), _mth(leaves[:k])]


def _subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    """RFC 9162 §2.1.4.1 SUBPROOF, recursively."""
    if m == len(leaves):
        return [] if complete else [_mth(leaves)]
    k = _k(len(leaves))
    if m <= k:
        return [*_subproof(m, leaves[:k], complete), _mth(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), _mth(leaves[:k])]


def _note_key_hash(name: str, alg: int, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public_key).digest()[:4]


def _case_ids(values: list[str]) -> list[str]:
    return [f"{i}:{v[:40]!r}" for i, v in enumerate(values)]


NODE = AgentKey.from_seed(bytes(32))
MEMBER = AgentKey.from_seed(bytes([1]) * 32)
MEMBER_NEXT = AgentKey.from_seed(bytes([2]) * 32)
WITNESS = AgentKey.from_seed(bytes([3]) * 32)
LOG_LEAVES = [line.encode("utf-8") for line in EX["log-1-entries"].lines()]


# --------------------------------------------------------------------------- 01 §1 identities


def test_did_of_the_node_key() -> None:
    seed = EX["did-1-seed"].hex()
    public_key = bytes(nacl.signing.SigningKey(seed).verify_key)
    assert public_key.hex() == EX["did-1-public-key"].value
    assert EX["did-1-multicodec"].hex() == b"\xed\x01" + public_key
    assert _independent_did(public_key) == EX["did-1"].value
    assert AgentKey.from_seed(seed).did == EX["did-1"].value
    assert public_key_from_did(EX["did-1"].value) == public_key
    assert len(EX["did-1"].value) == 56
    assert EX["did-1"].value.startswith("did:key:z6Mk")


@pytest.mark.parametrize(("seed_byte", "name"), [(1, "did-2"), (2, "did-3")], ids=["m1", "m2"])
def test_dids_of_the_member_keys(seed_byte: int, name: str) -> None:
    public_key = bytes(_seed_key(seed_byte).verify_key)
    assert _independent_did(public_key) == EX[name].value
    assert AgentKey.from_seed(bytes([seed_byte]) * 32).did == EX[name].value


@pytest.mark.parametrize("did", EX["did-refused"].lines(), ids=_case_ids(EX["did-refused"].lines()))
def test_did_refused(did: str) -> None:
    with pytest.raises(InvalidKey):
        public_key_from_did(did)


def test_weak_key_signature_is_refused() -> None:
    """01 §1.3: small-order key and R, S = 0: valid for every message under lenient rules."""
    did = EX["did-weak"].value
    sig = base64.urlsafe_b64decode(EX["did-weak-sig"].value + "==")
    identity = b"\x01" + bytes(31)
    assert public_key_from_did(did) == identity  # a well-formed did (§1.2)
    assert sig == identity + bytes(32)  # R is the identity point, S is zero
    for message in (b"", b"anything", b"fabcommons-record-v1\n{}"):
        with pytest.raises(InvalidSignature):
            verify_signature(identity, message, sig)
    record = Record(type="member.profile", author=did, created="2025-01-15T09:00:00Z", body={})
    with pytest.raises(InvalidSignature):
        verify(Envelope(record=record, sig=sig))


def test_key_file_example(tmp_path: Path) -> None:
    pem = EX["keyfile-1"].value + "\n"
    der = base64.b64decode("".join(pem.split("\n")[1:-2]))
    assert der == bytes.fromhex("302e020100300506032b657004220420") + bytes(32)
    written = tmp_path / "node.key"
    save_key(NODE, written)
    assert written.read_text(encoding="ascii") == pem
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    given_file = tmp_path / "given.key"
    given_file.write_text(pem, encoding="ascii")
    given_file.chmod(0o600)
    assert load_key(given_file).did == EX["did-1"].value


@pytest.mark.parametrize(
    ("mode", "accepted"),
    [(0o600, True), (0o400, True), (0o700, True), (0o640, False), (0o604, False),
     (0o610, False), (0o601, False), (0o660, False), (0o644, False)],
    ids=lambda v: oct(v) if isinstance(v, int) and not isinstance(v, bool) else str(v),
)  # fmt: skip
def test_key_file_mode(tmp_path: Path, mode: int, accepted: bool) -> None:
    path = tmp_path / "k.pem"
    path.write_text(EX["keyfile-1"].value + "\n", encoding="ascii")
    os.chmod(path, mode)
    if accepted:
        assert load_key(path).did == EX["did-1"].value
    else:
        with pytest.raises(InvalidKey):
            load_key(path)


# --------------------------------------------------------------------------- 01 §2 profile


@pytest.mark.parametrize(
    "text", EX["profile-refused"].lines(), ids=_case_ids(EX["profile-refused"].lines())
)
def test_profile_refused(text: str) -> None:
    with pytest.raises(InvalidJSON):
        parse(text.encode("utf-8"))


@pytest.mark.parametrize(
    "hex_text",
    EX["profile-refused-bytes"].lines(),
    ids=_case_ids(EX["profile-refused-bytes"].lines()),
)
def test_profile_refused_bytes(hex_text: str) -> None:
    with pytest.raises(InvalidJSON):
        parse(bytes.fromhex(hex_text))


@pytest.mark.parametrize(
    "text", EX["profile-accepted"].lines(), ids=_case_ids(EX["profile-accepted"].lines())
)
def test_profile_accepted(text: str) -> None:
    value = parse(text.encode("utf-8"))
    assert canonicalize(value) == rfc8785.dumps(json.loads(text))


def _nested_arrays(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    "value",
    [1.0, 2**53, -(2**53), "\ud800", "\uffff", {"\U0001fffe": 1}, {1: 2}, _nested_arrays(33)],
    ids=["float", "2^53", "-2^53", "lone-surrogate", "noncharacter", "noncharacter-key",
         "int-key", "depth-33"],
)  # fmt: skip
def test_serialiser_refuses_values_outside_the_profile(value: Any) -> None:
    with pytest.raises(InvalidJSON):
        canonicalize(value)


def test_serialiser_accepts_depth_32() -> None:
    assert canonicalize(_nested_arrays(32)) == b"[" * 32 + b"]" * 32


def test_canonical_form_example() -> None:
    text = EX["jcs-1-input"].value
    expected = EX["jcs-1-utf8-hex"].hex()
    assert rfc8785.dumps(json.loads(text)) == expected
    assert canonicalize(parse(text)) == expected


# --------------------------------------------------------------------------- 01 §3 timestamps


def _record_created(created: str) -> Record:
    return Record(type="member.profile", author=MEMBER.did, created=created, body={})


@pytest.mark.parametrize(
    "created", EX["timestamps-valid"].lines(), ids=_case_ids(EX["timestamps-valid"].lines())
)
def test_timestamp_accepted(created: str) -> None:
    assert _record_created(created).created == created


@pytest.mark.parametrize(
    "created", EX["timestamps-invalid"].lines(), ids=_case_ids(EX["timestamps-invalid"].lines())
)
def test_timestamp_refused(created: str) -> None:
    with pytest.raises(InvalidRecord):
        _record_created(created)


# --------------------------------------------------------------------------- 01 §4–§6 records


def test_record_example() -> None:
    data = EX["record-1"].json()
    jcs = EX["record-1-jcs"].value.encode("utf-8")
    assert rfc8785.dumps(data) == jcs
    record = Record.from_dict(data)
    assert canonicalize(record.to_dict()) == jcs

    assert EX["record-1-id"].value == "sha256:" + hashlib.sha256(jcs).hexdigest()
    assert record_id(record) == EX["record-1-id"].value

    message = b"fabcommons-record-v1\n" + jcs
    assert hashlib.sha256(message).hexdigest() == EX["record-1-signing-input-sha256"].value
    assert signing_input(record) == message

    independent_sig = _seed_key(0).sign(message).signature
    assert _b64url(independent_sig) == EX["record-1-sig"].value
    envelope = sign(record, NODE)
    assert b64url_encode(envelope.sig) == EX["record-1-sig"].value

    leaf = EX["record-1-leaf"].value.encode("utf-8")
    assert rfc8785.dumps({"record": data, "sig": EX["record-1-sig"].value}) == leaf
    assert leaf_bytes(envelope) == leaf
    assert hashlib.sha256(b"\x00" + leaf).hexdigest() == EX["record-1-leaf-hash"].value
    assert leaf_hash(leaf).hex() == EX["record-1-leaf-hash"].value
    assert leaf == b'{"record":' + jcs + b',"sig":"' + EX["record-1-sig"].value.encode() + b'"}'

    assert verify(envelope_from_leaf(leaf)) == record
    opened = open_leaf(leaf)
    assert opened.record_id == EX["record-1-id"].value
    assert opened.envelope == envelope


@pytest.mark.parametrize("sig", EX["sig-refused"].lines(), ids=_case_ids(EX["sig-refused"].lines()))
def test_sig_refused(sig: str) -> None:
    with pytest.raises(InvalidRecord):
        Envelope.from_dict({"record": EX["record-1"].json(), "sig": sig})


@pytest.mark.parametrize(
    "text", EX["leaf-not-canonical"].lines(), ids=_case_ids(EX["leaf-not-canonical"].lines())
)
def test_leaf_must_be_canonical(text: str) -> None:
    """01 §4.3–§4.4: a client may send any spelling; a log holds only the canonical one."""
    with pytest.raises(InvalidRecord):
        envelope_from_leaf(text.encode("utf-8"))
    with pytest.raises(InvalidRecord):
        envelope_from_leaf(EX["record-1-leaf"].value.encode("utf-8") + b"\n")
    assert leaf_bytes(envelope_from_json(text)) == EX["record-1-leaf"].value.encode("utf-8")


def test_leaf_size_limit() -> None:
    """01 §4.3: a leaf of 131072 bytes is accepted, one byte more is refused."""
    assert MAX_LEAF_BYTES == 131072
    sig = bytes(range(64))

    def leaf_of(pad: int) -> tuple[Envelope, bytes]:
        record = Record(
            type="member.profile", author=MEMBER.did, created="2025-01-15T09:00:00Z",
            body={"pad": "x" * pad},
        )  # fmt: skip
        value = {"record": record.to_dict(), "sig": _b64url(sig)}
        return Envelope(record=record, sig=sig), rfc8785.dumps(value)

    base = len(leaf_of(0)[1])
    at_limit, at_limit_bytes = leaf_of(131072 - base)
    assert len(at_limit_bytes) == 131072
    assert leaf_bytes(at_limit) == at_limit_bytes
    assert envelope_from_leaf(at_limit_bytes) == at_limit
    over, over_bytes = leaf_of(131073 - base)
    with pytest.raises(InvalidRecord):
        leaf_bytes(over)
    with pytest.raises(InvalidRecord):
        envelope_from_leaf(over_bytes)


# --------------------------------------------------------------------------- 01 §7 types


def test_rotation_statement_example() -> None:
    statement = EX["rotation-1-statement"].value.encode("utf-8")
    member, member_next = EX["did-2"].value, EX["did-3"].value
    body = {"identity": member, "new_key": member_next, "previous_key": member}
    assert statement == b"fabcommons-key-rotate-v1\n" + rfc8785.dumps(body)
    assert rotation_statement(member, member, member_next) == statement
    independent_sig = _seed_key(2).sign(statement).signature
    assert _b64url(independent_sig) == EX["rotation-1-sig"].value
    assert sign_rotation(member, member, MEMBER_NEXT) == EX["rotation-1-sig"].value


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
    record = Record(type=record_type, author=NODE.did, created="2025-01-15T09:00:00Z", body={})
    object.__setattr__(record, "body", body)
    try:
        parse_body(record)
    except InvalidRecord:
        return False
    return True


def test_schema_files_are_the_core_types() -> None:
    core = {p.stem for p in SCHEMAS.glob("*.json")} & set(CORE_TYPES)
    assert core == set(CORE_TYPES)
    spec = (SPECS / "01-records.md").read_text(encoding="utf-8")
    for record_type in CORE_TYPES:
        schema = _schema(record_type)
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["title"] == record_type
        assert schema["additionalProperties"] is False
        assert f"(schemas/{record_type}.json)" in spec


def test_schemas_accept_the_example_bodies() -> None:
    seen = set()
    for leaf in LOG_LEAVES:
        record = envelope_from_leaf(leaf).record
        assert _schema_ok(record.type, record.body)
        assert _code_ok(record.type, record.body)
        seen.add(record.type)
    assert seen == set(CORE_TYPES) - {"member.leave"}


_DID_A, _DID_B = MEMBER.did, MEMBER_NEXT.did
_RID = "sha256:" + "ab" * 32
_SIG = EX["rotation-1-sig"].value
_SMILE = "\U0001f600"

_ROT = {"identity": _DID_A, "new_key": _DID_B}

# (type, body, schema accepts, code accepts)
SCHEMA_CASES: list[tuple[str, dict[str, Any], bool, bool]] = [
    ("node.profile", {"name": "n", "origin": "o"}, True, True),
    ("node.profile", {"name": "n", "origin": "o", "url": "u"}, True, True),
    ("node.profile", {"name": "n", "origin": "o", "extra": 1}, False, False),
    ("node.profile", {"name": "n"}, False, False),
    ("node.profile", {"name": "", "origin": "o"}, False, False),
    ("node.profile", {"name": "n", "origin": "o", "url": None}, False, False),
    ("node.profile", {"name": "n" * 200, "origin": "o"}, True, True),
    ("node.profile", {"name": "n" * 201, "origin": "o"}, False, False),
    ("node.profile", {"name": _SMILE * 200, "origin": "o"}, True, True),
    ("node.profile", {"name": _SMILE * 201, "origin": "o"}, False, False),
    ("node.profile", {"name": "n", "origin": "o", "url": "u" * 2001}, False, False),
    ("member.admit", {"member": _DID_A, "role": "member"}, True, True),
    ("member.admit", {"member": _DID_A, "role": "operator", "result": _RID}, True, True),
    ("member.admit", {"member": _DID_A}, False, False),
    ("member.admit", {"member": _DID_A, "role": "admin"}, False, False),
    ("member.admit", {"member": _DID_A, "role": ["member"]}, False, False),
    ("member.admit", {"member": _DID_A, "role": {}}, False, False),
    ("member.admit", {"member": _DID_A, "role": "member", "result": _RID.upper()}, False, False),
    ("member.admit", {"member": _DID_A, "role": "member", "result": _RID[:-1]}, False, False),
    ("member.admit", {"member": _DID_A + "\n", "role": "member"}, False, False),
    ("member.admit", {"member": _DID_A, "role": "member", "why": "x"}, False, False),
    # A schema is necessary, not sufficient (01 §7.1): this did matches the
    # pattern but decodes to multicodec 0xed00, which §1.2 refuses.
    ("member.admit", {"member": "did:key:z6Mk" + "1" * 44, "role": "member"}, True, False),
    ("member.leave", {"member": _DID_A}, True, True),
    ("member.leave", {"member": _DID_A, "reason": "r" * 2000, "result": _RID}, True, True),
    ("member.leave", {"member": _DID_A, "reason": ""}, False, False),
    ("member.leave", {"member": _DID_A, "reason": "r" * 2001}, False, False),
    ("member.leave", {"reason": "r"}, False, False),
    ("key.rotate", {**_ROT, "new_key_sig": _SIG}, True, True),
    ("key.rotate", _ROT, False, False),
    ("key.rotate", {**_ROT, "new_key_sig": _SIG + "="}, False, False),
    ("key.rotate", {**_ROT, "new_key_sig": _SIG[:-1] + "B"}, False, False),
    ("key.rotate", {**_ROT, "new_key_sig": _SIG.replace("-", "+")}, False, False),
    ("key.rotate", {**_ROT, "new_key_sig": _SIG, "x": 1}, False, False),
    ("member.profile", {"display_name": "Ada"}, True, True),
    ("member.profile", {"display_name": "Ada", "contact": "c" * 500}, True, True),
    ("member.profile", {"display_name": "Ada", "contact": "c" * 501}, False, False),
    ("member.profile", {"display_name": 5}, False, False),
    ("member.profile", {"display_name": "Ada", "name": "Ada"}, False, False),
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
    [_DID_A, _DID_B, _RID, _RID.upper(), _SIG, _SIG + "=", "member", "operator", "admin",
     "", "x", "x" * 200, "x" * 201, "x" * 500, "x" * 501, "x" * 2000, "x" * 2001,
     _SMILE * 200, _SMILE * 201, 0, 1, True, None, [], {}, ["member"]]
)  # fmt: skip


_VALID = {
    "name": "n", "origin": "o", "url": "u", "member": _DID_A, "role": "member",
    "result": _RID, "reason": "r", "identity": _DID_A, "new_key": _DID_B,
    "new_key_sig": _SIG, "display_name": "Ada", "contact": "c",
}  # fmt: skip


@st.composite
def _typed_bodies(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A core type and a body of its members, each valid half of the time, sometimes one
    required member missing or an unknown one added."""
    record_type = draw(st.sampled_from(CORE_TYPES))
    schema = _schema(record_type)
    keys = set(schema["required"])
    keys |= set(draw(st.lists(st.sampled_from(sorted(schema["properties"])), unique=True)))
    if draw(st.integers(0, 9)) == 0:
        keys.discard(draw(st.sampled_from(sorted(keys))))
    if draw(st.integers(0, 9)) == 0:
        keys.add("extra")
    values = {k: st.one_of(st.just(_VALID.get(k, "x")), _VALUES) for k in sorted(keys)}
    return record_type, {k: draw(v) for k, v in values.items()}


@settings(max_examples=500, deadline=None, derandomize=True)
@given(case=_typed_bodies())
def test_schema_and_code_agree_on_generated_bodies(case: tuple[str, dict[str, Any]]) -> None:
    """Property: over a pool of valid and invalid values, schema and code never disagree."""
    record_type, body = case
    assert _schema_ok(record_type, body) == _code_ok(record_type, body)


# --------------------------------------------------------------------------- 01 §8 authorisation


def test_example_log_replays() -> None:
    authority = LogAuthority(node=EX["did-1"].value)
    replay = LogReplay.start(EX["did-1"].value)
    identities = []
    for leaf, expected_id in zip(LOG_LEAVES, EX["log-1-ids"].lines(), strict=True):
        envelope = envelope_from_leaf(leaf)
        record_jcs = rfc8785.dumps(envelope.to_dict()["record"])
        assert "sha256:" + hashlib.sha256(record_jcs).hexdigest() == expected_id
        assert record_id(envelope.record) == expected_id
        identities.append(authority.admit_entry(envelope).identity)
        assert replay.add(leaf).record_id == expected_id
    node, member, member_next = EX["did-1"].value, EX["did-2"].value, EX["did-3"].value
    assert identities == [node, node, member, member, member]
    assert authority.members == {member: "member"}
    assert authority.current_key == {member: member_next}
    replay.check_root(5, EX["log-1-root"].hex())
    with pytest.raises(InvalidRecord):
        replay.add(LOG_LEAVES[2])  # 01 §6 check 6: a record appears once


@pytest.mark.parametrize(
    ("name", "seed_byte"),
    [("log-1-refused-retired", 1), ("log-1-refused-stranger", 4)],
    ids=["retired", "stranger"],
)
def test_example_log_refusals(name: str, seed_byte: int) -> None:
    authority = LogAuthority(node=EX["did-1"].value)
    for leaf in LOG_LEAVES:
        authority.admit_entry(envelope_from_leaf(leaf))
    leaf = EX[name].value.encode("utf-8")
    envelope = envelope_from_leaf(leaf)
    message = b"fabcommons-record-v1\n" + rfc8785.dumps(envelope.to_dict()["record"])
    _seed_key(seed_byte).verify_key.verify(message, envelope.sig)  # the signature is good
    assert verify(envelope) == envelope.record
    before = authority.to_dict()
    with pytest.raises(Unauthorised):
        authority.admit_entry(envelope)
    assert authority.to_dict() == before


# --------------------------------------------------------------------------- 02 §2–§3 Merkle

RFC_LEAVES = [
    b"" if line == "(empty)" else bytes.fromhex(line) for line in EX["rfc6962-leaves"].lines()
]
RFC_HASHES = [bytes.fromhex(line) for line in EX["rfc6962-leaf-hashes"].lines()]


def _proof_rows(name: str) -> list[tuple[int, int, list[bytes]]]:
    rows = []
    for line in EX[name].lines():
        a, b, *hashes = line.split(" ")
        rows.append((int(a), int(b), [] if hashes == ["-"] else [bytes.fromhex(h) for h in hashes]))
    return rows


def test_rfc6962_leaf_hashes_and_roots() -> None:
    assert len(RFC_LEAVES) == 8
    assert [_lh(leaf) for leaf in RFC_LEAVES] == RFC_HASHES
    assert [leaf_hash(leaf) for leaf in RFC_LEAVES] == RFC_HASHES
    rows = [line.split(" ") for line in EX["rfc6962-roots"].lines()]
    assert [int(n) for n, _ in rows] == list(range(9))
    for n, expected in rows:
        assert _mth(RFC_LEAVES[: int(n)]).hex() == expected
        assert root(RFC_HASHES[: int(n)]).hex() == expected
    assert rows[0][1] == EMPTY_ROOT.hex()


@pytest.mark.parametrize(
    ("index", "size", "proof"), _proof_rows("rfc6962-inclusion"), ids=lambda v: str(v)[:12]
)
def test_rfc6962_inclusion(index: int, size: int, proof: list[bytes]) -> None:
    assert _path(index, RFC_LEAVES[:size]) == proof
    store = MemoryHashStore(RFC_HASHES[:size])
    assert inclusion_proof(index, size, store) == proof
    tree_root = _mth(RFC_LEAVES[:size])
    verify_inclusion(RFC_HASHES[index], index, size, proof, tree_root)
    with pytest.raises(InvalidProof):
        verify_inclusion(RFC_HASHES[index], index, size, [*proof, tree_root], tree_root)


@pytest.mark.parametrize(
    ("old", "new", "proof"), _proof_rows("rfc6962-consistency"), ids=lambda v: str(v)[:12]
)
def test_rfc6962_consistency(old: int, new: int, proof: list[bytes]) -> None:
    assert _subproof(old, RFC_LEAVES[:new], True) == proof
    store = MemoryHashStore(RFC_HASHES[:new])
    assert consistency_proof(old, new, store) == proof
    old_root, new_root = _mth(RFC_LEAVES[:old]), _mth(RFC_LEAVES[:new])
    verify_consistency(old, new, old_root, new_root, proof)
    with pytest.raises(InvalidProof):
        verify_consistency(old, new, new_root if old != new else EMPTY_ROOT, new_root, proof)


def test_stored_subtrees() -> None:
    store = MemoryHashStore(RFC_HASHES)
    rows = [line.split(" ") for line in EX["rfc6962-subtrees-8"].lines()]
    assert len(rows) == 15
    for level_text, index_text, expected in rows:
        level, index = int(level_text), int(index_text)
        start, end = index << level, (index + 1) << level
        assert _mth(RFC_LEAVES[start:end]).hex() == expected
        assert store.read_hashes([(level, index)])[0].hex() == expected


def test_frontiers() -> None:
    expected7 = EX["rfc6962-frontier-7"].hex()
    independent7 = (7).to_bytes(8, "big") + b"".join(
        _mth(RFC_LEAVES[a:b]) for a, b in ((0, 4), (4, 6), (6, 7))
    )
    assert independent7 == expected7
    frontier = Frontier()
    for h in RFC_HASHES[:7]:
        frontier.append(h)
    assert frontier.to_bytes() == expected7
    assert Frontier.from_bytes(expected7).root() == _mth(RFC_LEAVES[:7])

    expected5 = EX["log-1-frontier"].hex()
    log = Frontier()
    for leaf in LOG_LEAVES:
        log.append(leaf_hash(leaf))
    assert log.to_bytes() == expected5
    assert expected5 == (5).to_bytes(8, "big") + _mth(LOG_LEAVES[:4]) + _mth(LOG_LEAVES[4:])
    assert _mth(LOG_LEAVES).hex() == EX["log-1-root"].value
    assert Frontier.from_bytes(expected5).root() == EX["log-1-root"].hex()
    with pytest.raises(ValueError):
        Frontier.from_bytes(expected5 + bytes(32))


# --------------------------------------------------------------------------- 02 §4–§6 notes

ORIGIN = "fablab.example"
WITNESS_NAME = "witness.example/w1"


def _log_verifier() -> NoteVerifier:
    return NoteVerifier.from_vkey(EX["checkpoint-1-vkey"].value)


def test_checkpoint_example() -> None:
    key_hash = _note_key_hash(ORIGIN, 1, NODE.public_key)
    assert key_hash.hex() == EX["checkpoint-1-key-hash"].value
    material = base64.b64encode(b"\x01" + NODE.public_key).decode()
    assert EX["checkpoint-1-vkey"].value == f"{ORIGIN}+{key_hash.hex()}+{material}"
    assert NoteVerifier(ORIGIN, NODE.public_key).vkey == EX["checkpoint-1-vkey"].value

    note = EX["checkpoint-1"].value.encode("utf-8")
    log_root = EX["log-1-root"].hex()
    text = f"{ORIGIN}\n5\n{base64.b64encode(log_root).decode()}\n".encode()
    signature = _seed_key(0).sign(text).signature
    line = f"\u2014 {ORIGIN} {base64.b64encode(key_hash + signature).decode()}\n"
    assert note == text + b"\n" + line.encode("utf-8")

    opened = open_checkpoint(note, _log_verifier())
    assert opened.checkpoint == Checkpoint(ORIGIN, 5, log_root)
    assert sign_checkpoint(Checkpoint(ORIGIN, 5, log_root), NODE) == note


@pytest.mark.parametrize(
    "text",
    EX["checkpoint-body-refused"].json(),
    ids=_case_ids(EX["checkpoint-body-refused"].json()),
)
def test_checkpoint_text_refused(text: str) -> None:
    with pytest.raises(InvalidCheckpoint):
        Checkpoint.from_text(text.encode("utf-8"))


@pytest.mark.parametrize(
    "text",
    EX["checkpoint-body-accepted"].json(),
    ids=_case_ids(EX["checkpoint-body-accepted"].json()),
)
def test_checkpoint_text_accepted(text: str) -> None:
    assert Checkpoint.from_text(text.encode("utf-8")).text() == text.encode("utf-8")


_NOTE_CASES: list[dict[str, str]] = EX["note-refused"].json()


@pytest.mark.parametrize("case", _NOTE_CASES, ids=[c["why"] for c in _NOTE_CASES])
def test_note_refused(case: Mapping[str, str]) -> None:
    error = getattr(errors, case["error"])
    with pytest.raises(error):
        open_checkpoint(case["note"].encode("utf-8"), _log_verifier())


def test_note_limits() -> None:
    """02 §4.1: at most 100 signature lines and 65536 bytes."""
    note = EX["checkpoint-1"].value.encode("utf-8")
    other = f"\u2014 other.example {base64.b64encode(b'abcd' + bytes(64)).decode()}\n".encode()
    open_checkpoint(note + other * 99, _log_verifier())
    with pytest.raises(InvalidCheckpoint):
        open_checkpoint(note + other * 100, _log_verifier())
    text = EX["checkpoint-1"].value.split("\n\n")[0] + "\n"
    long_ext = (text + "x" * 65536 + "\n").encode()
    with pytest.raises(InvalidCheckpoint):
        split_note(long_ext + b"\n" + note.split(b"\n\n")[1])


def test_cosignature_example() -> None:
    witness_public = WITNESS.public_key
    key_hash = _note_key_hash(WITNESS_NAME, 4, witness_public)
    material = base64.b64encode(b"\x04" + witness_public).decode()
    assert EX["cosignature-1-vkey"].value == f"{WITNESS_NAME}+{key_hash.hex()}+{material}"
    witness = NoteVerifier(WITNESS_NAME, witness_public, ALG_COSIGNATURE_V1)
    assert witness.vkey == EX["cosignature-1-vkey"].value
    assert NoteVerifier.from_vkey(EX["cosignature-1-vkey"].value) == witness

    checkpoint_text = EX["checkpoint-1"].value.split("\n\n")[0].encode() + b"\n"
    timestamp = 1737021600
    message = b"cosignature/v1\ntime 1737021600\n" + checkpoint_text
    assert EX["cosignature-1-message"].value.encode() + b"\n" == message
    signature = _seed_key(3).sign(message).signature
    payload = key_hash + timestamp.to_bytes(8, "big") + signature
    line = f"\u2014 {WITNESS_NAME} {base64.b64encode(payload).decode()}"
    assert EX["cosignature-1-line"].value == line

    made = cosign_checkpoint(checkpoint_text, WITNESS_NAME, WITNESS, timestamp=timestamp)
    assert made.line() == line + "\n"
    assert verify_cosignature(checkpoint_text, made, witness) == timestamp

    served = EX["checkpoint-1-cosigned"].value.encode("utf-8")
    assert served == EX["checkpoint-1"].value.encode("utf-8") + line.encode("utf-8") + b"\n"
    opened = open_checkpoint(served, _log_verifier())
    counted = verified_cosignatures(checkpoint_text, opened.signatures, [witness])
    assert counted == {witness_public: timestamp}
    # 02 §6.2: one key under two names, or listed twice, counts once.
    alias = NoteVerifier("witness.example/alias", witness_public, ALG_COSIGNATURE_V1)
    assert verified_cosignatures(checkpoint_text, opened.signatures, [witness, alias, witness]) == {
        witness_public: timestamp
    }


# --------------------------------------------------------------------------- 02 §7 HTTP forms


def _b64_list(values: list[str]) -> list[bytes]:
    return [base64.b64decode(v, validate=True) for v in values]


def test_http_proof_forms() -> None:
    store = MemoryHashStore([leaf_hash(leaf) for leaf in LOG_LEAVES])
    log_root = EX["log-1-root"].hex()

    inclusion = EX["log-1-proof-inclusion"].json()
    assert set(inclusion) == {"leaf_index", "tree_size", "hashes"}
    hashes = _b64_list(inclusion["hashes"])
    assert (inclusion["leaf_index"], inclusion["tree_size"]) == (2, 5)
    assert hashes == _path(2, LOG_LEAVES) == inclusion_proof(2, 5, store)
    verify_inclusion(leaf_hash(LOG_LEAVES[2]), 2, 5, hashes, log_root)

    consistency = EX["log-1-proof-consistency"].json()
    assert set(consistency) == {"from", "to", "hashes"}
    hashes = _b64_list(consistency["hashes"])
    assert (consistency["from"], consistency["to"]) == (2, 5)
    assert hashes == _subproof(2, LOG_LEAVES, True) == consistency_proof(2, 5, store)
    verify_consistency(2, 5, _mth(LOG_LEAVES[:2]), log_root, hashes)


def test_http_record_form_and_entries() -> None:
    form = EX["log-1-record-2"].json()
    assert set(form) == {"index", "envelope"}
    assert form["index"] == 2
    assert rfc8785.dumps(form["envelope"]) == LOG_LEAVES[2]
    envelope = Envelope.from_dict(form["envelope"])
    assert record_id(envelope.record) == EX["log-1-ids"].lines()[2]
    for leaf in LOG_LEAVES:
        assert b"\n" not in leaf
        assert len(leaf) <= MAX_LEAF_BYTES
        assert leaf_bytes(envelope_from_leaf(leaf)) == leaf


# --------------------------------------------------------------------------- citations

_SPEC_FILES = ("01-records.md", "02-log.md")
_HEADING = re.compile(r"^#{2,6} §(\d+(?:\.\d+)*)\.? ", re.MULTILINE)
_CITATION = re.compile(
    r"specs/(?P<spec>0[12]-[a-z-]+\.md) §(?P<first>\d+(?:\.\d+)*)"
    r"(?:\s*[–-]\s*§?(?P<last>\d+))?"
)


def _headings(spec: str) -> list[str]:
    return _HEADING.findall((SPECS / spec).read_text(encoding="utf-8"))


def _citations() -> list[tuple[str, str, str]]:
    found = []
    for path in sorted((ROOT / "protocol").rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
            for match in _CITATION.finditer(line):
                where = f"{path.relative_to(ROOT)}:{number}"
                spec, first, last = match["spec"], match["first"], match["last"]
                if last is None:
                    found.append((where, spec, first))
                else:
                    for section in range(int(first), int(last) + 1):
                        found.append((where, spec, str(section)))
    return found


CITATIONS = _citations()


def test_protocol_cites_the_specs() -> None:
    cited = {(spec, section) for _, spec, section in CITATIONS}
    assert ("01-records.md", "2") in cited
    assert ("01-records.md", "7.5") in cited
    assert ("02-log.md", "5") in cited


@pytest.mark.parametrize(
    ("where", "spec", "section"), CITATIONS, ids=[f"{w} §{s}" for w, _, s in CITATIONS]
)
def test_cited_section_exists(where: str, spec: str, section: str) -> None:
    assert section in _headings(spec), (
        f"{where} cites specs/{spec} §{section}, which has no heading"
    )


@pytest.mark.parametrize("spec", _SPEC_FILES)
def test_sections_are_numbered_in_order(spec: str) -> None:
    numbers = [tuple(int(p) for p in h.split(".")) for h in _headings(spec)]
    assert numbers == sorted(numbers)
    assert len(numbers) == len(set(numbers))
    top = [n[0] for n in numbers if len(n) == 1]
    assert top == list(range(1, len(top) + 1))

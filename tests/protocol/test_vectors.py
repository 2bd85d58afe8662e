"""specs/vectors/records.json: the project reproduces every case, and so does an
independent implementation that knows only specs/01-records.md.

The independent half (`test_independent_*`) uses rfc8785, PyNaCl, hashlib,
base64 and json and nothing from `protocol`: the project's modules are imported
only inside the `test_project_*` functions.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any

import nacl.signing
import pytest
import rfc8785

VECTORS_DIR = Path(__file__).resolve().parents[2] / "specs" / "vectors"
VECTORS = json.loads((VECTORS_DIR / "records.json").read_text(encoding="utf-8"))
CASES: list[dict[str, Any]] = VECTORS["cases"]
IDS = [case["name"] for case in CASES]

# --- an independent implementation of specs/01-records.md ---------------------------------

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _b58encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, rem = divmod(number, 58)
        out = _B58[rem] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def _did(seed: bytes) -> str:
    """§1.2: did:key:z ‖ base58btc(0xED 0x01 ‖ public key)."""
    public = bytes(nacl.signing.SigningKey(seed).verify_key)
    return "did:key:z" + _b58encode(b"\xed\x01" + public)


def _b64url(data: bytes) -> str:
    """§4.2: base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _independent(case: dict[str, Any]) -> dict[str, str]:
    """Everything a case states, computed from its seed and record alone."""
    seed = bytes.fromhex(case["seed"])
    record = case["record"]
    jcs = rfc8785.dumps(record)
    signing_input = b"fabcommons-record-v1\n" + jcs  # §5.2
    sig = nacl.signing.SigningKey(seed).sign(signing_input).signature
    leaf = rfc8785.dumps({"record": record, "sig": _b64url(sig)})  # §4.3
    return {
        "author": _did(seed),
        "jcs_hex": jcs.hex(),
        "id": "sha256:" + hashlib.sha256(jcs).hexdigest(),  # §5.1
        "signing_input_hex": signing_input.hex(),
        "sig": _b64url(sig),
        "leaf": leaf.decode("utf-8"),
    }


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_independent_implementation_reproduces(case: dict[str, Any]) -> None:
    assert case["seed"] == hashlib.sha256(case["name"].encode("utf-8")).hexdigest()
    expected = _independent(case)
    assert case["record"]["author"] == expected["author"]
    for field in ("jcs_hex", "id", "signing_input_hex", "sig", "leaf"):
        assert case[field] == expected[field], field
    # §4.4: a canonical leaf is {"record": ‖ JCS(record) ‖ ,"sig":" ‖ sig ‖ "}.
    jcs = bytes.fromhex(case["jcs_hex"])
    assert case["leaf"].encode() == b'{"record":' + jcs + b',"sig":"' + case["sig"].encode() + b'"}'
    public = bytes(nacl.signing.SigningKey(bytes.fromhex(case["seed"])).verify_key)
    signature = base64.urlsafe_b64decode(case["sig"] + "==")
    nacl.signing.VerifyKey(public).verify(bytes.fromhex(case["signing_input_hex"]), signature)


@pytest.mark.parametrize("case", [c for c in CASES if "member_seed" in c], ids=lambda c: c["name"])
def test_independent_member_dids(case: dict[str, Any]) -> None:
    name = case["name"]
    assert case["member_seed"] == hashlib.sha256((name + "/member").encode()).hexdigest()
    assert case["record"]["body"]["member"] == _did(bytes.fromhex(case["member_seed"]))


@pytest.mark.parametrize("case", [c for c in CASES if "new_key_seed" in c], ids=lambda c: c["name"])
def test_independent_rotation_statement(case: dict[str, Any]) -> None:
    # §7.5: the new key signs "fabcommons-key-rotate-v1" ‖ LF ‖
    # JCS({identity, new_key, previous_key}), previous_key being the author.
    name, record = case["name"], case["record"]
    new_seed = bytes.fromhex(case["new_key_seed"])
    assert case["new_key_seed"] == hashlib.sha256((name + "/new").encode()).hexdigest()
    body = record["body"]
    assert body["new_key"] == _did(new_seed)
    assert body["identity"] == record["author"]
    statement = b"fabcommons-key-rotate-v1\n" + rfc8785.dumps(
        {"identity": body["identity"], "new_key": body["new_key"], "previous_key": record["author"]}
    )
    assert body["new_key_sig"] == _b64url(
        nacl.signing.SigningKey(new_seed).sign(statement).signature
    )


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [k, *_strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def _ints(value: Any) -> set[int]:
    if isinstance(value, bool):
        return set()
    if isinstance(value, int):
        return {value}
    if isinstance(value, dict):
        return set().union(*(_ints(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_ints(v) for v in value))
    return set()


def test_vectors_cover_the_required_cases() -> None:
    assert len(CASES) >= 12
    assert "provenance" in VECTORS
    assert len({c["name"] for c in CASES}) == len(CASES)
    bodies = [c["record"]["body"] for c in CASES]
    texts = [s for b in bodies for s in _strings(b)]
    keys = [k for b in bodies for k in _strings(list(b.keys()))]
    types = {c["record"]["type"] for c in CASES}
    assert {"member.profile", "member.admit", "key.rotate"} <= types
    assert any(ch in "\u00e9\u00eb\u00fc\u00c7" for t in texts for ch in t), "accents"
    assert any("\u4e00" <= ch <= "\u9fff" for t in texts for ch in t), "CJK"
    assert any(ord(ch) > 0xFFFF for t in texts for ch in t), "astral value"
    astral_key_bodies = [b for b in bodies if any(ord(ch) > 0xFFFF for k in b for ch in k)]
    assert astral_key_bodies, "astral key"
    assert any("\u2028" in t for t in texts), "U+2028"
    assert any(_depth(b) >= 4 for b in bodies), "nested objects and arrays"
    assert any(isinstance(v, list) for b in bodies for v in b.values()), "arrays"
    assert {} in bodies, "empty body"
    ints = set().union(*(_ints(b) for b in bodies))
    assert {2**53 - 1, -(2**53 - 1)} <= ints, "integer limits"
    assert any('"' in t for t in texts), "quote"
    assert any("\\" in t for t in texts), "backslash"
    assert any(any(ord(ch) < 0x20 for ch in t) for t in texts), "control characters"
    assert any(ord(ch) < 0x20 for k in keys for ch in k), "escaped key"
    admit = next(c for c in CASES if c["record"]["type"] == "member.admit")
    assert admit["record"]["body"]["role"] in {"member", "operator"}


# --- the project ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_project_reproduces(case: dict[str, Any]) -> None:
    from protocol.keys import AgentKey
    from protocol.records import RECORD_TYPES, Record, b64url_decode, parse_body
    from protocol.signing import (
        envelope_from_leaf,
        leaf_bytes,
        open_leaf,
        record_bytes,
        record_id,
        sign,
        signing_input,
        verify,
    )

    key = AgentKey.from_seed(bytes.fromhex(case["seed"]))
    record = Record.from_dict(case["record"])
    assert record.author == key.did
    assert record_bytes(record).hex() == case["jcs_hex"]
    assert record_id(record) == case["id"]
    assert signing_input(record).hex() == case["signing_input_hex"]
    envelope = sign(record, key)
    assert envelope.sig == b64url_decode(case["sig"])
    leaf = leaf_bytes(envelope)
    assert leaf == case["leaf"].encode("utf-8")
    assert verify(envelope_from_leaf(leaf)) == record
    opened = open_leaf(leaf)
    assert opened.record_id == case["id"]
    assert opened.envelope == envelope
    if record.type in RECORD_TYPES:
        assert parse_body(record).to_dict() == case["record"]["body"]
    else:
        assert record.type.startswith("vector.")


@pytest.mark.parametrize("case", [c for c in CASES if "new_key_seed" in c], ids=lambda c: c["name"])
def test_project_rotation_signature(case: dict[str, Any]) -> None:
    from protocol.keys import AgentKey
    from protocol.membership import sign_rotation

    body = case["record"]["body"]
    new_key = AgentKey.from_seed(bytes.fromhex(case["new_key_seed"]))
    assert sign_rotation(body["identity"], case["record"]["author"], new_key) == body["new_key_sig"]


def test_generator_reproduces_the_file() -> None:
    spec = importlib.util.spec_from_file_location("make_records", VECTORS_DIR / "make_records.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.render(module.build()) == (VECTORS_DIR / "records.json").read_text("utf-8")

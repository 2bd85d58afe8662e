"""protocol.records and protocol.signing: record and envelope shapes, ids, signatures, leaves.

Expected bytes are computed here independently of the code under test, with
rfc8785, hashlib, base64 and PyNaCl, following DESIGN.md §3.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from typing import Any

import nacl.signing
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.errors import InvalidJSON, InvalidRecord, InvalidSignature, ProtocolError
from protocol.keys import AgentKey
from protocol.records import MAX_LEAF_BYTES, Envelope, Record
from protocol.signing import (
    envelope_from_json,
    envelope_from_leaf,
    leaf_bytes,
    open_leaf,
    record_bytes,
    record_id,
    sign,
    signing_input,
    verify,
)


def seed_of(name: str) -> bytes:
    return hashlib.sha256(name.encode("utf-8")).digest()


KEY = AgentKey.from_seed(seed_of("records/author"))
OTHER = AgentKey.from_seed(seed_of("records/other"))


def _record_dict(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "v": 1,
        "type": "member.profile",
        "author": KEY.did,
        "created": "2025-01-02T03:04:05Z",
        "body": {"display_name": "Ada"},
    }
    data.update(changes)
    return data


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# --- shape ----------------------------------------------------------------------

RECORD_SHAPE_REFUSALS = [
    ("v-0", {"v": 0}),
    ("v-2", {"v": 2}),
    ("v-string", {"v": "1"}),
    ("v-true", {"v": True}),
    ("v-float", {"v": 1.0}),
    ("v-null", {"v": None}),
    ("type-empty", {"type": ""}),
    ("type-uppercase", {"type": "Member.profile"}),
    ("type-uppercase-part", {"type": "member.Profile"}),
    ("type-double-dot", {"type": "member..profile"}),
    ("type-leading-dot", {"type": ".member"}),
    ("type-trailing-dot", {"type": "member."}),
    ("type-digit-first", {"type": "1member"}),
    ("type-space", {"type": "member profile"}),
    ("type-hyphen", {"type": "member-profile"}),
    ("type-non-ascii", {"type": "m\u00e9mber"}),
    ("type-trailing-newline", {"type": "member.profile\n"}),
    ("type-65-chars", {"type": "a" * 65}),
    ("type-not-string", {"type": 5}),
    ("author-empty", {"author": ""}),
    ("author-secp256k1", {"author": "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme"}),
    ("author-did-web", {"author": "did:web:example.com"}),
    ("author-hex-key", {"author": KEY.public_key.hex()}),
    ("author-trailing-space", {"author": KEY.did + " "}),
    ("author-not-string", {"author": 7}),
    ("created-offset", {"created": "2025-01-02T03:04:05+00:00"}),
    ("created-offset-after-z", {"created": "2025-01-02T03:04:05Z+00:00"}),
    ("created-no-z", {"created": "2025-01-02T03:04:05"}),
    ("created-lowercase-z", {"created": "2025-01-02T03:04:05z"}),
    ("created-lowercase-t", {"created": "2025-01-02t03:04:05Z"}),
    ("created-space", {"created": "2025-01-02 03:04:05Z"}),
    ("created-month-13", {"created": "2025-13-01T00:00:00Z"}),
    ("created-month-0", {"created": "2025-00-01T00:00:00Z"}),
    ("created-feb-30", {"created": "2025-02-30T00:00:00Z"}),
    ("created-feb-29-non-leap", {"created": "2025-02-29T00:00:00Z"}),
    ("created-day-0", {"created": "2025-01-00T00:00:00Z"}),
    ("created-hour-24", {"created": "2025-01-02T24:00:00Z"}),
    ("created-minute-60", {"created": "2025-01-02T03:60:00Z"}),
    ("created-second-60", {"created": "2025-01-02T03:04:60Z"}),
    ("created-year-0", {"created": "0000-01-01T00:00:00Z"}),
    ("created-short-month", {"created": "2025-1-02T03:04:05Z"}),
    ("created-basic-format", {"created": "20250102T030405Z"}),
    ("created-no-seconds", {"created": "2025-01-02T03:04Z"}),
    ("created-empty-fraction", {"created": "2025-01-02T03:04:05.Z"}),
    ("created-7-digit-fraction", {"created": "2025-01-02T03:04:05.1234567Z"}),
    ("created-comma-fraction", {"created": "2025-01-02T03:04:05,5Z"}),
    ("created-date-only", {"created": "2025-01-02"}),
    ("created-trailing-newline", {"created": "2025-01-02T03:04:05Z\n"}),
    ("created-trailing-space", {"created": "2025-01-02T03:04:05Z "}),
    ("created-plus-year", {"created": "+2025-01-02T03:04:05Z"}),
    ("created-5-digit-year", {"created": "12025-01-02T03:04:05Z"}),
    ("created-offset-plus-one", {"created": "2025-01-02T04:04:05+01:00"}),
    # specs/01-records.md §3: DIGIT is ASCII 0-9 only.
    ("created-arabic-indic-digits", {"created": "\u0662\u0660\u0662\u0665-01-02T03:04:05Z"}),
    ("created-fullwidth-digits", {"created": "2025-01-02T03:04:0\uff15Z"}),
    ("created-fullwidth-year", {"created": "\uff12\uff10\uff12\uff15-01-02T03:04:05Z"}),
    ("created-number", {"created": 1735787045}),
    ("body-list", {"body": []}),
    ("body-string", {"body": "x"}),
    ("body-null", {"body": None}),
]


@pytest.mark.parametrize(
    "changes", [c[1] for c in RECORD_SHAPE_REFUSALS], ids=[c[0] for c in RECORD_SHAPE_REFUSALS]
)
def test_record_shape_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidRecord) as info:
        Record.from_dict(_record_dict(**changes))
    assert info.value.field == next(iter(changes))


@pytest.mark.parametrize(
    "created",
    [
        "2025-01-02T03:04:05Z",
        "2024-02-29T23:59:59Z",
        "2025-01-02T03:04:05.5Z",
        "2025-01-02T03:04:05.123456Z",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999Z",
    ],
)
def test_record_created_accepted(created: str) -> None:
    assert Record.from_dict(_record_dict(created=created)).created == created


@pytest.mark.parametrize("key", ["v", "type", "author", "created", "body"])
def test_record_missing_key_refused(key: str) -> None:
    data = _record_dict()
    del data[key]
    with pytest.raises(InvalidRecord):
        Record.from_dict(data)


@pytest.mark.parametrize("key", ["id", "sig", "V", "", "signature"])
def test_record_extra_key_refused(key: str) -> None:
    with pytest.raises(InvalidRecord):
        Record.from_dict({**_record_dict(), key: "x"})


@pytest.mark.parametrize("data", [[], None, "record", 1, [("v", 1)]], ids=repr)
def test_record_not_an_object_refused(data: Any) -> None:
    with pytest.raises(InvalidRecord):
        Record.from_dict(data)


def test_record_from_dict_does_not_mutate_and_round_trips() -> None:
    data = _record_dict(body={"display_name": "Ada", "nested": {"a": [1, 2]}})
    before = copy.deepcopy(data)
    record = Record.from_dict(data)
    assert data == before
    assert record.to_dict() == data
    with pytest.raises(AttributeError):
        record.type = "node.profile"  # type: ignore[misc]


# A signature whose standard base64 has '+' and '/' (so its base64url has '-' and '_').
_SIG = b"\xfb\xff" * 32
_SIG_B64URL = _b64url(_SIG)
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# 64 bytes take 86 characters; the last one carries 4 padding bits, so
# flipping its lowest bit spells the same bytes non-canonically.
_NONCANONICAL = _SIG_B64URL[:-1] + _ALPHABET[_ALPHABET.index(_SIG_B64URL[-1]) ^ 1]

ENVELOPE_SHAPE_REFUSALS = [
    ("sig-63-bytes", {"sig": _b64url(_SIG[:63])}),
    ("sig-65-bytes", {"sig": _b64url(_SIG + b"\0")}),
    ("sig-empty", {"sig": ""}),
    ("sig-padded", {"sig": _SIG_B64URL + "=="}),
    ("sig-standard-base64", {"sig": base64.b64encode(_SIG).decode().rstrip("=")}),
    ("sig-non-canonical-bits", {"sig": _NONCANONICAL}),
    ("sig-inner-space", {"sig": _SIG_B64URL[:10] + " " + _SIG_B64URL[10:]}),
    ("sig-trailing-newline", {"sig": _SIG_B64URL + "\n"}),
    ("sig-hex", {"sig": _SIG.hex()}),
    ("sig-number", {"sig": 5}),
    ("sig-null", {"sig": None}),
    ("sig-list", {"sig": list(_SIG)}),
    ("record-bad-v", {"record": _record_dict(v=2)}),
    ("record-not-object", {"record": "x"}),
]


@pytest.mark.parametrize(
    "changes", [c[1] for c in ENVELOPE_SHAPE_REFUSALS], ids=[c[0] for c in ENVELOPE_SHAPE_REFUSALS]
)
def test_envelope_shape_refused(changes: dict[str, Any]) -> None:
    data = {"record": _record_dict(), "sig": _SIG_B64URL, **changes}
    with pytest.raises(InvalidRecord):
        Envelope.from_dict(data)


def test_envelope_shape_accepted_and_round_trips() -> None:
    assert "-" in _SIG_B64URL
    assert "_" in _SIG_B64URL
    data = {"record": _record_dict(), "sig": _SIG_B64URL}
    envelope = Envelope.from_dict(data)
    assert envelope.sig == _SIG
    assert envelope.to_dict() == data


@pytest.mark.parametrize(
    "data",
    [
        {"record": _record_dict()},
        {"sig": _SIG_B64URL},
        {"record": _record_dict(), "sig": _SIG_B64URL, "id": "x"},
        [],
        None,
    ],
    ids=["no-sig", "no-record", "extra-key", "list", "null"],
)
def test_envelope_keys_refused(data: Any) -> None:
    with pytest.raises(InvalidRecord):
        Envelope.from_dict(data)


@pytest.mark.parametrize("sig", [b"", b"\0" * 63, b"\0" * 65, bytearray(64), "x" * 64], ids=repr)
def test_envelope_sig_must_be_64_bytes(sig: Any) -> None:
    with pytest.raises(InvalidRecord):
        Envelope(record=Record.from_dict(_record_dict()), sig=sig)


# --- ids, signing input, signatures, leaves ---------------------------------------------

BODIES = [
    {"display_name": "Ada"},
    {"display_name": "Zo\u00e9 \u5c71\u7530 \U0001f600", "contact": "line\u2028sep"},
    {"\U0001f600": 1, "\ufb33": [True, None, -9007199254740991], "a": {"b": '\\"/'}},
    {},
]


@pytest.mark.parametrize("body", BODIES, ids=["ascii", "unicode", "astral-keys", "empty"])
def test_sign_and_verify_match_an_independent_computation(body: dict[str, Any]) -> None:
    data = _record_dict(body=body)
    record = Record.from_dict(data)
    jcs = rfc8785.dumps(data)
    assert record_bytes(record) == jcs
    assert record_id(record) == "sha256:" + hashlib.sha256(jcs).hexdigest()
    assert signing_input(record) == b"fabcommons-record-v1\n" + jcs
    envelope = sign(record, KEY)
    expected_sig = nacl.signing.SigningKey(seed_of("records/author")).sign(
        b"fabcommons-record-v1\n" + jcs
    )
    assert envelope.sig == expected_sig.signature
    assert verify(envelope) is record
    leaf = leaf_bytes(envelope)
    assert leaf == rfc8785.dumps({"record": data, "sig": _b64url(expected_sig.signature)})
    assert envelope_from_leaf(leaf) == envelope
    assert verify(envelope_from_leaf(leaf)) == record
    opened = open_leaf(leaf)
    assert opened.envelope == envelope
    assert opened.record_id == "sha256:" + hashlib.sha256(jcs).hexdigest()


def test_sign_refuses_a_key_that_is_not_the_author() -> None:
    record = Record.from_dict(_record_dict())
    with pytest.raises(InvalidRecord) as info:
        sign(record, OTHER)
    assert info.value.field == "author"


def test_verify_refuses_another_keys_signature() -> None:
    record = Record.from_dict(_record_dict())
    forged = Envelope(record=record, sig=OTHER.sign(signing_input(record)))
    with pytest.raises(InvalidSignature):
        verify(forged)


def test_verify_refuses_a_signature_without_the_domain_prefix() -> None:
    record = Record.from_dict(_record_dict())
    bare = Envelope(record=record, sig=KEY.sign(rfc8785.dumps(_record_dict())))
    with pytest.raises(InvalidSignature):
        verify(bare)


def test_records_outside_the_profile_cannot_be_signed_or_verified() -> None:
    record = Record.from_dict(_record_dict(body={"weight_kg": 1.5}))
    with pytest.raises(ProtocolError):
        sign(record, KEY)
    with pytest.raises(InvalidJSON):
        record_id(record)
    with pytest.raises(InvalidRecord):
        verify(Envelope(record=record, sig=b"\0" * 64))


# --- tampering ------------------------------------------------------------------------

_TAMPER_LEAVES = [
    leaf_bytes(sign(Record.from_dict(_record_dict(body=body)), KEY)) for body in BODIES[:3]
]


def _assert_refused(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        verify(envelope_from_leaf(data))
    with pytest.raises(ProtocolError):
        open_leaf(data)


@pytest.mark.parametrize("leaf", _TAMPER_LEAVES, ids=["ascii", "unicode", "astral-keys"])
@pytest.mark.parametrize("mask", [0x01, 0x20, 0x80])
def test_every_single_byte_change_is_refused(leaf: bytes, mask: int) -> None:
    verify(envelope_from_leaf(leaf))
    for i in range(len(leaf)):
        tampered = bytearray(leaf)
        tampered[i] ^= mask
        _assert_refused(bytes(tampered))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_single_byte_change_is_refused(data: st.DataObject) -> None:
    leaf = data.draw(st.sampled_from(_TAMPER_LEAVES))
    i = data.draw(st.integers(0, len(leaf) - 1))
    new = data.draw(st.integers(0, 255).filter(lambda b: b != leaf[i]))
    tampered = bytearray(leaf)
    tampered[i] = new
    _assert_refused(bytes(tampered))


def test_leaf_changes_in_named_parts_are_refused() -> None:
    leaf = _TAMPER_LEAVES[0]
    text = leaf.decode()
    other_did = OTHER.did
    # The author replaced by another valid did, the signature by another valid-looking one,
    # the content by another valid content.
    for old, new in [
        (KEY.did, other_did),
        ('"display_name":"Ada"', '"display_name":"Adb"'),
        ('"created":"2025-01-02T03:04:05Z"', '"created":"2025-01-02T03:04:06Z"'),
        ('"type":"member.profile"', '"type":"member.profilf"'),
    ]:
        assert text.count(old) == 1
        _assert_refused(text.replace(old, new).encode())
    sig = json.loads(text)["sig"]
    other_sig = _b64url(OTHER.sign(b"x"))
    _assert_refused(text.replace(sig, other_sig).encode())


# --- canonical leaves and size --------------------------------------------------------


def test_envelope_from_leaf_refuses_non_canonical_bytes() -> None:
    envelope = sign(Record.from_dict(_record_dict(body={"path": "a/b", "n": 1})), KEY)
    leaf = leaf_bytes(envelope)
    value = json.loads(leaf)
    spellings = {
        "spaces": json.dumps(value, ensure_ascii=False).encode(),
        "indented": json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True).encode(),
        "sig-first": json.dumps(
            {"sig": value["sig"], "record": value["record"]}, separators=(",", ":")
        ).encode(),
        "escaped-slash": leaf.replace(b"a/b", b"a\\/b"),
        "escaped-letter": leaf.replace(b'"a/b"', b'"\\u0061/b"'),
        "trailing-newline": leaf + b"\n",
        "leading-space": b" " + leaf,
        "bom": b"\xef\xbb\xbf" + leaf,
        "duplicate-sig": leaf[:-1] + b',"sig":' + json.dumps(value["sig"]).encode() + b"}",
    }
    assert envelope_from_leaf(leaf) == envelope
    for name, data in spellings.items():
        assert data != leaf, name
        with pytest.raises(InvalidRecord):
            envelope_from_leaf(data)
        with pytest.raises(InvalidRecord):
            open_leaf(data)
        # The same envelope in a client's spelling is still accepted where any spelling is.
        if name not in {"bom", "duplicate-sig"}:
            assert envelope_from_json(data) == envelope


def _padded_envelope(pad: int) -> tuple[dict[str, Any], Envelope]:
    data = _record_dict(body={"pad": "x" * pad})
    return data, sign(Record.from_dict(data), KEY)


def test_leaf_size_limit_is_enforced_on_both_sides() -> None:
    data, envelope = _padded_envelope(0)
    overhead = len(rfc8785.dumps({"record": data, "sig": _b64url(envelope.sig)}))
    pad = MAX_LEAF_BYTES - overhead

    data, envelope = _padded_envelope(pad)
    leaf = leaf_bytes(envelope)
    assert len(leaf) == MAX_LEAF_BYTES
    assert verify(envelope_from_leaf(leaf)) == envelope.record

    data, envelope = _padded_envelope(pad + 1)
    with pytest.raises(InvalidRecord):
        leaf_bytes(envelope)
    too_big = rfc8785.dumps({"record": data, "sig": _b64url(envelope.sig)})
    assert len(too_big) == MAX_LEAF_BYTES + 1
    with pytest.raises(InvalidRecord):
        envelope_from_leaf(too_big)
    with pytest.raises(InvalidRecord):
        open_leaf(too_big)
    with pytest.raises(InvalidRecord):
        envelope_from_json(too_big)
    with pytest.raises(InvalidRecord):
        envelope_from_json(json.loads(too_big))


def test_envelope_from_json_refuses_huge_bodies_before_parsing() -> None:
    with pytest.raises(InvalidRecord):
        envelope_from_json(b" " * (2 * MAX_LEAF_BYTES + 1))
    with pytest.raises(InvalidRecord):
        envelope_from_json(b'{"record":' + b"[" * 100_000)


@pytest.mark.parametrize(
    "data",
    [b"", b"{}", b"[]", b"null", b'{"record":{},"sig":""}', b"\xff", b'{"a":1.5}'],
    ids=["empty", "empty-object", "array", "null", "empty-parts", "not-utf8", "float"],
)
def test_envelope_from_leaf_refuses_garbage(data: bytes) -> None:
    with pytest.raises(InvalidRecord):
        envelope_from_leaf(data)
    with pytest.raises(InvalidRecord):
        open_leaf(data)

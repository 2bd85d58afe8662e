"""protocol.did: did:key identifiers for Ed25519 keys, and everything else refused."""

from __future__ import annotations

import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.did import did_from_public_key, public_key_from_did
from protocol.errors import InvalidKey
from protocol.keys import AgentKey

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58decode(text: str) -> bytes:
    """base58btc decoding, written here independently of protocol/did.py."""
    number = 0
    for ch in text:
        number = number * 58 + _B58.index(ch)
    body = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


# github.com/w3c-ccg/did-method-key, test-vectors/ed25519-x25519.json:
# (seed, did, verificationKeyPair.publicKeyBase58) for seeds 0..4.
W3C_ED25519_VECTORS = [
    (
        "0000000000000000000000000000000000000000000000000000000000000000",
        "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp",
        "4zvwRjXUKGfvwnParsHAS3HuSVzV5cA4McphgmoCtajS",
    ),
    (
        "0000000000000000000000000000000000000000000000000000000000000001",
        "did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG",
        "6ASf5EcmmEHTgDJ4X4ZT5vT6iHVJBXPg5AN5YoTCpGWt",
    ),
    (
        "0000000000000000000000000000000000000000000000000000000000000002",
        "did:key:z6MknGc3ocHs3zdPiJbnaaqDi58NGb4pk1Sp9WxWufuXSdxf",
        "8pM1DN3RiT8vbom5u1sNryaNT1nyL8CTTW3b5PwWXRBH",
    ),
    (
        "0000000000000000000000000000000000000000000000000000000000000003",
        "did:key:z6MkvqoYXQfDDJRv8L4wKzxYeuKyVZBfi9Qo6Ro8MiLH3kDQ",
        "HPYVwAQmskwT1qEEeRzhoomyfyupJGASQQtCXSNG8XS2",
    ),
    (
        "0000000000000000000000000000000000000000000000000000000000000004",
        "did:key:z6MkwW6aqMnjgrhJXFUko3NnZPGzVpkNzhYK7yEhnsibmLwL",
        "J3qYF7YJMKCqQke47UQwiHizgFUXapHxRxKmxbkar89x",
    ),
]


@pytest.mark.parametrize(
    ("seed", "did", "public_b58"), W3C_ED25519_VECTORS, ids=[f"seed-{i}" for i in range(5)]
)
def test_w3c_did_key_vectors(seed: str, did: str, public_b58: str) -> None:
    public_key = b58decode(public_b58)
    assert len(public_key) == 32
    # The published public key is the RFC 8032 key of the seed (checked with PyNaCl).
    assert bytes(nacl.signing.SigningKey(bytes.fromhex(seed)).verify_key) == public_key
    assert did_from_public_key(public_key) == did
    assert public_key_from_did(did) == public_key
    key = AgentKey.from_seed(bytes.fromhex(seed))
    assert key.did == did
    assert key.public_key == public_key
    # The multibase payload is the multicodec 0xed 0x01 followed by the key.
    assert b58decode(did.removeprefix("did:key:z")) == b"\xed\x01" + public_key


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_round_trip(public_key: bytes) -> None:
    did = did_from_public_key(public_key)
    assert did.startswith("did:key:z6Mk")
    # 0xed01 followed by 32 bytes always takes 47 base58 digits.
    assert len(did) == len("did:key:z") + 47
    assert public_key_from_did(did) == public_key
    assert b58decode(did[len("did:key:z") :]) == b"\xed\x01" + public_key


@pytest.mark.parametrize("length", [0, 1, 31, 33, 34, 64])
def test_did_from_public_key_refuses_wrong_length(length: int) -> None:
    with pytest.raises(InvalidKey):
        did_from_public_key(b"\x01" * length)


SEED0_DID = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp"

DID_REFUSALS = [
    # github.com/w3c-ccg/did-method-key, test-vectors/secp256k1.json (multicodec 0xe7).
    ("secp256k1", "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme"),
    # test-vectors/ed25519-x25519.json, keyAgreementKeyPair (X25519, multicodec 0xec).
    ("x25519", "did:key:z6LShs9GGnqk85isEBzzshkuVWrVKsRp24GnDuHk8QWkARMW"),
    # test-vectors/nist-curves.json (P-256, P-384).
    ("p256", "did:key:zDnaerx9CtbPJ1q36T5Ln5wYt3MQYeGRG5ehnPAmxcf5mDZpv"),
    ("p384", "did:key:z82Lm1MpAkeJcix9K8TMiLd5NMAhnwkjjCBeWHXyu3U4oT2MVJJKXkcVBgjGhnLBn2Kaau9"),
    # github.com/w3c-ccg/did-key-test-suite, tests/mock.data.js: invalid key lengths.
    ("too-short", "did:key:zTjsVPtY"),
    (
        "too-long",
        "did:key:z6MkA9MEcFWsoUVqj2zX6LACFaikLQ28i9WAsJnURDS3HLGKSkUbwUbiLH22ohgZ2BwgpQ6qC3VBTNV3pLhYDTVgR",
    ),
    ("one-char-short", SEED0_DID[:-1]),
    ("one-char-long", SEED0_DID + "1"),
    ("leading-ones", "did:key:z11" + SEED0_DID[len("did:key:z") : -2]),
    ("non-base58-0", SEED0_DID[:-1] + "0"),
    ("non-base58-O", SEED0_DID[:-1] + "O"),
    ("non-base58-I", SEED0_DID[:-1] + "I"),
    ("non-base58-l", SEED0_DID[:-1] + "l"),
    ("non-base58-plus", SEED0_DID[:-1] + "+"),
    ("fullwidth-digit", SEED0_DID[:-1] + "\uff19"),
    ("no-multibase-prefix", "did:key:" + SEED0_DID[len("did:key:z") :]),
    ("base64-multibase", "did:key:m7QFZ3z4TQwrMzBXNCsomGhgjUWSszFoZ3Ju2uK5C3JG"),
    ("other-method", "did:web:example.com"),
    ("uppercase-method", "DID:KEY:" + SEED0_DID[len("did:key:") :]),
    ("uppercase-scheme", "DID:key:" + SEED0_DID[len("did:key:") :]),
    ("leading-space", " " + SEED0_DID),
    ("trailing-space", SEED0_DID + " "),
    ("trailing-newline", SEED0_DID + "\n"),
    ("fragment", SEED0_DID + "#" + SEED0_DID[len("did:key:") :]),
    ("query", SEED0_DID + "?x=1"),
    ("empty", ""),
    ("prefix-only", "did:key:z"),
    ("bare-multibase", SEED0_DID[len("did:key:") :]),
]


@pytest.mark.parametrize("did", [c[1] for c in DID_REFUSALS], ids=[c[0] for c in DID_REFUSALS])
def test_public_key_from_did_refuses(did: str) -> None:
    with pytest.raises(InvalidKey):
        public_key_from_did(did)


@pytest.mark.parametrize("value", [None, 5, b"did:key:z6Mk", ["did:key:z6Mk"]], ids=repr)
def test_public_key_from_did_refuses_non_strings(value: object) -> None:
    with pytest.raises(InvalidKey):
        public_key_from_did(value)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=34, max_size=34).filter(lambda raw: raw[:2] != b"\xed\x01"))
def test_other_multicodecs_refused(raw: bytes) -> None:
    # Any 34-byte payload without the Ed25519 multicodec is refused, whatever its length in base58.
    number = int.from_bytes(raw, "big")
    digits = ""
    while number:
        number, rem = divmod(number, 58)
        digits = _B58[rem] + digits
    encoded = "1" * (len(raw) - len(raw.lstrip(b"\0"))) + digits
    with pytest.raises(InvalidKey):
        public_key_from_did("did:key:z" + encoded)

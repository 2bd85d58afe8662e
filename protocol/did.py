"""did:key identifiers for Ed25519 public keys (W3C did:key method).

did:key:z + base58btc(0xed 0x01 ‖ 32-byte public key). Only Ed25519 is
accepted; every other multicodec, length or encoding is refused.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NewType

from protocol.errors import InvalidKey

__all__ = ["Did", "did_from_public_key", "public_key_from_did"]

Did = NewType("Did", str)

_PREFIX = "did:key:z"
_ED25519_MULTICODEC = b"\xed\x01"
_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {ch: i for i, ch in enumerate(_ALPHABET)}
# An Ed25519 did:key is always 47 base58 characters; anything longer is refused
# before decoding so that decoding cost stays bounded.
_ENCODED_LENGTH = 47


def _b58encode(data: bytes) -> str:
    zeros = len(data) - len(data.lstrip(b"\0"))
    number = int.from_bytes(data, "big")
    digits = []
    while number:
        number, rem = divmod(number, 58)
        digits.append(_ALPHABET[rem])
    return "1" * zeros + "".join(reversed(digits))


def _b58decode(text: str) -> bytes:
    number = 0
    for ch in text:
        try:
            number = number * 58 + _INDEX[ch]
        except KeyError:
            raise InvalidKey(f"{ch!r} is not a base58btc character") from None
    zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * zeros + body


def did_from_public_key(public_key: bytes) -> Did:
    """Return the did:key of a 32-byte Ed25519 public key. Raises InvalidKey."""
    if len(public_key) != 32:
        raise InvalidKey(f"an Ed25519 public key is 32 bytes, not {len(public_key)}")
    return Did(_PREFIX + _b58encode(_ED25519_MULTICODEC + public_key))


def public_key_from_did(did: str) -> bytes:
    """Return the Ed25519 public key inside a did:key. Raises InvalidKey."""
    if not isinstance(did, str):
        raise InvalidKey("a did must be a string")
    return _public_key_from_did(did)


# Verifying a log decodes the same few authors' dids again and again.
@lru_cache(maxsize=8192)
def _public_key_from_did(did: str) -> bytes:
    if not did.startswith(_PREFIX):
        raise InvalidKey("not a did:key with base58btc multibase (did:key:z…)")
    encoded = did[len(_PREFIX) :]
    if len(encoded) != _ENCODED_LENGTH:
        raise InvalidKey("not an Ed25519 did:key (wrong length)")
    raw = _b58decode(encoded)
    if len(raw) != 34 or raw[:2] != _ED25519_MULTICODEC:
        raise InvalidKey("not an Ed25519 did:key (multicodec must be 0xed01)")
    public_key = raw[2:]
    # Re-encoding catches non-canonical spellings of the same key.
    if did_from_public_key(public_key) != did:
        raise InvalidKey("did:key is not canonically encoded")
    return public_key

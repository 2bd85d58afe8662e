"""Ed25519 signing keys for agents (members, workshops, nodes) and their key files.

A key file is PKCS#8 PEM (readable by `openssl pkey`), created with mode
0600; a key file that the group or others can read is refused on load.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import nacl.exceptions
import nacl.signing
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.did import Did, did_from_public_key, public_key_from_did
from protocol.errors import InvalidKey, InvalidSignature

__all__ = ["AgentKey", "load_key", "save_key", "verify_did_signature", "verify_signature"]

# A PEM file of an Ed25519 key is about 120 bytes; refuse anything far larger
# before parsing it.
_MAX_KEY_FILE_BYTES = 4096


@dataclass(frozen=True, slots=True)
class AgentKey:
    """An Ed25519 signing key with its did. Its repr never shows the secret."""

    _signing_key: nacl.signing.SigningKey = field(repr=False)
    did: Did = field(init=False)
    public_key: bytes = field(init=False)

    def __post_init__(self) -> None:
        public_key = bytes(self._signing_key.verify_key)
        object.__setattr__(self, "public_key", public_key)
        object.__setattr__(self, "did", did_from_public_key(public_key))

    @classmethod
    def generate(cls) -> AgentKey:
        """Make a new random key."""
        return cls(nacl.signing.SigningKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> AgentKey:
        """Make the key of a 32-byte RFC 8032 seed. Raises InvalidKey."""
        if len(seed) != 32:
            raise InvalidKey(f"an Ed25519 seed is 32 bytes, not {len(seed)}")
        return cls(nacl.signing.SigningKey(seed))

    def sign(self, message: bytes) -> bytes:
        """Return the 64-byte Ed25519 signature of message."""
        return bytes(self._signing_key.sign(message).signature)

    def seed(self) -> bytes:
        """Return the 32-byte secret seed (only for writing key files)."""
        return bytes(self._signing_key)


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> None:
    """Check an Ed25519 signature. Raises InvalidSignature or InvalidKey."""
    if len(public_key) != 32:
        raise InvalidKey("an Ed25519 public key is 32 bytes")
    if len(signature) != 64:
        raise InvalidSignature("an Ed25519 signature is 64 bytes")
    try:
        nacl.signing.VerifyKey(public_key).verify(message, signature)
    except nacl.exceptions.BadSignatureError as exc:
        raise InvalidSignature("signature does not verify") from exc
    except (nacl.exceptions.CryptoError, ValueError, TypeError) as exc:
        raise InvalidKey("public key is not a valid Ed25519 point") from exc


def verify_did_signature(did: str, message: bytes, signature: bytes) -> None:
    """Check a signature by the key a did:key names. Raises InvalidSignature or InvalidKey."""
    verify_signature(public_key_from_did(did), message, signature)


def save_key(key: AgentKey, path: Path) -> None:
    """Write key to a new PKCS#8 PEM file of mode 0600. Raises FileExistsError."""
    pem = Ed25519PrivateKey.from_private_bytes(key.seed()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # O_EXCL: never overwrite a key; the mode is set at creation, so the
    # secret is never readable by others, not even for a moment.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)


def load_key(path: Path) -> AgentKey:
    """Read a PKCS#8 PEM Ed25519 key file. Raises InvalidKey, OSError."""
    fd = os.open(path, os.O_RDONLY)
    try:
        info = os.fstat(fd)
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise InvalidKey(
                f"{path} is accessible by group or others (mode "
                f"{stat.S_IMODE(info.st_mode):04o}); run: chmod 600 {path}"
            )
        data = os.read(fd, _MAX_KEY_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > _MAX_KEY_FILE_BYTES:
        raise InvalidKey(f"{path} is too large to be a key file")
    try:
        private = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise InvalidKey(f"{path} is not an unencrypted PKCS#8 PEM private key") from exc
    if not isinstance(private, Ed25519PrivateKey):
        raise InvalidKey(f"{path} holds a key that is not Ed25519")
    seed = private.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return AgentKey.from_seed(seed)

"""C2SP signed notes, tlog-checkpoints and tlog-cosignatures (Ed25519 only).

specs/02-log.md §4–§6. A note is UTF-8 text ending in a newline, a blank
line, then signature lines `— <name> base64(key hash ‖ signature)`. Time is
a parameter: nothing here reads the clock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from protocol.errors import InvalidCheckpoint, InvalidKey, InvalidSignature
from protocol.keys import AgentKey, verify_signature

__all__ = [
    "ALG_COSIGNATURE_V1",
    "ALG_ED25519",
    "Checkpoint",
    "NoteSignature",
    "NoteVerifier",
    "SignedCheckpoint",
    "cosign_checkpoint",
    "key_hash",
    "open_checkpoint",
    "open_note",
    "sign_checkpoint",
    "sign_note",
    "split_note",
    "verified_cosignatures",
    "verify_cosignature",
]

ALG_ED25519 = 0x01
ALG_COSIGNATURE_V1 = 0x04
_DASH = "\u2014"  # EM DASH, as the signed-note spec requires
# Limits that keep a hostile note cheap to reject (Go's note package allows
# at most 100 signatures too).
MAX_NOTE_BYTES = 64 * 1024
MAX_SIGNATURES = 100
_NAME_RE = re.compile(r"[^\s+]+")
_B64_RE = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def _b64decode(text: str) -> bytes:
    if len(text) % 4 or not _B64_RE.fullmatch(text):
        raise ValueError("not standard padded base64")
    try:
        data = base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError("not base64") from exc
    if base64.b64encode(data).decode("ascii") != text:
        raise ValueError("base64 is not canonical")
    return data


def _check_name(name: str) -> None:
    if not _NAME_RE.fullmatch(name):
        raise InvalidKey(f"key name {name!r} must be non-empty with no space or '+'")


def key_hash(name: str, alg: int, public_key: bytes) -> bytes:
    """SHA-256(name ‖ "\\n" ‖ alg ‖ public key)[:4]: the signed-note key hash."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([alg]) + public_key).digest()[:4]


@dataclass(frozen=True, slots=True)
class NoteVerifier:
    """A signed-note verifier: key name, algorithm byte and Ed25519 public key."""

    name: str
    public_key: bytes
    alg: int = ALG_ED25519

    def __post_init__(self) -> None:
        _check_name(self.name)
        if self.alg not in (ALG_ED25519, ALG_COSIGNATURE_V1):
            raise InvalidKey(f"unsupported signature type 0x{self.alg:02x}")
        if len(self.public_key) != 32:
            raise InvalidKey("an Ed25519 public key is 32 bytes")

    @property
    def key_hash(self) -> bytes:
        return key_hash(self.name, self.alg, self.public_key)

    @property
    def vkey(self) -> str:
        """`<name>+<8 hex key hash>+<base64(alg ‖ public key)>`."""
        material = base64.b64encode(bytes([self.alg]) + self.public_key).decode("ascii")
        return f"{self.name}+{self.key_hash.hex()}+{material}"

    @classmethod
    def from_vkey(cls, vkey: str) -> NoteVerifier:
        """Parse a verifier key string, checking its key hash. Raises InvalidKey."""
        parts = vkey.split("+", 2) if isinstance(vkey, str) and len(vkey) < 1024 else []
        if len(parts) != 3 or not re.fullmatch(r"[0-9a-f]{8}", parts[1]):
            raise InvalidKey("a verifier key is <name>+<8 hex>+<base64 key>")
        try:
            material = _b64decode(parts[2])
        except ValueError as exc:
            raise InvalidKey(f"verifier key material: {exc}") from exc
        if len(material) != 33:
            raise InvalidKey("verifier key material must be 1 + 32 bytes")
        verifier = cls(parts[0], material[1:], material[0])
        if verifier.key_hash.hex() != parts[1]:
            raise InvalidKey("verifier key hash does not match its key")
        return verifier


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line: key name, 4-byte key hash, and the signature bytes after it."""

    name: str
    key_hash: bytes
    signature: bytes

    def line(self) -> str:
        encoded = base64.b64encode(self.key_hash + self.signature).decode("ascii")
        return f"{_DASH} {self.name} {encoded}\n"


def _check_text(text: bytes) -> str:
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidCheckpoint("note text is not UTF-8") from exc
    if not decoded.endswith("\n"):
        raise InvalidCheckpoint("note text must end in a newline")
    if any(ord(ch) < 0x20 and ch != "\n" for ch in decoded):
        raise InvalidCheckpoint("note text contains control characters")
    return decoded


def sign_note(text: bytes, name: str, key: AgentKey) -> bytes:
    """Return text signed as a note by key under name (type 0x01)."""
    _check_name(name)
    _check_text(text)
    sig = NoteSignature(name, key_hash(name, ALG_ED25519, key.public_key), key.sign(text))
    return text + b"\n" + sig.line().encode("utf-8")


def split_note(note: bytes) -> tuple[bytes, list[NoteSignature]]:
    """Split a note into its text and its signature lines. Raises InvalidCheckpoint."""
    if len(note) > MAX_NOTE_BYTES:
        raise InvalidCheckpoint("note too large")
    split = note.rfind(b"\n\n")
    if split < 0:
        raise InvalidCheckpoint("note has no signature block")
    text, block = note[: split + 1], note[split + 2 :]
    _check_text(text)
    try:
        block_text = block.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidCheckpoint("signature block is not UTF-8") from exc
    if not block_text.endswith("\n"):
        raise InvalidCheckpoint("signature block must end in a newline")
    if any(ord(ch) < 0x20 and ch != "\n" for ch in block_text):
        raise InvalidCheckpoint("signature block contains control characters")
    lines = block_text[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise InvalidCheckpoint("too many signatures")
    signatures = []
    for line in lines:
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != _DASH or not _NAME_RE.fullmatch(parts[1]):
            raise InvalidCheckpoint("malformed signature line")
        try:
            raw = _b64decode(parts[2])
        except ValueError as exc:
            raise InvalidCheckpoint(f"signature line: {exc}") from exc
        if len(raw) < 5:
            raise InvalidCheckpoint("signature line too short")
        signatures.append(NoteSignature(parts[1], raw[:4], raw[4:]))
    return text, signatures


def open_note(note: bytes, verifier: NoteVerifier) -> tuple[bytes, list[NoteSignature]]:
    """Check that note carries a valid signature by verifier; return text and all lines.

    Raises InvalidCheckpoint if malformed, InvalidSignature if the verifier did not sign it.
    """
    if verifier.alg != ALG_ED25519:
        raise InvalidKey("note signatures use signature type 0x01")
    text, signatures = split_note(note)
    wanted = verifier.key_hash
    for sig in signatures:
        if sig.name == verifier.name and sig.key_hash == wanted:
            if len(sig.signature) != 64:
                raise InvalidSignature("Ed25519 note signature must be 64 bytes")
            verify_signature(verifier.public_key, text, sig.signature)
            return text, signatures
    raise InvalidSignature(f"note is not signed by {verifier.name}")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A C2SP tlog-checkpoint body: origin, tree size, root hash, extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin or any(ord(c) < 0x20 for c in self.origin):
            raise InvalidCheckpoint("origin must be one non-empty line")
        if not 0 <= self.size < 2**63:
            raise InvalidCheckpoint("tree size out of range")
        if len(self.root_hash) != 32:
            raise InvalidCheckpoint("root hash must be 32 bytes")
        for ext in self.extensions:
            if not ext or "\n" in ext:
                raise InvalidCheckpoint("extension lines must be non-empty single lines")

    def text(self) -> bytes:
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode("ascii")]
        return ("\n".join([*lines, *self.extensions]) + "\n").encode("utf-8")

    @classmethod
    def from_text(cls, text: bytes) -> Checkpoint:
        """Parse a checkpoint body. Raises InvalidCheckpoint."""
        decoded = _check_text(text)
        lines = decoded[:-1].split("\n")
        if len(lines) < 3:
            raise InvalidCheckpoint("checkpoint needs origin, size and root hash lines")
        origin, size_text, root_text, *extensions = lines
        if not re.fullmatch(r"0|[1-9][0-9]{0,18}", size_text):
            raise InvalidCheckpoint("tree size must be a decimal without leading zeros")
        try:
            root_hash = _b64decode(root_text)
        except ValueError as exc:
            raise InvalidCheckpoint(f"root hash: {exc}") from exc
        return cls(origin, int(size_text), root_hash, tuple(extensions))


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A checkpoint whose log signature verified, with the note it came in."""

    checkpoint: Checkpoint
    note: bytes
    signatures: tuple[NoteSignature, ...]


def sign_checkpoint(checkpoint: Checkpoint, key: AgentKey) -> bytes:
    """Sign a checkpoint as a note whose key name is its origin."""
    return sign_note(checkpoint.text(), checkpoint.origin, key)


def open_checkpoint(note: bytes, verifier: NoteVerifier) -> SignedCheckpoint:
    """Verify a checkpoint note by its log's verifier; origin must equal the key name.

    Raises InvalidCheckpoint or InvalidSignature.
    """
    text, signatures = open_note(note, verifier)
    checkpoint = Checkpoint.from_text(text)
    if checkpoint.origin != verifier.name:
        raise InvalidCheckpoint("checkpoint origin is not the log key's name")
    return SignedCheckpoint(checkpoint, note, tuple(signatures))


def _cosigned_message(checkpoint_text: bytes, timestamp: int) -> bytes:
    # C2SP tlog-cosignature §"Ed25519 signed message".
    return b"cosignature/v1\ntime " + str(timestamp).encode("ascii") + b"\n" + checkpoint_text


def cosign_checkpoint(
    checkpoint_text: bytes, name: str, key: AgentKey, *, timestamp: int
) -> NoteSignature:
    """Make a cosignature/v1 line by a witness named `name` at `timestamp` (POSIX seconds)."""
    _check_name(name)
    if not 0 <= timestamp < 2**63:
        raise ValueError("timestamp out of range")
    Checkpoint.from_text(checkpoint_text)
    sig = key.sign(_cosigned_message(checkpoint_text, timestamp))
    return NoteSignature(
        name,
        key_hash(name, ALG_COSIGNATURE_V1, key.public_key),
        timestamp.to_bytes(8, "big") + sig,
    )


def verify_cosignature(
    checkpoint_text: bytes, signature: NoteSignature, verifier: NoteVerifier
) -> int:
    """Check one cosignature line by a witness verifier (type 0x04); return its timestamp.

    Raises InvalidSignature.
    """
    if verifier.alg != ALG_COSIGNATURE_V1:
        raise InvalidKey("cosigner verifiers use signature type 0x04")
    if signature.name != verifier.name or signature.key_hash != verifier.key_hash:
        raise InvalidSignature("cosignature is not by this witness")
    if len(signature.signature) != 8 + 64:
        raise InvalidSignature("cosignature must be an 8-byte timestamp and 64-byte signature")
    timestamp = int.from_bytes(signature.signature[:8], "big")
    if timestamp >= 2**63:
        raise InvalidSignature("cosignature timestamp out of range")
    verify_signature(
        verifier.public_key,
        _cosigned_message(checkpoint_text, timestamp),
        signature.signature[8:],
    )
    return timestamp


def verified_cosignatures(
    checkpoint_text: bytes,
    signatures: Iterable[NoteSignature],
    witnesses: Sequence[NoteVerifier],
) -> dict[bytes, int]:
    """Return {witness public key: timestamp} for every valid cosignature by a known witness.

    Keyed by public key, so one key listed under two names, or signing twice,
    counts once (DESIGN.md §5: signatures are counted by distinct public keys).
    """
    by_hash: dict[tuple[str, bytes], NoteVerifier] = {(w.name, w.key_hash): w for w in witnesses}
    found: dict[bytes, int] = {}
    for sig in signatures:
        witness = by_hash.get((sig.name, sig.key_hash))
        if witness is None:
            continue
        try:
            timestamp = verify_cosignature(checkpoint_text, sig, witness)
        except (InvalidSignature, InvalidKey):
            continue
        found[witness.public_key] = max(timestamp, found.get(witness.public_key, 0))
    return found

"""Equivocation evidence: proof that a log signed two trees that cannot both be true.

Two kinds (specs/03-federation.md §6):
- `fork`: two checkpoints of the same size with different roots;
- `inconsistent`: checkpoints of sizes m < n where a consistency path from
  the size-n tree implies a size-m root other than the one signed.
Anyone holding the log's verifier key can check evidence without trusting
whoever presents it.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from protocol.checkpoint import NoteVerifier, open_checkpoint
from protocol.errors import InvalidCheckpoint, InvalidKey, InvalidProof, InvalidRecord
from protocol.merkle import implied_old_root

__all__ = ["EVIDENCE_KINDS", "Evidence", "check_evidence"]

EVIDENCE_KINDS = frozenset({"fork", "inconsistent"})
_MAX_NOTE = 64 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Evidence:
    """Two signed checkpoint notes of one log (by vkey) and, for `inconsistent`, a path."""

    kind: str
    vkey: str
    note_a: bytes
    note_b: bytes
    proof: tuple[bytes, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "vkey": self.vkey,
            "note_a": self.note_a.decode("utf-8"),
            "note_b": self.note_b.decode("utf-8"),
            "proof": [base64.b64encode(h).decode("ascii") for h in self.proof],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Evidence:
        """Parse evidence JSON. Raises InvalidRecord."""
        if not isinstance(data, Mapping) or set(data) != {
            "kind",
            "vkey",
            "note_a",
            "note_b",
            "proof",
        }:
            raise InvalidRecord("evidence", "expected kind, vkey, note_a, note_b, proof")
        kind, vkey = data["kind"], data["vkey"]
        if kind not in EVIDENCE_KINDS:
            raise InvalidRecord("evidence.kind", f"must be one of {sorted(EVIDENCE_KINDS)}")
        if not isinstance(vkey, str):
            raise InvalidRecord("evidence.vkey", "must be a verifier key string")
        notes = []
        for name in ("note_a", "note_b"):
            note = data[name]
            if not isinstance(note, str) or len(note) > _MAX_NOTE:
                raise InvalidRecord(f"evidence.{name}", "must be a signed note of at most 64 KiB")
            notes.append(note.encode("utf-8"))
        proof = data["proof"]
        if not isinstance(proof, list) or len(proof) > 130:
            raise InvalidRecord("evidence.proof", "must be a list of base64 hashes")
        try:
            hashes = tuple(base64.b64decode(h, validate=True) for h in proof)
        except (TypeError, ValueError) as exc:
            raise InvalidRecord("evidence.proof", "must be a list of base64 hashes") from exc
        return cls(kind=kind, vkey=vkey, note_a=notes[0], note_b=notes[1], proof=hashes)


def check_evidence(evidence: Evidence) -> NoteVerifier:
    """Check that the evidence proves the log misbehaved; return the log's verifier.

    Raises InvalidProof when it proves nothing, InvalidCheckpoint/InvalidSignature
    when a note is not validly signed by the log, InvalidKey for a bad vkey.
    """
    try:
        verifier = NoteVerifier.from_vkey(evidence.vkey)
    except InvalidKey:
        raise
    a = open_checkpoint(evidence.note_a, verifier).checkpoint
    b = open_checkpoint(evidence.note_b, verifier).checkpoint
    if evidence.kind == "fork":
        if a.size != b.size:
            raise InvalidProof("a fork is two checkpoints of the same size")
        if a.root_hash == b.root_hash:
            raise InvalidProof("the two checkpoints agree")
        return verifier
    if evidence.kind != "inconsistent":
        raise InvalidCheckpoint(f"unknown evidence kind {evidence.kind}")
    if not a.size < b.size:
        raise InvalidProof("inconsistent evidence needs note_a smaller than note_b")
    implied = implied_old_root(a.size, b.size, b.root_hash, evidence.proof)
    if implied == a.root_hash:
        raise InvalidProof("the checkpoints are consistent")
    return verifier

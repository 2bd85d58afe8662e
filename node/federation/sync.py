"""Pull sync of one followed log (specs/03-federation.md §3).

Fetch and verify the checkpoint; prove our verified prefix consistent with
it; fetch new entries in batches, verify each, prove each batch's prefix
consistent with the checkpoint, and commit batch, frontier and head in one
transaction (node/federation/pipeline.py overlaps those stages across
batches). Resumes from the stored head after any fault.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

from node.federation.logclient import LogClient, PeerMisbehaves
from node.federation.pipeline import run_batches
from node.federation.workers import LeafWorkers
from node.store.logstore import LogRow, LogStore
from protocol.checkpoint import (
    Checkpoint,
    NoteVerifier,
    SignedCheckpoint,
    open_checkpoint,
    split_note,
)
from protocol.did import Did
from protocol.errors import InvalidProof, ProtocolError
from protocol.evidence import Evidence, check_evidence
from protocol.merkle import (
    implied_old_root,
    prefix_subtrees,
    verify_consistency,
)
from protocol.replay import LogReplay

__all__ = ["PREFETCH_BATCHES", "Equivocation", "SyncResult", "signed_head_size", "sync_log"]

logger = logging.getLogger(__name__)

# Batches fetched ahead of the one being authorised; their signatures are
# checked meanwhile. With the batch being authorised and the one being
# committed, at most PREFETCH_BATCHES + 2 batches are ever fetched but not
# committed: what a fault can make a round fetch again (specs/03 §3.7).
PREFETCH_BATCHES = 2


class Equivocation(Exception):
    """The log signed two inconsistent trees; `evidence` proves it when we could build it."""

    def __init__(self, detail: str, evidence: Evidence | None) -> None:
        super().__init__(detail)
        self.evidence = evidence


@dataclass(frozen=True, slots=True)
class SyncResult:
    size: int
    fetched: int
    checkpoint: SignedCheckpoint
    stale: bool = False
    # Another process stored this log's next batch first; run another round.
    interrupted: bool = False


async def _open(client: LogClient, verifier: NoteVerifier) -> tuple[bytes, SignedCheckpoint]:
    """Fetch and verify the checkpoint; return the note reduced to the log's own signature.

    Cosignature lines that came with it stay in the SignedCheckpoint for the
    caller to check against the witnesses it knows; they are not stored here.
    """
    note = await client.checkpoint()
    try:
        signed = open_checkpoint(note, verifier)
    except ProtocolError as exc:
        raise PeerMisbehaves(f"checkpoint: {exc}") from exc
    own = next(
        s for s in signed.signatures if s.name == verifier.name and s.key_hash == verifier.key_hash
    )
    return signed.checkpoint.text() + b"\n" + own.line().encode("utf-8"), signed


async def _evidence_against_smaller(
    store: LogStore, head: LogRow, note: bytes, signed: SignedCheckpoint, vkey: str
) -> Evidence | None:
    """A checkpoint of size m below our signed head whose root differs from our prefix."""
    ours = signed_head_size(head)
    m = signed.checkpoint.size
    if ours is None or not 0 < m < ours:
        return None
    proof = await store.consistency_proof(head.did, m, ours)
    if m & (m - 1) == 0:
        # RFC 9162 leaves out the old root for a power-of-two old size.
        proof = [*(await store.read_hashes(head.did, prefix_subtrees(m))), *proof]
    evidence = Evidence(
        kind="inconsistent", vkey=vkey, note_a=note, note_b=head.checkpoint, proof=tuple(proof)
    )
    try:
        check_evidence(evidence)
    except ProtocolError:
        return None
    return evidence


def signed_head_size(head: LogRow) -> int | None:
    """The size of the last checkpoint we fully verified, if any."""
    if not head.checkpoint:
        return None
    try:
        text, _ = split_note(head.checkpoint)
        return Checkpoint.from_text(text).size
    except ProtocolError:
        return None


async def sync_log(
    store: LogStore,
    client: LogClient,
    did: Did,
    vkey: str,
    *,
    batch_size: int = 4000,
    pool: LeafWorkers | None = None,
    depth: int = PREFETCH_BATCHES,
) -> SyncResult:
    """Bring our copy of log `did` up to the source's checkpoint.

    Batches of up to `batch_size` leaves; leaves are opened in `pool`'s
    worker processes if given; `depth` batches are fetched ahead.
    Raises PeerUnreachable, PeerMisbehaves (bad answers: the source is invalid),
    BatchRejected (an entry failed verification), Equivocation.
    """
    verifier = NoteVerifier.from_vkey(vkey)
    note, signed = await _open(client, verifier)
    cp = signed.checkpoint
    head = await store.head(did)
    if head is None:
        raise LookupError(f"log {did} is not followed")

    if cp.size < head.size:
        prefix = await store.prefix_root(did, cp.size)
        if prefix == cp.root_hash:
            return SyncResult(head.size, 0, signed, stale=True)
        evidence = await _evidence_against_smaller(store, head, note, signed, vkey)
        raise Equivocation(
            f"checkpoint of size {cp.size} is not a prefix of the verified log", evidence
        )
    if cp.size == head.size:
        if cp.root_hash != head.root:
            evidence = None
            if signed_head_size(head) == head.size:
                evidence = Evidence(kind="fork", vkey=vkey, note_a=head.checkpoint, note_b=note)
            raise Equivocation(f"two checkpoints of size {cp.size} with different roots", evidence)
        if signed_head_size(head) != cp.size:
            await store.commit_synced(
                did,
                expected_size=head.size,
                frontier=head.frontier,
                authority=head.authority,
                entries_in_order=(),
                subtree_hashes=(),
                checkpoint=(cp.size, cp.root_hash, note),
            )
        return SyncResult(head.size, 0, signed)

    if head.size > 0:
        proof = await client.consistency(head.size, cp.size)
        try:
            verify_consistency(head.size, cp.size, head.root, cp.root_hash, proof)
        except InvalidProof as exc:
            evidence = None
            if signed_head_size(head) == head.size and head.size & (head.size - 1):
                with contextlib.suppress(ProtocolError):
                    implied = implied_old_root(head.size, cp.size, cp.root_hash, proof)
                    candidate = Evidence(
                        kind="inconsistent",
                        vkey=vkey,
                        note_a=head.checkpoint,
                        note_b=note,
                        proof=tuple(proof),
                    )
                    if implied != head.root:
                        check_evidence(candidate)
                        evidence = candidate
            if evidence is None:
                raise PeerMisbehaves(f"no valid consistency proof: {exc}") from exc
            raise Equivocation(
                "the new checkpoint does not extend the verified log", evidence
            ) from exc

    replay = LogReplay(authority=head.authority.copy(), frontier=head.frontier.copy())
    outcome = await run_batches(
        store,
        client,
        did,
        cp,
        note,
        replay,
        batch_size=batch_size,
        pool=pool,
        depth=depth,
    )
    if outcome.interrupted:
        logger.info("log %s moved on in another process; stopping this round", did)
    return SyncResult(outcome.size, outcome.fetched, signed, interrupted=outcome.interrupted)

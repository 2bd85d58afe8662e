"""Pull sync of one followed log (specs/03-federation.md §3).

Fetch and verify the checkpoint; prove our verified prefix consistent with
it; fetch new entries in batches, verify each, prove each batch's prefix
consistent with the checkpoint, and commit batch, frontier and head in one
transaction. Resumes from the stored head after any fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import Executor
from dataclasses import dataclass

from node.federation.logclient import LogClient, PeerMisbehaves, PeerUnreachable
from node.federation.verify import BatchRejected, verify_batch
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
    leaf_hash,
    prefix_subtrees,
    verify_consistency,
    verify_inclusion,
)
from protocol.replay import LogReplay

__all__ = ["Equivocation", "SyncResult", "signed_head_size", "sync_log"]

logger = logging.getLogger(__name__)


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


async def _check_signed(
    client: LogClient, leaf: bytes, index: int, cp: Checkpoint, rejected: BatchRejected
) -> None:
    """Blame the log for a bad entry only if its signed tree holds that entry.

    A leaf that is not in the signed tree was damaged in transit or by the
    source, which makes the source unreliable but proves nothing about the log.
    """
    try:
        proof = await client.inclusion(index, cp.size)
        verify_inclusion(leaf_hash(leaf), index, cp.size, proof, cp.root_hash)
    except InvalidProof as exc:
        raise PeerUnreachable(f"entry {index} is not the one the log signed") from exc
    except PeerMisbehaves as exc:
        raise PeerUnreachable(f"entry {index} could not be checked: {exc}") from exc
    logger.warning("the log signed an invalid entry: %s", rejected)


async def sync_log(
    store: LogStore,
    client: LogClient,
    did: Did,
    vkey: str,
    *,
    batch_size: int = 1000,
    executor: Executor | None = None,
    workers: int = 2,
) -> SyncResult:
    """Bring our copy of log `did` up to the source's checkpoint.

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
    position = head.size
    fetched = 0
    interrupted = False
    pending: asyncio.Task[list[bytes]] | None = asyncio.create_task(
        client.entries(position, min(position + batch_size, cp.size))
    )
    try:
        while pending is not None:
            leaves = await pending
            pending = None
            end = position + len(leaves)
            if end < cp.size:
                # Fetch the next batch while this one is verified and stored.
                pending = asyncio.create_task(client.entries(end, min(end + batch_size, cp.size)))
            try:
                batch = await verify_batch(replay, leaves, executor=executor, workers=workers)
            except BatchRejected as exc:
                await _check_signed(client, leaves[exc.index - position], exc.index, cp, exc)
                raise
            fetched += len(leaves)
            if end < cp.size:
                proof = await client.consistency(end, cp.size)
                try:
                    verify_consistency(end, cp.size, replay.frontier.root(), cp.root_hash, proof)
                except InvalidProof as exc:
                    raise PeerMisbehaves(
                        f"entries {position}..{end - 1} are not part of the signed log: {exc}"
                    ) from exc
                reached = None
            else:
                if replay.frontier.root() != cp.root_hash:
                    raise PeerMisbehaves("the entries do not hash to the checkpoint's root")
                reached = (cp.size, cp.root_hash, note)
            stored = await store.commit_synced(
                did,
                expected_size=position,
                frontier=replay.frontier,
                authority=replay.authority,
                entries_in_order=batch.entries,
                subtree_hashes=batch.subtree_hashes,
                checkpoint=reached,
            )
            if not stored:
                logger.info("log %s moved on in another process; stopping this round", did)
                interrupted = True
                break
            position = end
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
    return SyncResult(position, fetched, signed, interrupted=interrupted)

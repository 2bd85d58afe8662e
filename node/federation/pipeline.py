"""The batch stage of a sync round: fetch, check, authorise and commit, overlapped.

specs/03-federation.md §3.5–§3.7. One task fetches batches ahead (with the
consistency proof that ties each to the checkpoint) and hands their leaves
to the signature workers at once; the round itself authorises batch k+1 in
log order while the database commits batch k. Every outcome is still taken
in log order: a batch is committed only after every batch before it, and an
error found in batch k (a bad entry, a bad proof, an unreachable source) is
raised only after batch k−1, which verified, has been committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from node.federation.logclient import LogClient, PeerMisbehaves, PeerUnreachable
from node.federation.verify import (
    MIN_PARALLEL_LEAVES,
    BatchRejected,
    VerifiedBatch,
    authorise_batch,
    check_signatures,
    reject_repeats,
)
from node.federation.workers import LeafWorkers
from node.store.logstore import LogStore
from protocol.checkpoint import Checkpoint
from protocol.did import Did
from protocol.errors import InvalidProof
from protocol.merkle import leaf_hash, verify_consistency, verify_inclusion
from protocol.replay import LogReplay
from protocol.signing import CheckedLeaf, check_leaves

__all__ = ["MAX_BATCH_BYTES", "BatchOutcome", "run_batches"]

logger = logging.getLogger(__name__)

# A batch stops growing once its leaves hold this many bytes, so that the
# batches in flight stay bounded in memory too (each answer is at most
# logclient.MAX_ENTRIES_BYTES).
MAX_BATCH_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """Where a round's batches left the log: committed size, leaves verified, interrupted."""

    size: int
    fetched: int
    interrupted: bool


@dataclass(slots=True)
class _Fetched:
    start: int
    leaves: list[bytes]
    # The consistency proof from the batch's end to the checkpoint (None for the
    # last batch), or why it could not be fetched: raised only after the batch
    # itself verified, as a round without overlap would have found it.
    proof: list[bytes] | Exception | None
    checked: asyncio.Task[list[CheckedLeaf | None]] | None


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


class _Round:
    """The state of one round's batch stage; `run` drives it."""

    def __init__(
        self,
        store: LogStore,
        client: LogClient,
        did: Did,
        cp: Checkpoint,
        note: bytes,
        *,
        pool: LeafWorkers | None,
        in_flight: int,
    ) -> None:
        self.store = store
        self.client = client
        self.did = did
        self.cp = cp
        self.note = note
        self.pool = pool
        # A batch takes a slot before it is fetched and gives it back once it
        # is committed: this bounds what a fault can make a round refetch.
        self.slots = asyncio.Semaphore(in_flight)
        self.queue: asyncio.Queue[_Fetched | Exception] = asyncio.Queue()
        self.committing: asyncio.Task[bool] | None = None
        self.committing_end = 0
        self.position = 0

    async def fetch(self, start: int, batch_size: int) -> None:
        """Fetch batches from `start` to the checkpoint into the queue; a failure ends it."""
        position, size = start, self.cp.size
        try:
            while position < size:
                await self.slots.acquire()
                goal = min(position + batch_size, size)
                leaves = await self.client.entries(position, goal)
                proof: list[bytes] | Exception | None = None
                try:
                    await self._fill(position, goal, leaves)
                except (PeerUnreachable, PeerMisbehaves) as exc:
                    proof = exc
                checked = None
                if self.pool is not None:
                    checked = asyncio.create_task(check_signatures(leaves, self.pool))
                end = position + len(leaves)
                if proof is None and end < size:
                    try:
                        proof = await self.client.consistency(end, size)
                    except (PeerUnreachable, PeerMisbehaves) as exc:
                        proof = exc
                self.queue.put_nowait(_Fetched(position, leaves, proof, checked))
                if isinstance(proof, Exception):
                    return
                position += len(leaves)
        except Exception as exc:
            self.queue.put_nowait(exc)

    async def _fill(self, start: int, end: int, leaves: list[bytes]) -> None:
        """Extend leaves of [start, …) towards `end` with more answers, up to MAX_BATCH_BYTES.

        A source may answer with fewer leaves than asked (its own
        max_entries_per_request); a batch, the unit of verification and of
        one transaction, may span several answers.
        """
        held = sum(map(len, leaves))
        while start + len(leaves) < end and held < MAX_BATCH_BYTES:
            more = await self.client.entries(start + len(leaves), end)
            leaves += more
            held += sum(map(len, more))

    async def settle(self) -> bool:
        """Wait for the commit in flight, if any; False if another process moved the head."""
        task, self.committing = self.committing, None
        if task is None:
            return True
        stored = await task
        self.slots.release()
        if stored:
            self.position = self.committing_end
        return stored

    async def run(self, replay: LogReplay, batch_size: int) -> BatchOutcome:
        self.position = start = replay.frontier.size
        if self.pool is not None and self.cp.size - start >= MIN_PARALLEL_LEAVES:
            self.pool.warm_up()
        fetcher = asyncio.create_task(self.fetch(start, batch_size))
        fetched = 0
        try:
            while True:
                item = await self.queue.get()
                if isinstance(item, Exception):
                    if not await self.settle():
                        return BatchOutcome(self.position, fetched, True)
                    raise item
                if item.checked is not None:
                    checked = await item.checked
                else:
                    checked = check_leaves(item.leaves)
                try:
                    batch = await self._authorise(replay, item, checked, start)
                except BatchRejected as exc:
                    fetcher.cancel()
                    await self.settle()  # what verified before this batch stays
                    bad = item.leaves[exc.index - item.start]
                    await _check_signed(self.client, bad, exc.index, self.cp, exc)
                    raise
                fetched += len(item.leaves)
                end = item.start + len(item.leaves)
                reached = self._tie_to_checkpoint(replay, item, end)
                if isinstance(reached, Exception):
                    await self.settle()
                    raise reached
                if not await self.settle():
                    return BatchOutcome(self.position, fetched, True)
                # Snapshots: the next batch extends replay while this one commits.
                self.committing = asyncio.create_task(
                    self.store.commit_synced(
                        self.did,
                        expected_size=item.start,
                        frontier=replay.frontier.copy(),
                        authority=replay.authority.copy(),
                        entries_in_order=batch.entries,
                        subtree_hashes=batch.subtree_hashes,
                        checkpoint=reached,
                    )
                )
                self.committing_end = end
                if reached is not None:
                    stored = await self.settle()
                    return BatchOutcome(self.position, fetched, not stored)
        except Exception:
            # Whatever failed, the batch before it verified: keep it.
            with contextlib.suppress(Exception):
                await self.settle()
            raise
        finally:
            await self._stop(fetcher)

    async def _authorise(
        self,
        replay: LogReplay,
        item: _Fetched,
        checked: list[CheckedLeaf | None],
        round_start: int,
    ) -> VerifiedBatch:
        """authorise_batch, and the once-only check against the log stored before the round.

        A record is in a log at most once (specs/01-records.md §6, check 6).
        The round's own ids are in the replay; the batch's ids are looked up
        among the entries stored before the round meanwhile, so that the
        query overlaps the authorisation instead of adding to it. Raises
        BatchRejected for the first entry in log order that fails either.
        """
        if not round_start:
            return await authorise_batch(replay, item.leaves, checked)
        ids = [opened[0] for opened in checked if opened is not None]
        lookup = asyncio.create_task(self.store.stored_ids(self.did, ids, before=round_start))
        try:
            try:
                batch = await authorise_batch(replay, item.leaves, checked)
            except BatchRejected as exc:
                reject_repeats(checked, item.start, await lookup, before=exc.index)
                raise
            reject_repeats(checked, item.start, await lookup, before=item.start + len(checked))
            return batch
        finally:
            if not lookup.done():
                lookup.cancel()
                with contextlib.suppress(BaseException):
                    await lookup

    def _tie_to_checkpoint(
        self, replay: LogReplay, item: _Fetched, end: int
    ) -> tuple[int, bytes, bytes] | Exception | None:
        """Prove the verified prefix part of the signed tree (§3.5).

        Returns the checkpoint to store for the last batch, None for another,
        or the error that ends the round.
        """
        cp = self.cp
        if end < cp.size:
            if isinstance(item.proof, Exception):
                return item.proof
            try:
                verify_consistency(
                    end, cp.size, replay.frontier.root(), cp.root_hash, item.proof or ()
                )
            except InvalidProof as exc:
                return PeerMisbehaves(
                    f"entries {item.start}..{end - 1} are not part of the signed log: {exc}"
                )
            return None
        if replay.frontier.root() != cp.root_hash:
            return PeerMisbehaves("the entries do not hash to the checkpoint's root")
        return (cp.size, cp.root_hash, self.note)

    async def _stop(self, fetcher: asyncio.Task[None]) -> None:
        """Stop fetching and checking; a commit still in flight (on cancel) rolls back."""
        fetcher.cancel()
        pending: list[asyncio.Future[Any]] = [fetcher]
        while not self.queue.empty():
            item = self.queue.get_nowait()
            if isinstance(item, _Fetched) and item.checked is not None:
                item.checked.cancel()
                pending.append(item.checked)
        if self.committing is not None:
            self.committing.cancel()
            pending.append(self.committing)
            self.committing = None
        for task in pending:
            with contextlib.suppress(BaseException):
                await task


async def run_batches(
    store: LogStore,
    client: LogClient,
    did: Did,
    cp: Checkpoint,
    note: bytes,
    replay: LogReplay,
    *,
    batch_size: int,
    pool: LeafWorkers | None,
    depth: int,
) -> BatchOutcome:
    """Fetch, verify and commit the entries from the replay's size up to `cp`, in batches.

    `replay` holds the verified head; `note` is the reduced note stored with
    the last batch. At most depth + 2 batches are fetched but not yet
    committed at any moment. Raises PeerUnreachable, PeerMisbehaves,
    BatchRejected; what verified before the failing batch is committed first.
    """
    round_ = _Round(store, client, did, cp, note, pool=pool, in_flight=depth + 2)
    return await round_.run(replay, batch_size)

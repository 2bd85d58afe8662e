"""Verifying a batch of a followed log's leaves: signatures (parallel) then authority (in order).

Opening a leaf (canonical form, shape, signature, record id, leaf hash) is
independent of every other leaf, so it can run in worker processes
(node/federation/workers.py), which send back each leaf's record fields in
a compact form (`protocol.signing.check_leaves`). The body's schema,
authorisation and the once-only id depend on order or on typed objects, so
they run here, in log order, on records rebuilt from those fields without
checking them a second time. The once-only check sees the ids of the round's
own entries (`LogReplay.seen_ids`); `reject_repeats` checks a batch against
the ids that the log stored before the round holds, which the pipeline
looks up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from node.federation.workers import LeafWorkers
from node.projections import ProjectedEntry
from protocol.errors import ProtocolError
from protocol.records import Record, RecordId, parse_body
from protocol.replay import LogReplay, RepeatedRecord
from protocol.signing import CheckedLeaf, check_leaves, open_leaf

__all__ = [
    "MIN_PARALLEL_LEAVES",
    "BatchRejected",
    "VerifiedBatch",
    "authorise_batch",
    "check_signatures",
    "reject_repeats",
]

# Below this many leaves, the round trip to a worker costs more than it saves.
MIN_PARALLEL_LEAVES = 64
# Entries authorised between yields to the event loop (a few milliseconds).
_YIELD_EVERY = 256


class BatchRejected(Exception):
    """An entry of the batch failed verification; nothing of the batch may be stored."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"entry {index}: {reason}")
        self.index = index
        self.reason = reason


@dataclass(frozen=True, slots=True)
class VerifiedBatch:
    entries: list[tuple[bytes, ProjectedEntry]]
    subtree_hashes: list[tuple[int, int, bytes]]


async def check_signatures(
    leaves: Sequence[bytes], pool: LeafWorkers | None
) -> list[CheckedLeaf | None]:
    """`check_leaves` over the batch: in the pool's worker processes, or here if none or few."""
    if pool is None or len(leaves) < MIN_PARALLEL_LEAVES:
        return check_leaves(leaves)
    return await pool.check(leaves)


async def authorise_batch(
    replay: LogReplay, leaves: Sequence[bytes], checked: Sequence[CheckedLeaf | None]
) -> VerifiedBatch:
    """Extend `replay` by leaves whose openings are `checked`, authorising each in order.

    Yields to the event loop every few hundred entries, so that the commit of
    the batch before (a statement per trip to the database thread) and the
    fetches ahead keep moving. A record id in `replay.seen_ids` is refused
    (RepeatedRecord as the cause). Raises BatchRejected (replay unusable then).
    """
    entries: list[tuple[bytes, ProjectedEntry]] = []
    hashes: list[tuple[int, int, bytes]] = []
    authority = replay.authority
    frontier = replay.frontier
    seen = replay.seen_ids
    node = authority.node
    for n, (leaf, opened) in enumerate(zip(leaves, checked, strict=True)):
        if n and not n % _YIELD_EVERY:
            await asyncio.sleep(0)
        index = frontier.size
        if opened is None:
            try:
                open_leaf(leaf)  # again, for the reason
            except ProtocolError as exc:
                raise BatchRejected(index, str(exc)) from exc
            raise BatchRejected(index, "signature check failed")
        rid, record_type, author, created, body_data, hashed = opened
        try:
            if rid in seen:
                raise RepeatedRecord(index, rid, seen[rid])
            record = Record.prevalidated(record_type, author, created, body_data)
            body = parse_body(record)
            admitted = authority.admit_verified(record, body)
        except ProtocolError as exc:
            raise BatchRejected(index, str(exc)) from exc
        seen[rid] = index
        hashes.extend(frontier.append(hashed))
        entries.append(
            (
                leaf,
                ProjectedEntry(
                    log=node,
                    index=index,
                    record_id=RecordId(rid),
                    record=record,
                    body=body,
                    identity=admitted.identity,
                ),
            )
        )
    return VerifiedBatch(entries, hashes)


def reject_repeats(
    checked: Sequence[CheckedLeaf | None], start: int, stored: Mapping[str, int], *, before: int
) -> None:
    """Raise BatchRejected for the first leaf below index `before` whose record `stored` holds.

    `checked` are the openings of the batch's leaves from index `start`;
    `stored` maps record ids to the indices of earlier entries of the log.
    """
    if not stored:
        return
    for offset, opened in enumerate(checked[: before - start]):
        if opened is not None and opened[0] in stored:
            index, rid = start + offset, opened[0]
            cause = RepeatedRecord(index, rid, stored[rid])
            raise BatchRejected(index, str(cause)) from cause

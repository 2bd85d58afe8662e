"""Verifying a batch of a followed log's leaves: signatures (parallel) then authority (in order).

Signature checks are independent, so they can run in worker processes;
authorisation depends on every earlier entry, so it runs in order here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

from node.projections import ProjectedEntry
from protocol.errors import ProtocolError
from protocol.merkle import leaf_hash
from protocol.records import RecordId, parse_body
from protocol.replay import LogReplay
from protocol.signing import envelope_from_leaf, open_leaf

__all__ = ["BatchRejected", "VerifiedBatch", "verify_batch"]


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


def _check_signatures(leaves: Sequence[bytes]) -> list[str | None]:
    """For each leaf: its record id, or None if its form or signature is bad. Runs anywhere."""
    out: list[str | None] = []
    for leaf in leaves:
        try:
            out.append(open_leaf(leaf).record_id)
        except ProtocolError:
            out.append(None)
    return out


async def _signature_results(
    leaves: Sequence[bytes], executor: Executor | None, workers: int
) -> list[str | None]:
    if executor is None or len(leaves) < 64:
        return _check_signatures(leaves)
    loop = asyncio.get_running_loop()
    size = -(-len(leaves) // workers)
    chunks = [list(leaves[i : i + size]) for i in range(0, len(leaves), size)]
    parts = await asyncio.gather(
        *(loop.run_in_executor(executor, _check_signatures, chunk) for chunk in chunks)
    )
    return [rid for part in parts for rid in part]


async def verify_batch(
    replay: LogReplay,
    leaves: Sequence[bytes],
    *,
    executor: Executor | None = None,
    workers: int = 2,
) -> VerifiedBatch:
    """Extend `replay` by leaves, verifying each. Raises BatchRejected (replay unusable then)."""
    ids = await _signature_results(leaves, executor, workers)
    entries: list[tuple[bytes, ProjectedEntry]] = []
    hashes: list[tuple[int, int, bytes]] = []
    for leaf, rid in zip(leaves, ids, strict=True):
        index = replay.frontier.size
        if rid is None:
            try:
                open_leaf(leaf)  # again, for the reason
            except ProtocolError as exc:
                raise BatchRejected(index, str(exc)) from exc
            raise BatchRejected(index, "signature check failed")
        try:
            record = envelope_from_leaf(leaf).record
            if rid in replay.seen_ids:
                raise BatchRejected(index, f"{rid} appears twice in the log")
            body = parse_body(record)
            admitted = replay.authority.admit_verified(record, body)
        except ProtocolError as exc:
            raise BatchRejected(index, str(exc)) from exc
        replay.seen_ids.add(rid)
        hashes.extend(replay.frontier.append(leaf_hash(leaf)))
        entries.append(
            (
                leaf,
                ProjectedEntry(
                    log=replay.authority.node,
                    index=index,
                    record_id=RecordId(rid),
                    record=record,
                    body=body,
                    identity=admitted.identity,
                ),
            )
        )
    return VerifiedBatch(entries, hashes)

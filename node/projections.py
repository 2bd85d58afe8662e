"""Projections: SQL views of verified log entries, kept in the same transaction.

Every entry that enters the database, appended locally or pulled from a
peer, passes through every registered projector inside the transaction
that stores it, so a projection never shows an unverified or uncommitted
record and can always be rebuilt from the logs. Later packages (designs,
offers, jobs, proposals, ledger) register their projectors here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.did import Did
from protocol.records import Record, RecordBody, RecordId

__all__ = ["PROJECTORS", "ProjectedEntry", "Projector", "project", "register_projector"]


@dataclass(frozen=True, slots=True)
class ProjectedEntry:
    """A verified, authorised entry of one log, as projectors see it."""

    log: Did
    index: int
    record_id: RecordId
    record: Record
    body: RecordBody
    identity: Did


Projector = Callable[[AsyncConnection, Sequence[ProjectedEntry]], Awaitable[None]]
PROJECTORS: list[Projector] = []


def register_projector(projector: Projector) -> Projector:
    PROJECTORS.append(projector)
    return projector


async def project(conn: AsyncConnection, entries: Sequence[ProjectedEntry]) -> None:
    """Run every projector over entries (in log order) within the caller's transaction."""
    if not entries:
        return
    for projector in PROJECTORS:
        await projector(conn, entries)

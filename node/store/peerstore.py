"""Peers, cosignatures, equivocation evidence, and the persistent outbox and inbox."""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from node.store.schema import cosignatures, evidence, inbox, outbox, peers
from node.store.sqlitereader import ReadFailed, SQLiteReader
from protocol.did import Did

__all__ = ["STOPPED_STATES", "CosignatureRow", "OutboxItem", "PeerRow", "PeerStore"]

PEER_STATES = frozenset({"ok", "syncing", "unreachable", "equivocating", "invalid", "blocked"})
# Peers in these states get no traffic until an operator acts.
STOPPED_STATES = frozenset({"blocked", "equivocating", "invalid"})


@dataclass(frozen=True, slots=True)
class PeerRow:
    did: Did
    url: str
    origin: str
    vkey: str
    name: str
    state: str
    detail: str
    last_success: int | None
    last_error: str | None
    added: int
    fetched_entries: int


@dataclass(frozen=True, slots=True)
class CosignatureRow:
    log_did: Did
    size: int
    witness_key: bytes
    witness_name: str
    line: str
    timestamp: int


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    peer_did: Did
    kind: str
    payload: bytes
    attempts: int


def _peer(row: object) -> PeerRow:
    m = row._mapping  # type: ignore[attr-defined]
    return PeerRow(
        did=Did(m["did"]),
        url=m["url"],
        origin=m["origin"],
        vkey=m["vkey"],
        name=m["name"],
        state=m["state"],
        detail=m["detail"],
        last_success=m["last_success"],
        last_error=m["last_error"],
        added=int(m["added"]),
        fetched_entries=int(m["fetched_entries"]),
    )


class PeerStore:
    def __init__(self, engine: AsyncEngine, reader: SQLiteReader | None = None) -> None:
        self.engine = engine
        # SQLite: the log store's point reader, for reads on every checkpoint request.
        self.reader = reader

    # Peers

    async def add_peer(self, row: PeerRow) -> bool:
        """Insert a peer; False if it is known already."""
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    insert(peers).values(
                        did=row.did,
                        url=row.url,
                        origin=row.origin,
                        vkey=row.vkey,
                        name=row.name,
                        state=row.state,
                        detail=row.detail,
                        last_success=row.last_success,
                        last_error=row.last_error,
                        added=row.added,
                        fetched_entries=row.fetched_entries,
                    )
                )
        except IntegrityError:
            return False
        return True

    async def peer(self, did: str) -> PeerRow | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(peers).where(peers.c.did == did))).first()
        return None if row is None else _peer(row)

    async def all_peers(self) -> list[PeerRow]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(peers).order_by(peers.c.added, peers.c.did))).all()
        return [_peer(r) for r in rows]

    async def set_state(
        self,
        did: str,
        state: str,
        *,
        detail: str = "",
        success_at: int | None = None,
        error: str | None = None,
        fetched: int = 0,
    ) -> None:
        if state not in PEER_STATES:
            raise ValueError(f"unknown peer state {state}")
        values: dict[str, object] = {"state": state, "detail": detail[:2000]}
        if success_at is not None:
            values["last_success"] = success_at
        if error is not None:
            values["last_error"] = error[:2000]
        if fetched:
            values["fetched_entries"] = peers.c.fetched_entries + fetched
        statement = update(peers).where(peers.c.did == did)
        if state not in STOPPED_STATES:
            # A finished sync round never lifts a block or an equivocation
            # that was set while it ran; only an operator does.
            statement = statement.where(peers.c.state.not_in(sorted(STOPPED_STATES)))
        async with self.engine.begin() as conn:
            await conn.execute(statement.values(**values))

    async def reset_state(self, did: str, detail: str) -> None:
        """The operator's decision to follow a stopped peer again."""
        async with self.engine.begin() as conn:
            await conn.execute(
                update(peers).where(peers.c.did == did).values(state="syncing", detail=detail)
            )

    async def remove_peer(self, did: str) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(peers).where(peers.c.did == did))
            await conn.execute(delete(outbox).where(outbox.c.peer_did == did))
        return bool(result.rowcount)

    # Cosignatures

    async def add_cosignature(self, row: CosignatureRow) -> bool:
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    insert(cosignatures).values(
                        log_did=row.log_did,
                        size=row.size,
                        witness_key=row.witness_key,
                        witness_name=row.witness_name,
                        line=row.line,
                        timestamp=row.timestamp,
                    )
                )
        except IntegrityError:
            return False
        return True

    async def cosignature_lines(self, log_did: str, size: int) -> list[str]:
        """The lines of `cosignatures_at`, in its order; what /fed/v1/checkpoint appends."""
        if self.reader is not None:
            with contextlib.suppress(ReadFailed):
                return self.reader.cosignature_lines(log_did, size)
        return [c.line for c in await self.cosignatures_at(log_did, size)]

    async def cosignatures_at(self, log_did: str, size: int) -> list[CosignatureRow]:
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(cosignatures)
                    .where(cosignatures.c.log_did == log_did, cosignatures.c.size == size)
                    .order_by(cosignatures.c.witness_name)
                )
            ).all()
        return [
            CosignatureRow(
                log_did=Did(r.log_did),
                size=int(r.size),
                witness_key=bytes(r.witness_key),
                witness_name=r.witness_name,
                line=r.line,
                timestamp=int(r.timestamp),
            )
            for r in rows
        ]

    async def cosigners_by_size(self, log_did: str) -> list[tuple[int, set[bytes]]]:
        """(size, witness public keys) for every cosigned checkpoint, largest size first."""
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(cosignatures.c.size, cosignatures.c.witness_key).where(
                        cosignatures.c.log_did == log_did
                    )
                )
            ).all()
        keys: dict[int, set[bytes]] = {}
        for r in rows:
            keys.setdefault(int(r.size), set()).add(bytes(r.witness_key))
        return sorted(keys.items(), key=lambda item: item[0], reverse=True)

    async def cosigned_sizes(self, log_did: str) -> list[tuple[int, int]]:
        """(size, number of distinct witness keys) for every cosigned checkpoint, newest first."""
        return [(size, len(keys)) for size, keys in await self.cosigners_by_size(log_did)]

    # Evidence

    async def add_evidence(self, log_did: str, kind: str, body: str, found: int) -> bool:
        evidence_id = hashlib.sha256(body.encode()).hexdigest()
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    insert(evidence).values(
                        id=evidence_id, log_did=log_did, kind=kind, body=body, found=found
                    )
                )
        except IntegrityError:
            return False
        return True

    async def all_evidence(self) -> list[tuple[str, str, str, int]]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(evidence).order_by(evidence.c.found))).all()
        return [(r.log_did, r.kind, r.body, int(r.found)) for r in rows]

    # Outbox

    async def enqueue(self, peer_did: str, kind: str, payload: bytes, now: int) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(outbox).values(
                    peer_did=peer_did,
                    kind=kind,
                    payload=payload,
                    attempts=0,
                    next_attempt=now,
                    created=now,
                )
            )

    async def due(self, now: int, limit: int = 100) -> list[OutboxItem]:
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(outbox)
                    .where(outbox.c.next_attempt <= now)
                    .order_by(outbox.c.next_attempt, outbox.c.id)
                    .limit(limit)
                )
            ).all()
        return [
            OutboxItem(
                id=int(r.id),
                peer_did=Did(r.peer_did),
                kind=r.kind,
                payload=bytes(r.payload),
                attempts=int(r.attempts),
            )
            for r in rows
        ]

    async def delivered(self, item_id: int) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(delete(outbox).where(outbox.c.id == item_id))

    async def retry_later(self, item_id: int, next_attempt: int, error: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(outbox)
                .where(outbox.c.id == item_id)
                .values(
                    attempts=outbox.c.attempts + 1,
                    next_attempt=next_attempt,
                    last_error=error[:500],
                )
            )

    async def outbox_size(self) -> int:
        async with self.engine.connect() as conn:
            return len((await conn.execute(select(outbox.c.id))).all())

    # Inbox

    async def inbox_count(self, sender: str) -> int:
        async with self.engine.connect() as conn:
            result = await conn.execute(
                select(func.count()).select_from(inbox).where(inbox.c.sender == sender)
            )
            return int(result.scalar_one())

    async def add_inbox(
        self, sender: str, kind: str, record_id: str | None, payload: bytes, now: int
    ) -> bool:
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    insert(inbox).values(
                        sender=sender,
                        kind=kind,
                        record_id=record_id,
                        payload=payload,
                        received=now,
                    )
                )
        except IntegrityError:
            return False
        return True

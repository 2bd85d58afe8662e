"""The capacity projection: workshops, owner keys, machines and offers of every verified log.

The projector runs inside the transaction that stores entries (own appends
and synced peers' alike), so these tables hold only verified records and
can be rebuilt from the logs. Each table keeps the latest version per key
(a new `machine` or `offer` with the same slug replaces the old one).
`CapacityStore` reads them back as registry objects; rows never leave
this module.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    and_,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from node.projections import ProjectedEntry, register_projector
from node.store.schema import metadata
from protocol.did import Did
from protocol.records import RecordBody, RecordId
from registry.capacity import Machine, Offer, OfferWithdraw, WorkshopRegister, WorkshopRetire

__all__ = [
    "CapacityStore",
    "StoredMachine",
    "StoredOffer",
    "StoredWorkshop",
    "capacity_version",
    "machines",
    "offers",
    "workshop_owners",
    "workshops",
]

workshops = Table(
    "workshops",
    metadata,
    Column("log_did", String(64), primary_key=True),
    Column("slug", String(64), primary_key=True),
    Column("record_id", String(71), nullable=False),
    Column("idx", BigInteger, nullable=False),
    Column("name", String(200), nullable=False),
    Column("retired", Boolean, nullable=False),
    # The latest workshop.register body exactly as signed, as JSON.
    Column("body", Text, nullable=False),
)

workshop_owners = Table(
    "workshop_owners",
    metadata,
    Column("log_did", String(64), primary_key=True),
    Column("slug", String(64), primary_key=True),
    Column("owner", String(64), primary_key=True),
    Index("ix_workshop_owners_owner", "owner"),
)

machines = Table(
    "machines",
    metadata,
    Column("log_did", String(64), primary_key=True),
    Column("workshop", String(64), primary_key=True),
    Column("machine", String(64), primary_key=True),
    Column("record_id", String(71), nullable=False),
    Column("idx", BigInteger, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("body", Text, nullable=False),
)

offers = Table(
    "offers",
    metadata,
    Column("log_did", String(64), primary_key=True),
    Column("workshop", String(64), primary_key=True),
    Column("offer", String(64), primary_key=True),
    Column("record_id", String(71), nullable=False),
    Column("idx", BigInteger, nullable=False),
    Column("machine", String(64), nullable=False),
    Column("open", Boolean, nullable=False),
    Column("valid_until", String(40), nullable=False),
    Column("body", Text, nullable=False),
    Index("ix_offers_open", "open"),
)

# One row (id 1) whose version moves on with every change to the tables above, in the
# same transaction: a reader that finds the version it last read knows nothing changed.
capacity_version = Table(
    "capacity_version",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", BigInteger, nullable=False),
)

_TYPES = frozenset(
    {WorkshopRegister.TYPE, WorkshopRetire.TYPE, Machine.TYPE, Offer.TYPE, OfferWithdraw.TYPE}
)


def _json(body: Any) -> str:
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


@register_projector
async def project_capacity(conn: AsyncConnection, entries: Sequence[ProjectedEntry]) -> None:
    """Keep the latest workshop, machine and offer records (inside the caller's transaction)."""
    if not any(e.record.type in _TYPES for e in entries):
        return
    bumped = await conn.execute(
        update(capacity_version)
        .where(capacity_version.c.id == 1)
        .values(version=capacity_version.c.version + 1)
    )
    if bumped.rowcount == 0:
        await conn.execute(insert(capacity_version).values(id=1, version=1))
    for e in entries:
        if e.record.type not in _TYPES:
            continue
        body = e.body
        raw = _json(e.record.body)
        if isinstance(body, WorkshopRegister):
            key = and_(workshops.c.log_did == e.log, workshops.c.slug == body.workshop)
            await conn.execute(delete(workshops).where(key))
            await conn.execute(
                insert(workshops).values(
                    log_did=e.log,
                    slug=body.workshop,
                    record_id=e.record_id,
                    idx=e.index,
                    name=body.name,
                    retired=False,
                    body=raw,
                )
            )
            owner_key = and_(
                workshop_owners.c.log_did == e.log, workshop_owners.c.slug == body.workshop
            )
            await conn.execute(delete(workshop_owners).where(owner_key))
            await conn.execute(
                insert(workshop_owners),
                [{"log_did": e.log, "slug": body.workshop, "owner": o} for o in body.owners],
            )
        elif isinstance(body, WorkshopRetire):
            key = and_(workshops.c.log_did == e.log, workshops.c.slug == body.workshop)
            await conn.execute(update(workshops).where(key).values(retired=True))
        elif isinstance(body, Machine):
            key = and_(
                machines.c.log_did == e.log,
                machines.c.workshop == body.workshop,
                machines.c.machine == body.machine,
            )
            await conn.execute(delete(machines).where(key))
            await conn.execute(
                insert(machines).values(
                    log_did=e.log,
                    workshop=body.workshop,
                    machine=body.machine,
                    record_id=e.record_id,
                    idx=e.index,
                    active=body.active,
                    body=raw,
                )
            )
        elif isinstance(body, Offer):
            key = and_(
                offers.c.log_did == e.log,
                offers.c.workshop == body.workshop,
                offers.c.offer == body.offer,
            )
            await conn.execute(delete(offers).where(key))
            await conn.execute(
                insert(offers).values(
                    log_did=e.log,
                    workshop=body.workshop,
                    offer=body.offer,
                    record_id=e.record_id,
                    idx=e.index,
                    machine=body.machine,
                    open=True,
                    valid_until=body.valid_until,
                    body=raw,
                )
            )
        elif isinstance(body, OfferWithdraw):
            key = and_(
                offers.c.log_did == e.log,
                offers.c.workshop == body.workshop,
                offers.c.offer == body.offer,
            )
            await conn.execute(update(offers).where(key).values(open=False))


@dataclass(frozen=True, slots=True)
class StoredWorkshop:
    log: Did
    record_id: RecordId
    index: int
    retired: bool
    workshop: WorkshopRegister

    def to_dict(self) -> dict[str, Any]:
        return {
            "log": self.log,
            "id": self.record_id,
            "index": self.index,
            "retired": self.retired,
            **self.workshop.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class StoredMachine:
    log: Did
    record_id: RecordId
    index: int
    machine: Machine

    def to_dict(self) -> dict[str, Any]:
        return {
            "log": self.log,
            "id": self.record_id,
            "index": self.index,
            **self.machine.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class StoredOffer:
    log: Did
    record_id: RecordId
    index: int
    open: bool
    offer: Offer

    def to_dict(self) -> dict[str, Any]:
        return {
            "log": self.log,
            "id": self.record_id,
            "index": self.index,
            "open": self.open,
            **self.offer.to_dict(),
        }


_B = TypeVar("_B", bound=RecordBody)


class _BodyCache:
    """Parsed bodies by record id (immutable, so never stale), least recently used dropped."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, Any] = OrderedDict()

    def get(self, record_id: str, raw: str, cls: type[_B]) -> _B:
        found = self._items.get(record_id)
        if found is not None:
            self._items.move_to_end(record_id)
            assert isinstance(found, cls)
            return found
        body = cls.from_dict(json.loads(raw))
        self._items[record_id] = body
        if len(self._items) > self.size:
            self._items.popitem(last=False)
        return body


class CapacityStore:
    """Reads the capacity tables."""

    def __init__(self, engine: AsyncEngine, *, cache_size: int = 50_000) -> None:
        self.engine = engine
        self._cache = _BodyCache(cache_size)
        self._current: tuple[int, list[tuple[StoredOffer, StoredWorkshop, Machine | None]]] | None
        self._current = None

    async def workshops(
        self, *, log: str | None = None, include_retired: bool = True, limit: int = 1000
    ) -> list[StoredWorkshop]:
        query = select(workshops).order_by(workshops.c.log_did, workshops.c.slug).limit(limit)
        if log is not None:
            query = query.where(workshops.c.log_did == log)
        if not include_retired:
            query = query.where(workshops.c.retired.is_(False))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [self._workshop(r) for r in rows]

    async def workshop(self, log: str, slug: str) -> StoredWorkshop | None:
        query = select(workshops).where(workshops.c.log_did == log, workshops.c.slug == slug)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else self._workshop(row)

    def _workshop(self, row: Any) -> StoredWorkshop:
        m = row._mapping
        return StoredWorkshop(
            log=Did(m["log_did"]),
            record_id=RecordId(m["record_id"]),
            index=int(m["idx"]),
            retired=bool(m["retired"]),
            workshop=self._cache.get(m["record_id"], m["body"], WorkshopRegister),
        )

    async def owners(self, log: str, slug: str) -> set[str]:
        """The owner keys of a registered workshop (retired or not; empty if unknown)."""
        query = select(workshop_owners.c.owner).where(
            workshop_owners.c.log_did == log, workshop_owners.c.slug == slug
        )
        async with self.engine.connect() as conn:
            return {r.owner for r in await conn.execute(query)}

    async def workshops_of(self, owner: str) -> list[tuple[Did, str]]:
        """(log, slug) of every workshop this key owns."""
        query = select(workshop_owners.c.log_did, workshop_owners.c.slug).where(
            workshop_owners.c.owner == owner
        )
        async with self.engine.connect() as conn:
            return [(Did(r.log_did), r.slug) for r in await conn.execute(query)]

    async def machines(
        self, *, log: str | None = None, workshop: str | None = None, limit: int = 1000
    ) -> list[StoredMachine]:
        query = (
            select(machines)
            .order_by(machines.c.log_did, machines.c.workshop, machines.c.machine)
            .limit(limit)
        )
        if log is not None:
            query = query.where(machines.c.log_did == log)
        if workshop is not None:
            query = query.where(machines.c.workshop == workshop)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            StoredMachine(
                log=Did(r.log_did),
                record_id=RecordId(r.record_id),
                index=int(r.idx),
                machine=self._cache.get(r.record_id, r.body, Machine),
            )
            for r in rows
        ]

    async def offers(
        self,
        *,
        log: str | None = None,
        workshop: str | None = None,
        include_withdrawn: bool = False,
        limit: int = 1000,
        offset: int = 0,
    ) -> list[StoredOffer]:
        query = (
            select(offers)
            .order_by(offers.c.log_did, offers.c.workshop, offers.c.offer)
            .limit(limit)
            .offset(offset)
        )
        if log is not None:
            query = query.where(offers.c.log_did == log)
        if workshop is not None:
            query = query.where(offers.c.workshop == workshop)
        if not include_withdrawn:
            query = query.where(offers.c.open.is_(True))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            StoredOffer(
                log=Did(r.log_did),
                record_id=RecordId(r.record_id),
                index=int(r.idx),
                open=bool(r.open),
                offer=self._cache.get(r.record_id, r.body, Offer),
            )
            for r in rows
        ]

    async def current(
        self,
    ) -> list[tuple[StoredOffer, StoredWorkshop, Machine | None]]:
        """Every open offer with its workshop and machine (None if unknown): what routing
        judges, in one query."""
        query = (
            select(
                offers.c.log_did,
                offers.c.record_id,
                offers.c.idx,
                offers.c.body,
                workshops.c.record_id.label("w_id"),
                workshops.c.idx.label("w_idx"),
                workshops.c.retired,
                workshops.c.body.label("w_body"),
                machines.c.record_id.label("m_id"),
                machines.c.body.label("m_body"),
            )
            .join(
                workshops,
                and_(
                    workshops.c.log_did == offers.c.log_did,
                    workshops.c.slug == offers.c.workshop,
                ),
            )
            .outerjoin(
                machines,
                and_(
                    machines.c.log_did == offers.c.log_did,
                    machines.c.workshop == offers.c.workshop,
                    machines.c.machine == offers.c.machine,
                ),
            )
            .where(offers.c.open.is_(True))
        )
        async with self.engine.connect() as conn, conn.begin():
            version = (await conn.execute(select(capacity_version.c.version))).scalar()
            version = int(version or 0)
            if self._current is not None and self._current[0] == version:
                return list(self._current[1])
            rows = (await conn.execute(query)).all()
        out = []
        cache = self._cache
        for r in rows:
            log = Did(r.log_did)
            offer = StoredOffer(
                log=log,
                record_id=RecordId(r.record_id),
                index=int(r.idx),
                open=True,
                offer=cache.get(r.record_id, r.body, Offer),
            )
            shop = StoredWorkshop(
                log=log,
                record_id=RecordId(r.w_id),
                index=int(r.w_idx),
                retired=bool(r.retired),
                workshop=cache.get(r.w_id, r.w_body, WorkshopRegister),
            )
            machine = None if r.m_id is None else cache.get(r.m_id, r.m_body, Machine)
            out.append((offer, shop, machine))
        self._current = (version, out)
        return list(out)

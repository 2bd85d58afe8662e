"""Sharing completed jobs and checking every distribution (specs/07-ledger.md §5.3, §5.4).

The node whose log holds a `job.complete` appends its `ledger.distribution`
once it knows the job's request and design: the log's rules have already
noted the job.complete with the policy then in force. Every node
recomputes the derivation chain of every verified distribution from the
logs it holds and records whether it agrees. A commit listener only wakes
the one background task; all work happens in that task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

from aiohttp import web

from governance.distribution import (
    Designer,
    DistributionInputError,
    Policy,
    derivation_generations,
    distribute,
)
from governance.ledger import LedgerDistribution
from node.appkeys import CONFIG, LOG, STORE
from node.clock import utc_now
from node.logservice import LogService, LogUnavailable
from node.projections import ProjectedEntry
from node.store.designs import DesignStore
from node.store.ledger import LedgerStore, StoredDistribution
from node.store.logstore import LogStore
from protocol.did import Did
from protocol.errors import ProtocolError
from protocol.records import RecordId, format_time
from protocol.signing import envelope_from_leaf

__all__ = [
    "LEDGER",
    "LEDGER_DRIVER",
    "DesignSource",
    "LedgerDriver",
    "StoreDesignSource",
    "ledger_context",
]

logger = logging.getLogger(__name__)

# Entries that can make a distribution due or decidable.
_WAKE_TYPES = frozenset(
    {"job.complete", "job.request", "design", "ledger.distribution", "ledger.policy"}
)
_BATCH = 100


class DesignSource(Protocol):
    """Where the driver finds designs: (log, designer identity, derived_from) by id."""

    async def closure(self, design: str) -> dict[str, tuple[Did, Did, Sequence[RecordId]]]: ...


class StoreDesignSource:
    """DesignSource over the design projection (node/store/designs.py)."""

    def __init__(self, designs: DesignStore) -> None:
        self._designs = designs

    async def closure(self, design: str) -> dict[str, tuple[Did, Did, Sequence[RecordId]]]:
        found = await self._designs.closure([design])
        return {
            design_id: (stored.log, stored.identity, stored.design.derived_from)
            for design_id, stored in found.items()
        }


class LedgerDriver:
    """Appends this log's due distributions and judges everyone's."""

    def __init__(
        self, *, store: LogStore, log: LogService, ledger: LedgerStore, designs: DesignSource
    ) -> None:
        self.store = store
        self.log = log
        self.ledger = ledger
        self.designs = designs
        self._wake = asyncio.Event()

    def on_commit(self, entries: Sequence[ProjectedEntry]) -> None:
        """LogStore listener: only wakes the task (it runs after the commit, in the loop)."""
        if any(e.record.type in _WAKE_TYPES for e in entries):
            self._wake.set()

    async def run(self) -> None:
        self._wake.set()  # catch up after a restart
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                more = await self.step()
            except (LogUnavailable, OSError) as exc:
                logger.warning("ledger: %s; retrying on the next commit", exc)
                continue
            except Exception:
                logger.exception("ledger step failed")
                continue
            if more:
                self._wake.set()

    async def step(self) -> bool:
        """Share what is due and judge what is unchecked; True if a full batch was done."""
        shared = await self.share_pending()
        checked = await self.check_distributions()
        return shared >= _BATCH or checked >= _BATCH

    # -- the workshop's node shares its completed jobs --------------------------------------

    async def share_pending(self) -> int:
        """Append a distribution for each job.complete of this log that awaits one."""
        head = await self.store.head(self.log.did)
        if head is None:
            return 0
        ledger = head.authority.extensions.get("ledger") or {}
        pending: dict[str, dict[str, Any]] = ledger.get("pending", {})
        done = 0
        for complete, info in list(pending.items())[:_BATCH]:
            policy = Policy.from_dict(ledger["policies"][info["policy"]])
            body = await self.compose(RecordId(complete), info, policy)
            if body is None:
                continue
            try:
                await self.log.append_own(LedgerDistribution.TYPE, body, format_time(utc_now()))
            except ProtocolError as exc:
                # Another worker of this node may have shared it first.
                logger.info("ledger: distribution of %s not appended: %s", complete, exc)
                continue
            done += 1
            logger.info("ledger: shared job.complete %s by policy %s", complete, info["policy"])
        return done

    async def compose(
        self, complete: RecordId, info: dict[str, Any], policy: Policy
    ) -> dict[str, Any] | None:
        """The distribution body of a due job.complete, or None while inputs are unknown."""
        designers = await self.chain(info["job_log"], info["job"], policy)
        if isinstance(designers, str):
            logger.debug("ledger: %s waits: %s", complete, designers)
            return None
        amount = int(info["paid"]["amount"])
        parts = distribute(policy, amount, workshop=self.log.did, designers=designers[0])
        return {
            "complete": complete,
            "job": info["job"],
            "job_log": info["job_log"],
            "workshop": info["workshop"],
            "policy": info["policy"],
            "policy_version": policy.version,
            "total": dict(info["paid"]),
            "designers": [d.to_dict() for d in designers[0]],
            "parts": [p.to_dict() for p in parts],
        }

    async def chain(
        self, job_log: str, job: str, policy: Policy
    ) -> tuple[tuple[Designer, ...], tuple[RecordId, ...]] | str:
        """The job's derivation chain as this node knows it, or why it cannot say yet."""
        found = await self.store.entry_by_id(job_log, job)
        if found is None:
            return f"job.request {job} of {job_log} is not known here"
        record = envelope_from_leaf(found[1]).record
        if record.type != "job.request":
            return f"{job} is a {record.type}, not a job.request"
        design = record.body.get("design")
        if not isinstance(design, str):
            return f"job.request {job} names no design"
        known = await self.designs.closure(design)
        try:
            designers, missing = derivation_generations(
                RecordId(design), known.get, max_generations=policy.max_generations
            )
        except DistributionInputError:
            return f"design {design} is not known here"
        return tuple(sorted(designers)), missing

    # -- every node judges every distribution -----------------------------------------------

    async def check_distributions(self) -> int:
        """Recompute pending (then undecided) distributions; store each verdict."""
        checked = 0
        for distribution in await self.ledger.distributions_to_check(_BATCH):
            verdict, detail = await self.verdict(distribution)
            if verdict == distribution.agreement and detail == distribution.detail:
                continue
            await self.ledger.set_agreement(distribution.log, distribution.index, verdict, detail)
            checked += 1
            if verdict == "disagree":
                logger.warning(
                    "ledger: distribution %s of %s disagrees with this node: %s",
                    distribution.record_id,
                    distribution.log,
                    detail,
                )
        return checked

    async def verdict(self, distribution: StoredDistribution) -> tuple[str, str]:
        """("agree" | "disagree" | "unknown", why) for one verified distribution."""
        body = distribution.body
        policy_body = await self.ledger.policy(distribution.log, body["policy"])
        if policy_body is None:
            return "unknown", f"policy {body['policy']} is not known here"
        policy = Policy.from_dict(policy_body)
        mine = await self.chain(body["job_log"], body["job"], policy)
        if isinstance(mine, str):
            return "unknown", mine
        designers, missing = mine
        theirs = sorted(Designer.from_dict(d, i) for i, d in enumerate(body["designers"]))
        if list(designers) == theirs:
            return "agree", ""
        if missing:
            return "unknown", "ancestors not known here: " + ", ".join(missing)
        expected = {d.design for d in designers}
        given = {d.design for d in theirs}
        return "disagree", (
            f"the derivation chain differs: missing {sorted(expected - given)}, "
            f"extra {sorted(given - expected)}, or generations or authors differ"
        )


LEDGER: web.AppKey[LedgerStore] = web.AppKey("ledger", LedgerStore)
LEDGER_DRIVER: web.AppKey[LedgerDriver] = web.AppKey("ledger_driver", LedgerDriver)


async def ledger_context(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the ledger store, and the driver task with its commit listener."""
    store = app[STORE]
    ledger = LedgerStore(store.engine)
    driver = LedgerDriver(
        store=store,
        log=app[LOG],
        ledger=ledger,
        designs=StoreDesignSource(DesignStore(store.engine)),
    )
    app[LEDGER] = ledger
    app[LEDGER_DRIVER] = driver
    # Of several worker processes on one database, only the one with
    # background tasks shares jobs and judges distributions.
    if not app[CONFIG].background_tasks:
        yield
        return
    store.listeners.append(driver.on_commit)
    task = asyncio.create_task(driver.run(), name="ledger-driver")
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            store.listeners.remove(driver.on_commit)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

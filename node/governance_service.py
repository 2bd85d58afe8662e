"""Closing proposals and running adopted decisions in the background (specs/06-governance.md §10.1).

One task per node (the process with `background_tasks`): it sleeps until the
next open proposal of the node's own log closes, or until a commit wakes it,
then appends a node-signed `proposal.result` with the tally the log implies
at that moment, and executes every adopted, unexecuted action once per
process (node/governance_actions.py). Time comes from node/clock.py; the
tally itself is the pure governance/tally.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from aiohttp import web

from governance.electorate import adopted, open_proposal, open_proposals, tally_of_entry
from governance.errors import GovernanceRefused
from governance.proposals import Proposal, ProposalResult
from node.appkeys import CONFIG, LOG, STORE
from node.clock import utc_now
from node.errors import NodeError
from node.governance_actions import ACTIONS, ActionFailed
from node.logservice import LogUnavailable
from node.projections import ProjectedEntry
from node.store.governance import GovernanceStore
from protocol.errors import ProtocolError
from protocol.records import format_time, parse_time

__all__ = ["GOVERNANCE", "GOVERNANCE_STORE", "GovernanceService", "governance_context"]

logger = logging.getLogger(__name__)

# Longest sleep between checks; a commit or the next closing time wakes it sooner.
MAX_SLEEP_S = 30.0
CLOSE_ATTEMPTS = 3


class GovernanceService:
    """Closes the own log's proposals when they close; executes adopted actions."""

    def __init__(self, app: web.Application, store: GovernanceStore) -> None:
        self.app = app
        self.store = store
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._attempted: set[str] = set()

    def on_commit(self, entries: Sequence[ProjectedEntry]) -> None:
        """A LogStore listener: only wakes the loop (it runs synchronously after a commit)."""
        own = self.app[LOG].did
        for e in entries:
            if e.log == own and e.record.type in (Proposal.TYPE, ProposalResult.TYPE):
                self._wake.set()
                return

    async def start(self) -> None:
        self.app[STORE].listeners.append(self.on_commit)
        if self.app[CONFIG].background_tasks:
            self._task = asyncio.create_task(self._loop(), name="governance")

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.app[STORE].listeners.remove(self.on_commit)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                delay = await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                # A bug or an outage must not end governance; try again shortly.
                logger.exception("governance round failed")
                delay = 5.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)

    async def tick(self) -> float:
        """Close what is due, execute what was adopted; return seconds until the next closing."""
        head = await self.app[LOG].current_head()
        now = utc_now()
        next_due: datetime | None = None
        for pid, entry in sorted(open_proposals(head.authority).items()):
            closes = parse_time(entry["terms"]["closes"])
            if closes <= now:
                await self.close(pid)
            elif next_due is None or closes < next_due:
                next_due = closes
        head = await self.app[LOG].current_head()
        for result_id, decision in sorted(adopted(head.authority).items()):
            if not decision.get("executed") and result_id not in self._attempted:
                await self.execute(result_id, decision)
        if next_due is None:
            return MAX_SLEEP_S
        return min(MAX_SLEEP_S, max(0.01, (next_due - utc_now()).total_seconds()))

    async def close(self, proposal_id: str) -> None:
        """Append the proposal's result; retried if a ballot slipped in meanwhile."""
        log = self.app[LOG]
        for _ in range(CLOSE_ATTEMPTS):
            head = await log.current_head()
            entry = open_proposal(head.authority, proposal_id)
            if entry is None:
                return  # another process closed it
            now = utc_now()
            result = tally_of_entry(entry, proposal_id, now=now)
            body: dict[str, object] = {"proposal": proposal_id, "tally": result.to_dict()}
            try:
                appended = await log.append_own(ProposalResult.TYPE, body, format_time(now))
            except GovernanceRefused as exc:
                if exc.reason in ("tally-mismatch", "proposal-closed"):
                    continue
                raise
            logger.info(
                "closed proposal %s: winner %s, adopted %s (result %s)",
                proposal_id,
                result.winner,
                result.adopted,
                appended.id,
            )
            return
        logger.warning("could not close proposal %s after %d attempts", proposal_id, CLOSE_ATTEMPTS)

    async def execute(self, result_id: str, decision: dict[str, Any]) -> None:
        """Run the executor of an adopted action once; keep its failure for the API."""
        self._attempted.add(result_id)
        action = decision.get("action") or {}
        kind = action.get("kind")
        executor = ACTIONS.get(kind) if isinstance(kind, str) else None
        error: str | None = None
        if executor is None:
            error = f"this node has no executor for {kind!r}"
        else:
            try:
                await executor(self.app, result_id, dict(action.get("params") or {}))
            except (ActionFailed, NodeError, ProtocolError, LogUnavailable) as exc:
                error = str(exc)[:2000] or type(exc).__name__
            except Exception:
                logger.exception("executing decision %s failed", result_id)
                error = "the executor failed; see the node's log"
        if error is not None:
            logger.warning("decision %s (%s) not executed: %s", result_id, kind, error)
            await self.store.set_execution_error(self.app[LOG].did, result_id, error)
        else:
            logger.info("executed decision %s (%s)", result_id, kind)


GOVERNANCE_STORE: web.AppKey[GovernanceStore] = web.AppKey("governance_store")
GOVERNANCE: web.AppKey[GovernanceService] = web.AppKey("governance")


async def governance_context(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the governance store and the closing task, once storage is open."""
    store = GovernanceStore(app[STORE].engine)
    app[GOVERNANCE_STORE] = store
    service = GovernanceService(app, store)
    app[GOVERNANCE] = service
    await service.start()
    try:
        yield
    finally:
        await service.stop()

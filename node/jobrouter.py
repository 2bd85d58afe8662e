"""Routing against this node's projections, and the job driver (specs/05-capacity-and-jobs.md §10).

`route_request` gathers every current offer with its workshop, machine,
track record and reachability, and the part's figures from the mesh
analysis, and calls the pure registry.routing.route.

`JobDriver` is the requester's side of the job protocol. For each job in
this node's own log that is not yet assigned or closed it asks
registry.jobs.decide what to do, then does it: offer the job to the best
candidate not yet asked (a node-signed `job.offer`, pushed with its
request to the workshop node's inbox at once), assign it when the live
offer is accepted, move on when the offer is declined, lapses or cannot be
pushed, cancel it when nobody can make it in time. It also pushes the job
records this node's log gains to the node that needs them (answers to the
requester, assignments and cancellations to the workshop), through the
outbox. The logs stay the truth: pushes only make the peers sync sooner.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import aiohttp
from aiohttp import web

from node.appkeys import CONFIG, FEDERATION, LOG, NODE_KEY, PEERS, STORE
from node.clock import utc_now
from node.httpsig import sign_request_headers
from node.logservice import LogUnavailable
from node.projections import ProjectedEntry
from node.store.capacity import CapacityStore
from node.store.jobs import JobRow, JobStore
from node.store.peerstore import STOPPED_STATES
from protocol.did import Did
from protocol.errors import ProtocolError
from protocol.records import RecordId, format_time
from registry.capacity import Offer, OfferWithdraw
from registry.jobs import (
    ANSWER_TYPES,
    JobAssign,
    JobCancel,
    JobRequest,
    JobView,
    Previous,
    decide,
    respond_by,
)
from registry.routing import Candidate, PartFigures, RouteResult, TrackRecord, route

__all__ = [
    "CAPACITY",
    "DRIVER",
    "JOBS",
    "JobDriver",
    "RouteRefused",
    "candidates",
    "part_figures",
    "route_request",
]

logger = logging.getLogger(__name__)

CAPACITY: web.AppKey[CapacityStore] = web.AppKey("capacity", CapacityStore)
JOBS: web.AppKey[JobStore] = web.AppKey("jobs", JobStore)

# The driver re-examines open jobs at least this often (answers due, peers down).
TICK_S = 0.5
_WAKE_TYPES = (
    frozenset({"design.analysis", Offer.TYPE, OfferWithdraw.TYPE, "job.request", "job.offer"})
    | ANSWER_TYPES
)


class RouteRefused(Exception):
    """The job cannot be routed now (retry=True: perhaps later, e.g. no analysis yet)."""

    def __init__(self, slug: str, detail: str, *, retry: bool) -> None:
        super().__init__(detail)
        self.slug = slug
        self.detail = detail
        self.retry = retry


async def part_figures(app: web.Application, request: JobRequest) -> tuple[PartFigures, list[str]]:
    """The requested file's figures from the mesh analysis, and warnings about them."""
    from node.store.analyses import AnalysisStore

    figures = await AnalysisStore(app[STORE].engine).figures_for(request.design)
    for sha, found in figures:
        if sha != request.file:
            continue
        if found.volume_mm3.startswith("-") or found.volume_mm3 == "0.000":
            raise RouteRefused(
                "unusable-figures",
                f"the file's volume is {found.volume_mm3} mm³: no estimate can be made",
                retry=False,
            )
        warnings = []
        if not found.watertight:
            warnings.append("the mesh is not watertight: its volume (and so the price) is rough")
        if not found.units_verdict.plausible:
            warnings.append(f"units may be wrong: {found.units_verdict.reason}")
        return PartFigures.from_mesh(found), warnings
    from node.store.designs import DesignStore

    design = await DesignStore(app[STORE].engine).get(request.design)
    if design is not None:
        model = [f for f in design.design.files if f.sha256 == request.file]
        if not model or model[0].role != "model":
            raise RouteRefused(
                "not-a-model",
                f"file {request.file} is not a model file of design {request.design}",
                retry=False,
            )
    raise RouteRefused(
        "no-analysis",
        f"no mesh analysis of file {request.file} of design {request.design} yet",
        retry=True,
    )


def _reachable(state: str | None) -> bool:
    return state is not None and state not in STOPPED_STATES and state != "unreachable"


async def candidates(app: web.Application) -> list[Candidate]:
    """Every open offer with its workshop, machine, track record and reachability."""
    rows = await app[CAPACITY].current()
    records, committed = await app[JOBS].track_records()
    peers = {p.did: p.state for p in await app[PEERS].all_peers()}
    own = app[LOG].did
    out = []
    for offer, shop, machine in rows:
        slug = offer.offer.workshop
        done, failed = records.get((offer.log, slug), (0, 0))
        out.append(
            Candidate(
                log=offer.log,
                offer_id=offer.record_id,
                offer=offer.offer,
                workshop=shop.workshop,
                machine=machine,
                retired=shop.retired,
                track=TrackRecord(
                    completed=done,
                    failed=failed,
                    committed_milli_hours=committed.get((offer.log, slug, offer.offer.machine), 0),
                ),
                reachable=offer.log == own or _reachable(peers.get(offer.log)),
            )
        )
    return out


async def route_request(
    app: web.Application,
    request: JobRequest,
    *,
    now: datetime,
    exclude: Collection[tuple[str, str]] = (),
) -> tuple[PartFigures, RouteResult, list[str]]:
    """Route a job request over every current offer. Raises RouteRefused."""
    part, warnings = await part_figures(app, request)
    result = route(request, part, await candidates(app), now=now, exclude=exclude)
    return part, result, warnings


_JSON = {"Content-Type": "application/json"}


def _envelope_payload(leaf: bytes) -> bytes:
    return json.dumps({"kind": "envelope", "envelope": json.loads(leaf)}).encode()


class JobDriver:
    """Drives this node's own jobs and pushes job records to the nodes that need them."""

    def __init__(self, app: web.Application, *, drive: bool) -> None:
        self.app = app
        self.drive = drive
        self._wake = asyncio.Event()
        self._pushes: asyncio.Queue[ProjectedEntry] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()
        # Offers this node could not push to the workshop's node: skipped, not waited for.
        self._unreachable: set[str] = set()

    @property
    def own(self) -> Did:
        return self.app[LOG].did

    def on_commit(self, entries: Sequence[ProjectedEntry]) -> None:
        """LogStore listener: only enqueues (pushes) and wakes the driver."""
        own = self.own
        wake = False
        for e in entries:
            if e.record.type in _WAKE_TYPES or e.record.type.startswith("job."):
                wake = True
            if e.log == own and (
                e.record.type in ANSWER_TYPES or e.record.type in (JobAssign.TYPE, JobCancel.TYPE)
            ):
                self._pushes.put_nowait(e)
        if wake:
            self._wake.set()

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._push_loop(), name="job-pushes"))
        if self.drive:
            self._tasks.append(asyncio.create_task(self._drive_loop(), name="job-driver"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    # Pushes through the outbox (retried; the inbox makes the receiver sync this log).

    async def _push_loop(self) -> None:
        while True:
            entry = await self._pushes.get()
            try:
                await self._push(entry)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("could not queue the push of %s", entry.record_id)

    async def _push(self, entry: ProjectedEntry) -> None:
        body: Any = entry.body
        if entry.record.type in ANSWER_TYPES:
            target = body.job_log
        elif isinstance(body, JobAssign):
            target = body.workshop_log
        else:
            rows = await self.app[JOBS].find(job_log=entry.log, limit=1, job=body.job)
            target = rows[0].workshop_log if rows else None
        if target is None or target == self.own:
            return
        leaf = await self.app[JOBS].leaf(entry.log, entry.index)
        if leaf is None or await self.app[PEERS].peer(target) is None:
            return
        await self.app[PEERS].enqueue(
            target, entry.record.type, _envelope_payload(leaf), int(time.time())
        )

    async def _push_now(self, target: Did, leaves: Sequence[bytes]) -> bool:
        """POST entries to a peer's inbox at once; False if it cannot be reached or refuses."""
        peer = await self.app[PEERS].peer(target)
        if peer is None or peer.state in STOPPED_STATES:
            return False
        url = peer.url + "/fed/v1/inbox"
        session = self.app[FEDERATION].session
        for leaf in leaves:
            payload = _envelope_payload(leaf)
            headers = sign_request_headers(
                self.app[NODE_KEY],
                "POST",
                url,
                payload,
                headers={"Content-Type": "application/json"},
            )
            try:
                async with session.post(
                    url, data=payload, headers=headers, allow_redirects=False
                ) as response:
                    if response.status >= 300:
                        logger.info(
                            "workshop node %s refused a job push: %d", target, response.status
                        )
                        return False
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                logger.info("workshop node %s is unreachable: %s", target, type(exc).__name__)
                return False
        return True

    # Driving this node's jobs.

    async def _drive_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), TICK_S)
            self._wake.clear()
            try:
                await self.drive_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("the job driver failed; retrying")

    async def drive_once(self, now: datetime | None = None) -> int:
        """Take the next step of every open job of this node's log; how many steps were taken."""
        async with self._lock:
            steps = 0
            for row in await self.app[JOBS].open_jobs_of(self.own):
                try:
                    steps += await self._step(row, now or utc_now())
                except (ProtocolError, LogUnavailable) as exc:
                    # A race with another writer, or the log is down: next tick decides again.
                    logger.warning("job %s: step refused: %s", row.job, exc)
            return steps

    async def _step(self, row: JobRow, now: datetime) -> int:
        view = await self.app[JOBS].view(row.job, self.own)
        if view is None or view.request is None:
            return 0
        live = view.live_offer
        reachable = live is None or live.record_id not in self._unreachable
        step = decide(view, now, reachable=reachable)
        if step.action == "assign":
            assert live is not None
            assert live.answer is not None
            body = JobAssign(
                job=view.job,
                offer=live.record_id,
                accept=live.answer,
                workshop_log=live.body.workshop_log,
                workshop=live.body.workshop,
            )
            await self.app[LOG].append_own(JobAssign.TYPE, body.to_dict(), format_time(now))
            logger.info("job %s assigned to %s", view.job, live.body.workshop)
            return 1
        if step.action == "cancel":
            assert step.reason is not None
            await self._cancel(view, step.reason, now)
            return 1
        if step.action == "route":
            return await self._route(view, step.previous, now)
        return 0

    async def _cancel(
        self, view: JobView, reason: str, now: datetime, previous: Previous | None = None
    ) -> None:
        body = JobCancel(job=view.job, reason=reason[:2000], previous=previous)
        await self.app[LOG].append_own(JobCancel.TYPE, body.to_dict(), format_time(now))
        logger.info("job %s cancelled: %s", view.job, reason)

    async def _route(self, view: JobView, previous: Previous | None, now: datetime) -> int:
        request = view.request
        assert request is not None
        exclude = {(o.body.workshop_log, o.body.workshop) for o in view.offers}
        try:
            _, result, _ = await route_request(self.app, request, now=now, exclude=exclude)
        except RouteRefused as exc:
            if exc.retry:
                return 0
            await self._cancel(view, exc.detail, now, previous)
            return 1
        if not result.ranking:
            reasons = Counter(r.code for e in result.excluded for r in e.reasons)
            summary = ", ".join(f"{code} {n}" for code, n in sorted(reasons.items()))
            await self._cancel(
                view,
                f"no feasible workshop left ({len(result.excluded)} offers judged"
                + (f": {summary})" if summary else ")"),
                now,
                previous,
            )
            return 1
        top = result.ranking[0]
        created = format_time(now)
        body: dict[str, Any] = {
            "job": view.job,
            "workshop_log": top.candidate.log,
            "workshop": top.candidate.offer.workshop,
            "machine": top.candidate.offer.machine,
            "offer": top.candidate.offer_id,
            "estimate": top.estimate(),
            "rank": len(view.offers) + 1,
            "respond_by": respond_by(created, request.response_window_s),
        }
        if previous is not None:
            body["previous"] = previous.to_dict()
        appended = await self.app[LOG].append_own("job.offer", body, created)
        logger.info(
            "job %s offered to %s/%s (score %d)",
            view.job,
            top.candidate.log,
            top.candidate.offer.workshop,
            top.score,
        )
        target = top.candidate.log
        if target != self.own:
            request_event = next(h.event for h in view.history if h.event.record_id == view.job)
            leaves = [
                await self.app[JOBS].leaf(self.own, request_event.index),
                await self.app[JOBS].leaf(self.own, appended.index),
            ]
            pushed = all(leaf is not None for leaf in leaves) and await self._push_now(
                target, [leaf for leaf in leaves if leaf is not None]
            )
            if not pushed:
                self._unreachable.add(RecordId(appended.id))
                self._wake.set()
        return 1


async def _driver_ctx(app: web.Application) -> Any:
    engine = app[STORE].engine
    app[CAPACITY] = CapacityStore(engine)
    app[JOBS] = JobStore(engine)
    driver = JobDriver(app, drive=app[CONFIG].background_tasks)
    app[DRIVER] = driver
    app[STORE].listeners.append(driver.on_commit)
    await driver.start()
    try:
        yield
    finally:
        await driver.stop()
        with contextlib.suppress(ValueError):
            app[STORE].listeners.remove(driver.on_commit)


DRIVER: web.AppKey[JobDriver] = web.AppKey("job_driver", JobDriver)


def setup(app: web.Application) -> None:
    """Open the stores and run the driver once storage is open (app.cleanup_ctx)."""
    app.cleanup_ctx.append(_driver_ctx)

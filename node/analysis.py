"""Mesh analysis on the node: worker processes with limits, and the work they are given.

`setup(app)` (called by node/api/designs.py and node/api/meshes.py; only the
first call counts) adds a cleanup context that starts an `AnalysisPool` of
worker processes (node/analysis_worker.py), each killed and replaced when a
request runs past `AnalysisLimits.timeout_s` and capped in memory, and, on
the node process that runs background tasks, a loop that:

- analyses each model file of every design in this node's own log and
  appends a node-signed `design.analysis` with a PNG preview stored as a blob;
- recomputes every peer's `design.analysis` whose file is here and records
  whether it agrees (specs/04a-mesh-analysis.md §9).

The projector in node/store/analyses.py queues that work in the transaction
that stores the entries; the commit listener only wakes the loop. Files that
have not arrived yet are retried with backoff, a bounded number of times.
`analyse_blob` serves the designs feature's checks before an append.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import struct
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from node.appkeys import BLOBS, CONFIG, LOG, STORE
from node.clock import utc_now
from node.logservice import LogUnavailable
from node.projections import ProjectedEntry
from node.store.analyses import AnalysisStore, CheckDue, TaskDue
from protocol.errors import ProtocolError
from protocol.records import format_time
from registry.analysis import DesignAnalysis, figures_disagreements
from registry.figures import MeshError, MeshFigures, MeshLimits, format_of

__all__ = [
    "ANALYSIS_LIMITS",
    "ANALYSIS_POOL",
    "ANALYSIS_STORE",
    "AnalysisLimitExceeded",
    "AnalysisLimits",
    "AnalysisPool",
    "AnalysisResult",
    "AnalysisUnavailable",
    "analyse_blob",
    "setup",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class AnalysisLimits:
    """How the node runs analyses. Units are in the names."""

    workers: int = 1
    timeout_s: float = 120.0
    memory_bytes: int = 3 * 1024**3
    startup_timeout_s: float = 120.0
    max_input_bytes: int = 64 * 1024 * 1024
    mesh: MeshLimits = field(default_factory=MeshLimits)
    retry_base_s: float = 2.0
    retry_max_s: float = 600.0
    max_attempts: int = 30
    poll_interval_s: float = 30.0
    batch: int = 8


class AnalysisUnavailable(Exception):
    """No worker could be started or the pool is closed; nothing was analysed."""


class AnalysisLimitExceeded(MeshError):
    """The file needed more time or memory than the worker is allowed."""


class _Worker:
    """One worker process, restarted on demand."""

    def __init__(self, limits: AnalysisLimits) -> None:
        self.limits = limits
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    async def ensure(self) -> asyncio.subprocess.Process:
        if self.proc is not None and self.proc.returncode is None:
            return self.proc
        await self.kill()
        env = {
            **os.environ,
            # One thread per worker: the machine's cores are the pool's to share.
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "node.analysis_worker",
            str(self.limits.memory_bytes),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )
        self.proc = proc
        try:
            ready = await asyncio.wait_for(_read_reply(proc), self.limits.startup_timeout_s)
        except (TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
            await self.kill()
            raise AnalysisUnavailable("the analysis worker did not start") from exc
        if not ready[0].get("ready"):
            await self.kill()
            raise AnalysisUnavailable("the analysis worker did not start")
        return proc

    async def kill(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        with contextlib.suppress(Exception):
            await proc.wait()

    async def call(self, header: dict[str, Any], payload: bytes) -> tuple[dict[str, Any], bytes]:
        proc = await self.ensure()
        assert proc.stdin is not None
        encoded = json.dumps(header).encode()

        async def exchange() -> tuple[dict[str, Any], bytes]:
            assert proc.stdin is not None
            proc.stdin.write(struct.pack(">I", len(encoded)) + encoded + payload)
            await proc.stdin.drain()
            return await _read_reply(proc)

        try:
            reply, extra = await asyncio.wait_for(exchange(), self.limits.timeout_s)
        except TimeoutError:
            await self.kill()
            raise AnalysisLimitExceeded(
                f"the analysis took longer than the limit of {self.limits.timeout_s:g} s"
            ) from None
        except (asyncio.IncompleteReadError, ConnectionError, ValueError) as exc:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 2.0)
            code = proc.returncode
            await self.kill()
            if code == 3:  # the worker's own exit after a MemoryError it could not report
                raise AnalysisLimitExceeded(self._memory_reason()) from exc
            raise AnalysisLimitExceeded(
                f"the analysis worker stopped (exit status {code}) while reading this file"
            ) from exc
        if reply.get("kind") == "memory":
            await self.kill()
            raise AnalysisLimitExceeded(self._memory_reason())
        return reply, extra

    def _memory_reason(self) -> str:
        mib = self.limits.memory_bytes // (1024 * 1024)
        return f"the analysis needs more memory than the limit of {mib} MiB"


async def _read_reply(proc: asyncio.subprocess.Process) -> tuple[dict[str, Any], bytes]:
    assert proc.stdout is not None
    (length,) = struct.unpack(">I", await proc.stdout.readexactly(4))
    header = json.loads(await proc.stdout.readexactly(length))
    if not isinstance(header, dict):
        raise ValueError("the worker's reply is not an object")
    size = header.get("thumbnail", 0)
    extra = await proc.stdout.readexactly(size) if isinstance(size, int) and size > 0 else b""
    return header, extra


@dataclass(frozen=True, slots=True)
class AnalysisResult:
    """What a worker returns: the figures, who made them, and a preview if asked for."""

    figures: MeshFigures
    analyser: dict[str, str]
    thumbnail: bytes | None


class AnalysisPool:
    """Worker processes shared by the API and the background loop."""

    def __init__(self, limits: AnalysisLimits) -> None:
        self.limits = limits
        self._workers = [_Worker(limits) for _ in range(max(1, limits.workers))]
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        for worker in self._workers:
            self._idle.put_nowait(worker)
        self._closed = False

    @property
    def pids(self) -> list[int]:
        """The live workers' process ids (for operators and tests)."""
        return [w.pid for w in self._workers if w.pid is not None]

    async def warm(self) -> None:
        """Start every worker now rather than on first use."""
        for worker in self._workers:
            with contextlib.suppress(AnalysisUnavailable):
                await worker.ensure()

    async def analyse(
        self,
        *,
        filename: str,
        units: str,
        data: bytes | None = None,
        path: Path | None = None,
        thumbnail: bool = False,
    ) -> AnalysisResult:
        """Analyse bytes or a file in a worker. Raises MeshError or AnalysisUnavailable."""
        if self._closed:
            raise AnalysisUnavailable("the analysis pool is closed")
        format_of(filename)  # an unknown format needs no worker to be refused
        size = len(data) if data is not None else (path.stat().st_size if path else 0)
        if size == 0:
            raise MeshError("the file is empty")
        if size > self.limits.max_input_bytes:
            raise MeshError(
                f"the file has {size} bytes, more than the limit {self.limits.max_input_bytes}"
            )
        header = {
            "filename": filename,
            "units": units,
            "thumbnail": thumbnail,
            "path": None if path is None else str(path),
            "size": 0 if data is None else len(data),
            "limits": asdict(self.limits.mesh),
        }
        worker = await self._idle.get()
        try:
            reply, extra = await worker.call(header, data or b"")
        finally:
            self._idle.put_nowait(worker)
        if not reply.get("ok"):
            raise MeshError(str(reply.get("reason", "the file was refused")))
        return AnalysisResult(
            figures=MeshFigures.from_dict(reply["figures"]),
            analyser=dict(reply["analyser"]),
            thumbnail=extra or None,
        )

    async def close(self) -> None:
        self._closed = True
        for worker in self._workers:
            await worker.kill()


ANALYSIS_LIMITS: web.AppKey[AnalysisLimits] = web.AppKey("analysis_limits", AnalysisLimits)
ANALYSIS_POOL: web.AppKey[AnalysisPool] = web.AppKey("analysis_pool", AnalysisPool)
ANALYSIS_STORE: web.AppKey[AnalysisStore] = web.AppKey("analysis_store", AnalysisStore)
_SET_UP: web.AppKey[bool] = web.AppKey("analysis_set_up", bool)


async def analyse_blob(app: web.Application, sha256: str, filename: str, units: str) -> MeshFigures:
    """The figures of a stored blob. Raises MeshError (or AnalysisUnavailable)."""
    try:
        path = app[BLOBS].path(sha256)
    except ValueError as exc:
        raise MeshError(f"{sha256!r} is not a SHA-256 hex digest") from exc
    if not path.is_file():
        raise MeshError(f"the file {sha256} is not stored on this node")
    result = await app[ANALYSIS_POOL].analyse(filename=filename, units=units, path=path)
    return result.figures


def setup(app: web.Application) -> None:
    """Run analyses for this app: the worker pool and, with background tasks, the loop."""
    if app.get(_SET_UP):
        return
    app[_SET_UP] = True
    app.cleanup_ctx.append(_analysis_context)


async def _analysis_context(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    if ANALYSIS_LIMITS not in app:
        app[ANALYSIS_LIMITS] = AnalysisLimits(max_input_bytes=config.max_blob_bytes)
    limits = app[ANALYSIS_LIMITS]
    pool = AnalysisPool(limits)
    app[ANALYSIS_POOL] = pool
    store = AnalysisStore(app[STORE].engine)
    app[ANALYSIS_STORE] = store
    wake = asyncio.Event()

    def listener(batch: Sequence[ProjectedEntry]) -> None:
        if any(e.record.type in ("design", DesignAnalysis.TYPE) for e in batch):
            wake.set()

    loop_task: asyncio.Task[None] | None = None
    if config.background_tasks:
        app[STORE].listeners.append(listener)
        loop_task = asyncio.create_task(_work_loop(app, store, pool, wake), name="mesh-analysis")
    try:
        yield
    finally:
        if listener in app[STORE].listeners:
            app[STORE].listeners.remove(listener)
        if loop_task is not None:
            loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop_task
        await pool.close()


async def _work_loop(
    app: web.Application, store: AnalysisStore, pool: AnalysisPool, wake: asyncio.Event
) -> None:
    limits = pool.limits
    while True:
        wake.clear()
        try:
            worked = await _run_due(app, store, pool)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The database may be restarting: keep the loop, try again later.
            logger.exception("mesh analysis loop failed; retrying")
            worked = False
        if worked:
            continue
        try:
            due = await store.next_due()
        except Exception:
            due = None
        delay = limits.poll_interval_s
        if due is not None:
            delay = min(delay, max(0.05, due - time.time()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), delay)


async def _run_due(app: web.Application, store: AnalysisStore, pool: AnalysisPool) -> bool:
    now = int(time.time())
    tasks = await store.due_tasks(now, pool.limits.batch)
    checks = await store.due_checks(now, pool.limits.batch)
    for task in tasks:
        await _do_task(app, store, pool, task)
    for check in checks:
        await _do_check(app, store, pool, check)
    return bool(tasks or checks)


def _backoff(limits: AnalysisLimits, attempts: int) -> int:
    delay = min(limits.retry_max_s, limits.retry_base_s * 2 ** min(attempts - 1, 20))
    return int(time.time() + delay)


async def _do_task(
    app: web.Application, store: AnalysisStore, pool: AnalysisPool, task: TaskDue
) -> None:
    limits = pool.limits
    local = app[LOG].did
    now = int(time.time())
    attempts = task.attempts + 1

    async def retry(detail: str) -> None:
        if attempts >= limits.max_attempts:
            await store.update_task(
                task.design,
                task.file,
                state="failed",
                detail=detail,
                attempts=attempts,
                next_attempt=now,
                now=now,
            )
        else:
            await store.update_task(
                task.design,
                task.file,
                state="pending",
                detail=detail,
                attempts=attempts,
                next_attempt=_backoff(limits, attempts),
                now=now,
            )

    if await store.has_own_analysis(local, task.design, task.file):
        await store.update_task(
            task.design,
            task.file,
            state="done",
            detail="",
            attempts=attempts,
            next_attempt=now,
            now=now,
        )
        return
    path = app[BLOBS].path(task.file)
    if not path.is_file():
        await retry("the file has not arrived on this node")
        return
    try:
        result = await pool.analyse(
            filename=task.filename, units=task.units, path=path, thumbnail=True
        )
    except MeshError as exc:
        logger.info("design %s file %s refused: %s", task.design, task.file, exc.reason)
        await store.update_task(
            task.design,
            task.file,
            state="failed",
            detail=exc.reason,
            attempts=attempts,
            next_attempt=now,
            now=now,
        )
        return
    except AnalysisUnavailable as exc:
        await retry(str(exc))
        return
    thumbnail = None
    if result.thumbnail:
        thumbnail = await _store_thumbnail(app, result.thumbnail)
    body = DesignAnalysis.from_dict(
        {
            "design": task.design,
            "file": task.file,
            "analyser": result.analyser,
            "figures": result.figures.to_dict(),
            "thumbnail": thumbnail,
        }
    ).to_dict()
    try:
        await app[LOG].append_own(DesignAnalysis.TYPE, body, format_time(utc_now()))
    except ProtocolError as exc:
        await store.update_task(
            task.design,
            task.file,
            state="failed",
            detail=f"not appended: {exc}",
            attempts=attempts,
            next_attempt=now,
            now=now,
        )
    except LogUnavailable as exc:
        await retry(f"the log is unavailable: {exc}")


async def _store_thumbnail(app: web.Application, png: bytes) -> str:
    async def chunks() -> AsyncIterator[bytes]:
        yield png

    sha, size = await app[BLOBS].put(chunks())
    await app[STORE].record_blob(sha, size, app[LOG].did, int(time.time()))
    return sha


async def _do_check(
    app: web.Application, store: AnalysisStore, pool: AnalysisPool, check: CheckDue
) -> None:
    limits = pool.limits
    now = int(time.time())
    attempts = check.attempts + 1
    path = app[BLOBS].path(check.file)
    if not path.is_file():
        final = attempts >= limits.max_attempts
        await store.update_check(
            check.record_id,
            state="unverified" if final else "pending",
            detail="the file has not arrived on this node",
            attempts=attempts,
            next_attempt=now if final else _backoff(limits, attempts),
            now=now,
        )
        return
    try:
        result = await pool.analyse(filename=check.filename, units=check.units, path=path)
    except AnalysisLimitExceeded as exc:
        # Our limits may be lower than the peer's: that is no evidence against it.
        await store.update_check(
            check.record_id,
            state="unverified",
            detail=exc.reason,
            attempts=attempts,
            next_attempt=now,
            now=now,
        )
        return
    except MeshError as exc:
        await store.update_check(
            check.record_id,
            state="disputed",
            detail=f"this node refuses the file: {exc.reason}",
            attempts=attempts,
            next_attempt=now,
            now=now,
        )
        return
    except AnalysisUnavailable as exc:
        await store.update_check(
            check.record_id,
            state="pending",
            detail=str(exc),
            attempts=attempts,
            next_attempt=_backoff(limits, attempts),
            now=now,
        )
        return
    differences = figures_disagreements(check.figures, result.figures)
    await store.update_check(
        check.record_id,
        state="disputed" if differences else "agrees",
        detail="; ".join(differences),
        attempts=attempts,
        next_attempt=now,
        now=now,
        local_figures=result.figures,
    )

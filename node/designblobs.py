"""Fetching the files of designs that arrive in peers' logs (specs/04-designs.md §8).

And of the own log's designs whose files the node lacks, which happens only
after a restore from a backup (specs/03-federation.md §4.3).

Thumbnails named by peers' `design.analysis` records are fetched the same way.

A design synced from a peer names its files by SHA-256. The fetcher asks the
design's origin node first, then every other peer (any node that serves
`/blobs/sha256/<hex>` is a mirror), streams the bytes into the blob store,
which keeps them only if they hash to the name, and retries later, with
backoff, when no source has them. It learns of new designs from the log
store's commit listener, and rescans the projection at start and now and then
so that nothing is lost to a restart or a full queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import aiohttp

from node.projections import ProjectedEntry
from node.store.blobs import BlobStore, BlobStoreFull, BlobTooLarge
from node.store.designs import DesignStore
from node.store.logstore import LogStore
from node.store.peerstore import STOPPED_STATES, PeerStore
from protocol.did import Did
from registry.analysis import DesignAnalysis
from registry.designs import Design

__all__ = ["BlobFetcher"]

logger = logging.getLogger(__name__)

MAX_PENDING = 100_000
RESCAN_S = 600.0
MAX_BACKOFF_S = 3600.0
MAX_THUMBNAIL_BYTES = 16 * 1024 * 1024


@dataclass
class _Want:
    size: int
    log: str
    attempts: int = 0
    due: float = 0.0
    last_error: str = ""


class _Unavailable(Exception):
    """This source could not give us the blob (down, 404, wrong bytes)."""


class BlobFetcher:
    """Keeps the blob store holding every file of every design this node knows."""

    def __init__(
        self,
        *,
        blobs: BlobStore,
        store: LogStore,
        peers: PeerStore,
        designs: DesignStore,
        local_log: Did,
        timeout_s: float,
        concurrency: int = 4,
    ) -> None:
        self.blobs = blobs
        self.store = store
        self.peers = peers
        self.designs = designs
        self.local_log = local_log
        self.timeout_s = timeout_s
        self.concurrency = concurrency
        self.pending: dict[str, _Want] = {}
        self.fetched_total = 0
        # Called with each sha256 hex once its blob is stored (must only enqueue).
        self.fetched_listeners: list[Callable[[str], None]] = []
        self._active: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    # -- feeding ------------------------------------------------------------------------------

    def on_entries(self, entries: Sequence[ProjectedEntry]) -> None:
        """LogStore listener: want the files (and previews) of designs from other logs."""
        for entry in entries:
            if entry.log == self.local_log:
                continue
            if isinstance(entry.body, Design):
                for f in entry.body.files:
                    self.want(f.sha256, f.size, entry.log)
            elif isinstance(entry.body, DesignAnalysis) and entry.body.thumbnail is not None:
                self.want(entry.body.thumbnail, self.thumbnail_limit, entry.log)

    @property
    def thumbnail_limit(self) -> int:
        # A thumbnail's size is not in its record: bound it by a preview's worth.
        return min(self.blobs.max_bytes, MAX_THUMBNAIL_BYTES)

    def want(self, sha256_hex: str, size: int, log: str) -> None:
        if sha256_hex in self.pending or len(self.pending) >= MAX_PENDING:
            return
        if self.blobs.exists(sha256_hex):
            return
        if size > self.blobs.max_bytes:
            logger.warning(
                "file %s of a design in %s is %d bytes, over max_blob_bytes: not fetched",
                sha256_hex,
                log,
                size,
            )
            return
        self.pending[sha256_hex] = _Want(size=size, log=log)
        self._wake.set()

    async def rescan(self) -> None:
        # Every log's, the own one's too: its files are stored before its
        # records are appended, except after a restore, when records that came
        # back from peers' mirrors (specs/03-federation.md §4.3) may name files
        # the backup lacks. want() skips what the blob store holds.
        for sha, size, log in await self.designs.design_files():
            self.want(sha, size, log)
        for sha, log in await self.designs.analysis_thumbnails():
            self.want(sha, self.thumbnail_limit, log)

    # -- running ------------------------------------------------------------------------------

    async def start(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.timeout_s * 6, sock_read=self.timeout_s)
        self._session = aiohttp.ClientSession(timeout=timeout)
        self.store.listeners.append(self.on_entries)
        self._task = asyncio.create_task(self._run(), name="design-blobs")

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.store.listeners.remove(self.on_entries)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._session is not None:
            await self._session.close()

    async def _run(self) -> None:
        workers: set[asyncio.Task[None]] = set()
        next_scan = 0.0
        try:
            while True:
                now = time.monotonic()
                if now >= next_scan:
                    try:
                        await self.rescan()
                    except Exception:  # the database is down: try again later
                        logger.exception("rescanning design files failed")
                    next_scan = now + RESCAN_S
                due = sorted(
                    (w.due, sha)
                    for sha, w in self.pending.items()
                    if sha not in self._active and w.due <= now
                )
                for _, sha in due[: max(0, self.concurrency - len(workers))]:
                    self._active.add(sha)
                    task = asyncio.create_task(self._fetch(sha), name=f"blob {sha[:8]}")
                    workers.add(task)
                    task.add_done_callback(workers.discard)
                waits = [w.due - now for s, w in self.pending.items() if s not in self._active]
                delay = min([next_scan - now, *waits, RESCAN_S])
                self._wake.clear()
                # Workers set the event when they finish, and so do new wants.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=max(0.05, delay))
        finally:
            for task in workers:
                task.cancel()
            for task in list(workers):
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _sources(self, log: str) -> list[str]:
        peers = await self.peers.all_peers()
        origin = [p.url for p in peers if p.did == log and p.state not in STOPPED_STATES]
        mirrors = [p.url for p in peers if p.did != log and p.state not in STOPPED_STATES]
        random.shuffle(mirrors)
        return list(dict.fromkeys(url.rstrip("/") for url in origin + mirrors))

    async def _fetch(self, sha: str) -> None:
        want = self.pending.get(sha)
        try:
            if want is None or self.blobs.exists(sha):
                self.pending.pop(sha, None)
                return
            errors = []
            for base in await self._sources(want.log):
                try:
                    size = await self._download(base, sha, want.size)
                except _Unavailable as exc:
                    errors.append(f"{base}: {exc}")
                    continue
                await self.store.record_blob(sha, size, want.log, int(time.time()))
                self.pending.pop(sha, None)
                self.fetched_total += 1
                logger.info("fetched design file %s (%d bytes) from %s", sha, size, base)
                for listener in self.fetched_listeners:
                    listener(sha)
                return
            want.attempts += 1
            backoff = min(MAX_BACKOFF_S, 2.0 * 2 ** min(want.attempts, 12))
            want.due = time.monotonic() + backoff * random.uniform(0.8, 1.2)  # noqa: S311
            want.last_error = "; ".join(errors)[:500] or "no peer to ask"
            logger.info("design file %s not fetched yet: %s", sha, want.last_error)
        except BlobStoreFull:
            if want is not None:
                want.due = time.monotonic() + MAX_BACKOFF_S
            logger.error("no space for design file %s", sha)
        except asyncio.CancelledError:
            raise
        except Exception:  # the database failed: keep the want, try later
            logger.exception("fetching design file %s failed", sha)
            if want is not None:
                want.due = time.monotonic() + MAX_BACKOFF_S / 4
        finally:
            self._active.discard(sha)
            self._wake.set()

    async def _download(self, base: str, sha: str, declared: int) -> int:
        assert self._session is not None
        url = f"{base}/blobs/sha256/{sha}"
        limit = min(self.blobs.max_bytes, declared)
        try:
            async with self._session.get(url) as response:
                if response.status != 200:
                    raise _Unavailable(f"answered {response.status}")
                if response.content_length is not None and response.content_length > limit:
                    raise _Unavailable("larger than the design says")

                async def chunks() -> AsyncIterator[bytes]:
                    received = 0
                    async for chunk in response.content.iter_chunked(256 * 1024):
                        received += len(chunk)
                        if received > limit:
                            raise _Unavailable("larger than the design says")
                        yield chunk

                stored, size = await self.blobs.put(chunks(), expected_sha256=bytes.fromhex(sha))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _Unavailable(type(exc).__name__) from exc
        except BlobTooLarge as exc:
            raise _Unavailable("too large") from exc
        except ValueError as exc:
            # specs/04-designs.md §8: bytes that do not hash to the name are discarded.
            raise _Unavailable("served bytes that do not match the hash") from exc
        assert stored == sha
        return size

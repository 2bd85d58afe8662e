"""The federation service: one pull-sync loop per peer, witnessing, evidence, the outbox.

Loops are tasks opened and closed by the app's cleanup context; each is
cancelled and awaited on shutdown. Intervals are jittered, failures back
off exponentially, and every request is bounded by the peer timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from dataclasses import dataclass, field

import aiohttp

from governance.electorate import node_parameter
from node.client import read_limited
from node.clock import utc_now
from node.config import NodeConfig
from node.errors import PeerRefused
from node.federation.logclient import LogClient, PeerMisbehaves, PeerUnreachable
from node.federation.sync import Equivocation, SyncResult, sync_log
from node.federation.verify import BatchRejected
from node.federation.workers import LeafWorkers
from node.httpsig import sign_request_headers
from node.logservice import LogService
from node.ratelimit import TokenBuckets
from node.store.logstore import LogStore
from node.store.peerstore import STOPPED_STATES, CosignatureRow, PeerRow, PeerStore
from protocol.authority import LogAuthority
from protocol.checkpoint import (
    ALG_COSIGNATURE_V1,
    NoteVerifier,
    cosign_checkpoint,
    verify_cosignature,
)
from protocol.did import Did, public_key_from_did
from protocol.errors import InvalidKey, InvalidSignature
from protocol.evidence import Evidence
from protocol.keys import AgentKey
from protocol.peers import PeerBlock, PeerFederate
from protocol.records import RecordId, format_time
from protocol.replay import RepeatedRecord

__all__ = ["FederationService", "PeerRefused"]

logger = logging.getLogger(__name__)

MAX_OUTBOX_ATTEMPTS = 12
MAX_WELL_KNOWN_BYTES = 64 * 1024


def _our_words(exc: Exception) -> str:
    """A reason to show clients in our own words: a peer's text never passes through.

    For a rejected entry that is its index and the kind of error; for a bad
    answer, our own message (which names the endpoint, not the peer's words).
    """
    if isinstance(exc, BatchRejected):
        if isinstance(exc.__cause__, RepeatedRecord):
            # Indices and an id we computed ourselves: no text of the peer's.
            return exc.__cause__.reason
        kind = type(exc.__cause__).__name__ if exc.__cause__ is not None else "invalid entry"
        return f"entry {exc.index} failed verification ({kind})"
    return str(exc)[:300]


@dataclass
class _Breaker:
    failures: int = 0
    open_until: float = 0.0


@dataclass
class FederationService:
    config: NodeConfig
    store: LogStore
    peers: PeerStore
    log: LogService
    key: AgentKey
    _pool: LeafWorkers | None = None
    _session: aiohttp.ClientSession | None = None
    _tasks: dict[Did, asyncio.Task[None]] = field(default_factory=dict)
    _wake: dict[Did, asyncio.Event] = field(default_factory=dict)
    _outbox_task: asyncio.Task[None] | None = None
    _outbox_wake: asyncio.Event = field(default_factory=asyncio.Event)
    _breakers: dict[Did, _Breaker] = field(default_factory=dict)
    _buckets: TokenBuckets = field(init=False)
    _locks: dict[Did, asyncio.Lock] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._buckets = TokenBuckets.per_second(self.config.inbox_rate_per_s)

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "federation service not started"
        return self._session

    @property
    def witness_name(self) -> str:
        return self.config.origin

    async def start(self) -> None:
        timeout = aiohttp.ClientTimeout(
            total=self.config.peer_timeout_s, sock_read=self.config.peer_timeout_s
        )
        self._session = aiohttp.ClientSession(timeout=timeout)
        if self.config.sync_workers > 0:
            self._pool = LeafWorkers(self.config.sync_workers)
        if not self.config.background_tasks:
            # Another worker process of this node runs the loops.
            return
        for peer in await self.peers.all_peers():
            if peer.state not in STOPPED_STATES:
                self._spawn(peer.did)
        self._outbox_task = asyncio.create_task(self._outbox_loop(), name="outbox")

    async def stop(self) -> None:
        tasks = [*self._tasks.values()]
        if self._outbox_task is not None:
            tasks.append(self._outbox_task)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._pool is not None:
            await self._pool.close()
        if self._session is not None:
            await self._session.close()

    def _spawn(self, did: Did) -> None:
        if not self.config.background_tasks:
            return
        if did in self._tasks and not self._tasks[did].done():
            return
        self._wake[did] = asyncio.Event()
        self._tasks[did] = asyncio.create_task(self._peer_loop(did), name=f"sync {did[-8:]}")

    def _halt(self, did: Did) -> None:
        task = self._tasks.pop(did, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def allow_inbox(self, sender: str) -> bool:
        """A token bucket per sending peer: inbox_rate_per_s, bursts of four seconds' worth."""
        return self._buckets.allow(sender)

    def trigger(self, did: Did) -> None:
        """Sync this peer soon (a push hinted that it has news)."""
        event = self._wake.get(did)
        if event is not None:
            event.set()

    # Peers

    async def add_peer(
        self, url: str, *, result: RecordId | None = None, expected_did: Did | None = None
    ) -> tuple[PeerRow, bool]:
        """Fetch the peer's well-known document, pin its did and log key, follow it.

        `result` cites the adopted decision this executes (specs/06-governance.md
        §9); `expected_did` is the did that decision named. Returns (peer,
        created). Raises PeerRefused.
        """
        url = url.rstrip("/")
        if not url.startswith(("http://", "https://")) or len(url) > 2000:
            raise PeerRefused("the peer URL must be http(s)")
        try:
            async with self.session.get(
                url + "/.well-known/fabcommons", allow_redirects=False
            ) as response:
                if response.status != 200:
                    raise PeerRefused(f"{url} answered HTTP {response.status}")
                info = json.loads(await read_limited(response, MAX_WELL_KNOWN_BYTES))
            did = Did(info["did"])
            origin, vkey, name = info["log"]["origin"], info["log"]["vkey"], str(info["name"])
            verifier = NoteVerifier.from_vkey(vkey)
            if verifier.public_key != public_key_from_did(did) or verifier.name != origin:
                raise PeerRefused("the peer's log key does not match its did and origin")
        except PeerRefused:
            raise
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise PeerRefused(f"{url} is unreachable: {type(exc).__name__}") from exc
        except (ValueError, KeyError, TypeError, InvalidKey) as exc:
            raise PeerRefused(f"{url} does not serve a valid well-known document") from exc
        if did == self.log.did:
            raise PeerRefused("that is this node")
        if expected_did is not None and did != expected_did:
            raise PeerRefused(f"{url} is not {expected_did}")
        existing = await self.peers.peer(did)
        if existing is not None:
            return existing, False
        # The log states the decision first: if that append fails, nothing
        # else has changed and the operator can simply retry.
        body = PeerFederate(peer=did, url=url, vkey=vkey, result=result).to_dict()
        await self.log.append_own(PeerFederate.TYPE, body, format_time(utc_now()))
        await self.store.create_log(did=did, origin=origin, vkey=vkey, is_local=False, sign=None)
        row = PeerRow(
            did=did,
            url=url,
            origin=origin,
            vkey=vkey,
            name=name[:200],
            state="syncing",
            detail="added",
            last_success=None,
            last_error=None,
            added=int(time.time()),
            fetched_entries=0,
        )
        created = await self.peers.add_peer(row)
        if created:
            self._spawn(did)
        return row, created

    async def remove_peer(self, did: Did) -> bool:
        self._halt(did)
        return await self.peers.remove_peer(did)

    async def resume_peer(self, did: Did) -> None:
        """Follow a stopped peer again (evidence already stored stays)."""
        await self.peers.reset_state(did, "resumed by the operator")
        self._spawn(did)
        self.trigger(did)

    async def block_peer(self, did: Did, reason: str, *, result: RecordId | None = None) -> None:
        self._halt(did)
        body = PeerBlock(peer=did, reason=reason, result=result).to_dict()
        await self.log.append_own(PeerBlock.TYPE, body, format_time(utc_now()))
        await self.peers.set_state(did, "blocked", detail=reason)

    # Sync

    async def _peer_loop(self, did: Did) -> None:
        failures = 0
        while True:
            try:
                ok = await self.sync_peer(did)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("sync of %s failed unexpectedly", did)
                ok = False
            peer = await self.peers.peer(did)
            if peer is None or peer.state in STOPPED_STATES:
                return
            failures = 0 if ok else failures + 1
            interval = self.config.sync_interval_s * (2 ** min(failures, 6))
            delay = min(interval, 300.0) * random.uniform(0.8, 1.2)  # noqa: S311 (jitter)
            event = self._wake[did]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), delay)
            event.clear()

    def _sources(self, peer: PeerRow, others: list[PeerRow]) -> list[tuple[str, bool]]:
        """Where to read the peer's log: itself first, then every healthy mirror."""
        sources = [(peer.url + "/fed/v1", True)]
        for other in others:
            if other.did != peer.did and other.state == "ok":
                sources.append((f"{other.url}/fed/v1/logs/{peer.did}", False))
        return sources

    async def sync_peer(self, did: Did) -> bool:
        """One round of pull sync for one peer; returns True when it is up to date.

        Rounds for one peer never overlap within a process (a triggered round
        waits for the running one); across processes the store's optimistic
        head check keeps them apart.
        """
        lock = self._locks.setdefault(did, asyncio.Lock())
        async with lock:
            return await self._sync_round(did)

    async def _sync_round(self, did: Did) -> bool:
        peer = await self.peers.peer(did)
        if peer is None or peer.state in STOPPED_STATES:
            return False
        others = await self.peers.all_peers()
        last_error = "no source"
        for base, own in self._sources(peer, others):
            client = LogClient(self.session, base)
            try:
                result = await sync_log(
                    self.store,
                    client,
                    did,
                    peer.vkey,
                    batch_size=self.config.sync_batch,
                    pool=self._pool,
                )
            except PeerUnreachable as exc:
                last_error = f"{base}: {exc}"
                continue
            except (PeerMisbehaves, BatchRejected) as exc:
                if own:
                    reason = _our_words(exc)
                    await self.peers.set_state(did, "invalid", detail=reason, error=reason)
                    logger.warning("peer %s is invalid: %s", did, exc)
                    return False
                logger.warning("mirror %s misbehaves: %s", base, exc)
                last_error = f"{base}: {exc}"
                continue
            except Equivocation as exc:
                await self._equivocation(peer, exc)
                return False
            if result.interrupted:
                # Another process stored the next batch first: not a failure.
                return True
            if result.stale and not own:
                last_error = f"{base}: the mirror is behind"
                continue
            now = int(time.time())
            via = "" if own else f" (from the mirror at {base.split('/fed/')[0]})"
            await self.peers.set_state(
                did,
                "ok",
                detail=f"verified size {result.size}{via}",
                success_at=now,
                fetched=result.fetched,
            )
            if not result.stale and result.size == result.checkpoint.checkpoint.size:
                await self._witness(peer, result.checkpoint.checkpoint.text(), result.size, now)
                await self._keep_cosignatures(peer, result, others)
            return True
        await self.peers.set_state(did, "unreachable", detail=last_error, error=last_error)
        return False

    async def _keep_cosignatures(
        self, peer: PeerRow, result: SyncResult, others: list[PeerRow]
    ) -> None:
        """Keep, per other witness, the first cosignature line that verifies on its own.

        Lines are checked one by one, so a mirror cannot slip a bad line in
        front of a good one and have us store and re-serve it.
        """
        text = result.checkpoint.checkpoint.text()
        for other in others:
            if other.did == peer.did:
                continue
            witness = NoteVerifier(other.origin, public_key_from_did(other.did), ALG_COSIGNATURE_V1)
            for sig in result.checkpoint.signatures:
                if sig.name != witness.name or sig.key_hash != witness.key_hash:
                    continue
                try:
                    timestamp = verify_cosignature(text, sig, witness)
                except (InvalidSignature, InvalidKey):
                    continue
                await self.peers.add_cosignature(
                    CosignatureRow(
                        log_did=peer.did,
                        size=result.size,
                        witness_key=witness.public_key,
                        witness_name=witness.name,
                        line=sig.line(),
                        timestamp=timestamp,
                    )
                )
                break

    async def _equivocation(self, peer: PeerRow, exc: Equivocation) -> None:
        now = int(time.time())
        current = await self.peers.peer(peer.did)
        if current is not None and current.state != "blocked":
            await self.peers.set_state(peer.did, "equivocating", detail=str(exc), error=str(exc))
        logger.warning("peer %s equivocates: %s", peer.did, exc)
        if exc.evidence is None:
            return
        body = json.dumps(exc.evidence.to_dict(), sort_keys=True)
        if await self.peers.add_evidence(peer.did, exc.evidence.kind, body, now):
            await self.broadcast_evidence(exc.evidence, exclude=peer.did)

    async def broadcast_evidence(self, evidence: Evidence, *, exclude: Did) -> None:
        payload = json.dumps({"kind": "evidence", "evidence": evidence.to_dict()}).encode()
        now = int(time.time())
        for other in await self.peers.all_peers():
            if other.did != exclude and other.state not in STOPPED_STATES:
                await self.peers.enqueue(other.did, "evidence", payload, now)
        self._outbox_wake.set()

    async def _witness(self, peer: PeerRow, checkpoint_text: bytes, size: int, now: int) -> None:
        """Cosign a checkpoint we verified, keep it, and deliver it to its log."""
        line = cosign_checkpoint(checkpoint_text, self.witness_name, self.key, timestamp=now)
        row = CosignatureRow(
            log_did=peer.did,
            size=size,
            witness_key=self.key.public_key,
            witness_name=self.witness_name,
            line=line.line(),
            timestamp=now,
        )
        if await self.peers.add_cosignature(row):
            payload = json.dumps(
                {"kind": "cosignature", "log": peer.did, "size": size, "line": row.line}
            ).encode()
            await self.peers.enqueue(peer.did, "cosignature", payload, now)
            self._outbox_wake.set()

    # Outbox

    async def _outbox_loop(self) -> None:
        while True:
            try:
                await self.deliver_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("outbox delivery failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._outbox_wake.wait(), 1.0)
            self._outbox_wake.clear()

    async def deliver_due(self) -> int:
        """Try every due outbox item once; return how many were delivered."""
        now = time.time()
        delivered = 0
        for item in await self.peers.due(int(now)):
            peer = await self.peers.peer(item.peer_did)
            if peer is None or peer.state in STOPPED_STATES or item.attempts >= MAX_OUTBOX_ATTEMPTS:
                await self.peers.delivered(item.id)  # dropped: push is only a hint
                continue
            breaker = self._breakers.setdefault(item.peer_did, _Breaker())
            if breaker.open_until > now:
                continue
            error = await self._post_inbox(peer.url, item.payload)
            if error is None:
                breaker.failures = 0
                await self.peers.delivered(item.id)
                delivered += 1
                continue
            if error.startswith("refused"):
                logger.info("peer %s refused %s: %s", peer.did, item.kind, error)
                await self.peers.delivered(item.id)
                continue
            breaker.failures += 1
            if breaker.failures >= 5:
                breaker.open_until = now + min(300.0, 5.0 * 2 ** (breaker.failures - 5))
            backoff = min(300.0, 2.0**item.attempts) * random.uniform(0.5, 1.5)  # noqa: S311
            await self.peers.retry_later(item.id, int(now + backoff), error)
        return delivered

    async def _post_inbox(self, base_url: str, payload: bytes) -> str | None:
        url = base_url + "/fed/v1/inbox"
        headers = sign_request_headers(
            self.key, "POST", url, payload, headers={"Content-Type": "application/json"}
        )
        try:
            async with self.session.post(
                url, data=payload, headers=headers, allow_redirects=False
            ) as response:
                if response.status < 300:
                    return None
                if 400 <= response.status < 500 and response.status != 429:
                    return f"refused with HTTP {response.status}"
                return f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return type(exc).__name__

    async def required_cosignatures_met(self, size: int) -> bool:
        """Is some checkpoint at or beyond `size` cosigned by enough distinct witnesses?"""
        return size <= await self.final_size()

    def required_cosignatures(self, authority: LogAuthority) -> int:
        """Distinct witnesses needed for finality: set by decision, else configured."""
        value = node_parameter(
            authority, "required_cosignatures", self.config.required_cosignatures
        )
        return value if type(value) is int else self.config.required_cosignatures

    async def final_size(self) -> int:
        """The largest size of our log whose checkpoint carries enough cosignatures.

        Only witnesses that are current, unblocked peers count, each once by
        public key (DESIGN.md §5).
        """
        head = await self.log.current_head()
        # A decision of the cooperative overrides the configured default
        # (specs/06-governance.md §9.3).
        needed = self.required_cosignatures(head.authority)
        if needed <= 0:
            return head.size
        witnesses = {
            public_key_from_did(p.did)
            for p in await self.peers.all_peers()
            if p.state not in STOPPED_STATES
        }
        for cosigned_size, keys in await self.peers.cosigners_by_size(self.log.did):
            if len(keys & witnesses) >= needed:
                return cosigned_size
        return 0

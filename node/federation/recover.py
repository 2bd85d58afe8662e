"""Catching the node's own log up from its peers' mirrors (specs/03-federation.md §4.3).

A node restored from a backup holds an older prefix of its own log, while
its peers mirror (and have cosigned) a longer one. Appending from the older
size would sign a second tree under the node key: a fork, which every peer
keeps as evidence of equivocation, forever. So before the log service takes
appends, the node asks its peers for their copies of its own log
(`/fed/v1/logs/<own did>/checkpoint`); a checkpoint that the node key signed
and that is larger than the stored head proves the log is behind, and the
missing entries are pulled from that mirror and verified like any followed
log's (sync_log: consistency with the stored head, every signature, every
authorisation at its position, the root). A checkpoint not signed by the
node key proves nothing and is ignored.

If a mirror proves the log is behind but the entries cannot be recovered,
the node must not append: `LogBehind` says why and what to run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp

from node.errors import NodeError
from node.federation.logclient import LogClient, PeerMisbehaves, PeerUnreachable
from node.federation.sync import Equivocation, sync_log
from node.federation.verify import BatchRejected
from node.store.database import create_engine, migrate
from node.store.logstore import LogStore
from node.store.peerstore import STOPPED_STATES, PeerStore
from protocol.checkpoint import NoteVerifier, open_checkpoint
from protocol.errors import ProtocolError

__all__ = ["LogBehind", "Recovery", "recover_from_peers", "recover_offline", "recover_own_log"]

logger = logging.getLogger(__name__)

# A peer that does not answer for its checkpoint within this long is skipped:
# a node must start even when some of its peers are down.
CHECKPOINT_TIMEOUT_S = 5.0
# Rounds from one mirror: another process of the node may store a batch
# first (sync_log then stops early), and the next round goes on from there.
_ROUNDS_PER_SOURCE = 4


class LogBehind(NodeError):
    """A peer holds a longer copy of our log, signed by our key, that we could not recover."""


@dataclass(frozen=True, slots=True)
class Recovery:
    """What recovery found: the head before and after, and where entries came from."""

    size_before: int
    size_after: int
    # Mirror sizes of our log that the node key signed, per peer base URL.
    seen: dict[str, int]
    # Why the other peers' copies told nothing, per peer base URL.
    unread: dict[str, str]
    source: str | None = None

    @property
    def recovered(self) -> int:
        return self.size_after - self.size_before


def _mirror(url: str, did: str) -> str:
    return f"{url.rstrip('/')}/fed/v1/logs/{did}"


async def _signed_size(client: LogClient, verifier: NoteVerifier) -> int | str:
    """The size of the mirror's checkpoint of our log if our key signed it, else why not."""
    try:
        note = await asyncio.wait_for(client.checkpoint(), CHECKPOINT_TIMEOUT_S)
    except (PeerUnreachable, PeerMisbehaves) as exc:
        return str(exc)
    except TimeoutError:
        return f"no checkpoint within {CHECKPOINT_TIMEOUT_S:g} s"
    try:
        return open_checkpoint(note, verifier).checkpoint.size
    except ProtocolError as exc:
        return f"a checkpoint this node's key did not sign ({exc})"


async def recover_own_log(
    store: LogStore,
    peer_urls: Sequence[str],
    *,
    session: aiohttp.ClientSession,
    batch_size: int = 4000,
) -> Recovery:
    """Bring the local log up to the largest copy of it that a peer proves, if any.

    Raises LogBehind when a peer proves the log longer than we could make
    it, naming the peer, both sizes and the reason; the stored log then
    holds whatever prefix verified (never anything unverified).
    """
    head = await store.local_head()
    if head is None:
        raise NodeError("the node has no log yet")
    verifier = NoteVerifier.from_vkey(head.vkey)
    urls = list(dict.fromkeys(u.rstrip("/") for u in peer_urls))
    sizes = await asyncio.gather(
        *(_signed_size(LogClient(session, _mirror(u, head.did)), verifier) for u in urls)
    )
    seen = {u: s for u, s in zip(urls, sizes, strict=True) if isinstance(s, int)}
    unread = {u: s for u, s in zip(urls, sizes, strict=True) if isinstance(s, str)}
    for url, why in unread.items():
        logger.info("no copy of the own log read from %s: %s", url, why)
    ahead = sorted((s, u) for u, s in seen.items() if s > head.size)
    if not ahead:
        return Recovery(head.size, head.size, seen, unread)
    target, target_url = ahead[-1]
    logger.warning(
        "own log is at size %d but %s holds it at size %d, signed by our key "
        "(restored from a backup?): recovering before taking appends",
        head.size,
        target_url,
        target,
    )
    errors: list[str] = []
    size, source = head.size, None
    for _, url in reversed(ahead):
        client = LogClient(session, _mirror(url, head.did))
        try:
            for _ in range(_ROUNDS_PER_SOURCE):
                result = await sync_log(store, client, head.did, head.vkey, batch_size=batch_size)
                if not result.interrupted:
                    break
        except Equivocation as exc:
            raise LogBehind(
                f"{url} holds a copy of this node's log that its key signed and that does not "
                f"extend the stored one ({exc}): the node key signed two different logs. "
                "Stop appending and investigate before anything else (docs/operating.md §5)"
            ) from exc
        except (PeerUnreachable, PeerMisbehaves, BatchRejected) as exc:
            errors.append(f"{url}: {exc}")
            continue
        finally:
            now = await store.local_head()
            if now is not None and now.size > size:
                size, source = now.size, url
        if size >= target:
            break
    if size < target:
        raise LogBehind(
            f"this node's log is at size {size}, but {target_url} holds it at size {target}, "
            "signed by this node's key (a restored backup?). Appending now would fork the log, "
            "so the node must not take appends until it holds those entries. Recovery failed: "
            f"{'; '.join(errors) or 'no progress'}. Retry when the peer answers, or run "
            f"`fabcommons log recover --data <data dir> --from {target_url}` with the node stopped"
        )
    logger.warning("own log recovered from size %d to %d via %s", head.size, size, source)
    return Recovery(head.size, size, seen, unread, source)


async def recover_from_peers(
    store: LogStore,
    peers: PeerStore,
    peer_urls: Sequence[str] = (),
    *,
    timeout_s: float,
    batch_size: int,
) -> Recovery | None:
    """`recover_own_log` from `peer_urls`, or else from every peer not stopped (§1.4).

    None when there is no peer to ask. What `serve` runs before taking
    appends, and `fabcommons log recover` with the node stopped.
    """
    urls = list(peer_urls) or [
        p.url for p in await peers.all_peers() if p.state not in STOPPED_STATES
    ]
    if not urls:
        return None
    timeout = aiohttp.ClientTimeout(total=timeout_s, sock_read=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        return await recover_own_log(store, urls, session=session, batch_size=batch_size)


async def recover_offline(
    database_url: str, peer_urls: Sequence[str], *, timeout_s: float, batch_size: int
) -> Recovery:
    """`fabcommons log recover`: the same recovery against a stopped node's database."""
    await migrate(database_url)
    engine = create_engine(database_url)
    try:
        found = await recover_from_peers(
            LogStore(engine),
            PeerStore(engine),
            peer_urls,
            timeout_s=timeout_s,
            batch_size=batch_size,
        )
    finally:
        await engine.dispose()
    if found is None:
        raise NodeError("no peers to recover from: name one with --from URL")
    return found

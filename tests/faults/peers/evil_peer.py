"""A lying fabcommons peer, written for the tests: a small aiohttp app serving a hand-built log.

`EvilPeer` runs in-process on 127.0.0.1 (a free port) with its own node key
and serves the federation endpoints of DESIGN.md §3 from a list of leaves
it builds itself, with `protocol.merkle.MemoryHashStore` for proofs and
`protocol.checkpoint.sign_checkpoint` for its checkpoints. Its log is
valid: the first entry is a `member.admit` signed by the node key, then
`member.profile` records signed by that member.

What it serves is switchable at run time with `set_mode`: the honest log,
or one of the misbehaviours of issue 4 (a forged entry, an entry by an
unadmitted author, an entry repeated, a fork, a shrinking log, an oversized or a stalled
response, and a few more lies). Every request is counted, so a test can
check that a victim stopped fetching. Nothing here is node code: it does
not import `node`, and it decides nothing; the tests judge the victim.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import enum
import functools
import hashlib
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from aiohttp import web
from aiohttp.typedefs import Handler

from protocol.checkpoint import (
    ALG_ED25519,
    Checkpoint,
    NoteSignature,
    NoteVerifier,
    key_hash,
    sign_checkpoint,
)
from protocol.keys import AgentKey
from protocol.merkle import MemoryHashStore, consistency_proof, inclusion_proof, leaf_hash
from protocol.records import Envelope, Record, format_time
from protocol.signing import leaf_bytes, sign, signing_input

__all__ = [
    "DUPLICATES",
    "FORGERIES",
    "HONEST_SIZE",
    "UNAUTHORISED",
    "EvilPeer",
    "Mode",
    "ServedLog",
]

HONEST_SIZE = 16
# The victim's limits (node/federation/logclient.py), which the oversized
# answers must exceed: 32 MiB of entries, 64 KiB of checkpoint.
ENTRIES_LIMIT = 32 * 1024 * 1024
CHECKPOINT_LIMIT = 64 * 1024
_MIB = 1024 * 1024
_EPOCH = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)


class Mode(enum.StrEnum):
    """What the evil peer serves; the log content is relative to the published size."""

    HONEST = "honest"
    # Lies in the log's content, each covered by a validly signed checkpoint.
    FORGED_ENTRY = "forged-entry"
    UNADMITTED_AUTHOR = "unadmitted-author"
    DUPLICATE_ENTRY = "duplicate-entry"
    FORK = "fork"
    FORK_EXTENDED = "fork-extended"
    SHRINK_NOT_PREFIX = "shrink-not-prefix"
    SHRINK_PREFIX = "shrink-prefix"
    WRONG_ENTRIES = "wrong-entries"
    NO_ENTRIES = "no-entries"
    EXTRA_ENTRIES = "extra-entries"
    MISECHOED_PROOF = "misechoed-proof"
    # Lies in the transport.
    OVERSIZED_ENTRIES = "oversized-entries"
    OVERSIZED_ENTRIES_DECLARED = "oversized-entries-declared"
    GZIP_BOMB_ENTRIES = "gzip-bomb-entries"
    OVERSIZED_CHECKPOINT = "oversized-checkpoint"
    OVERSIZED_CHECKPOINT_DECLARED = "oversized-checkpoint-declared"
    STALL_CHECKPOINT = "stall-checkpoint"
    STALL_CONSISTENCY = "stall-consistency"
    STALL_ENTRIES_MID_BODY = "stall-entries-mid-body"
    DRIP_ENTRIES = "drip-entries"
    REDIRECT_CHECKPOINT = "redirect-checkpoint"


# Modes whose checkpoint grows by two honest entries, so that the victim
# goes on to ask for a consistency proof and entries.
_GROWING = frozenset(
    {
        Mode.WRONG_ENTRIES,
        Mode.NO_ENTRIES,
        Mode.EXTRA_ENTRIES,
        Mode.MISECHOED_PROOF,
        Mode.OVERSIZED_ENTRIES,
        Mode.OVERSIZED_ENTRIES_DECLARED,
        Mode.GZIP_BOMB_ENTRIES,
        Mode.OVERSIZED_CHECKPOINT,
        Mode.OVERSIZED_CHECKPOINT_DECLARED,
        Mode.STALL_CHECKPOINT,
        Mode.STALL_CONSISTENCY,
        Mode.STALL_ENTRIES_MID_BODY,
        Mode.DRIP_ENTRIES,
        Mode.REDIRECT_CHECKPOINT,
    }
)


def _seeded(name: str) -> AgentKey:
    return AgentKey.from_seed(hashlib.sha256(name.encode("utf-8")).digest())


def _created(n: int) -> str:
    return format_time(_EPOCH + timedelta(seconds=n))


def _record(key: AgentKey, type_: str, body: dict[str, object], n: int) -> Record:
    return Record(type=type_, author=key.did, created=_created(n), body=body)


def signed_leaf(key: AgentKey, type_: str, body: dict[str, object], n: int) -> bytes:
    """The leaf bytes of a record by `key`, correctly signed."""
    return leaf_bytes(sign(_record(key, type_, body, n), key))


@dataclass(frozen=True, slots=True)
class ServedLog:
    """A tree the evil peer serves: its leaves, every subtree hash, and its signed checkpoint."""

    leaves: tuple[bytes, ...]
    hashes: MemoryHashStore
    note: bytes

    @property
    def size(self) -> int:
        return len(self.leaves)

    @classmethod
    def build(
        cls, leaves: Sequence[bytes], key: AgentKey, origin: str, *, padding: int = 0
    ) -> ServedLog:
        """padding: how many other signers' lines to add after the log's own signature."""
        hashes = MemoryHashStore([leaf_hash(leaf) for leaf in leaves])
        checkpoint = Checkpoint(origin, len(leaves), hashes.frontier.root())
        note = sign_checkpoint(checkpoint, key)
        for n in range(padding):
            # A well-formed line of a signer nobody knows: verifiers skip it.
            other = _seeded(f"unknown signer {n}")
            name = f"signer.example/{n}"
            line = NoteSignature(
                name, key_hash(name, ALG_ED25519, other.public_key), other.sign(checkpoint.text())
            )
            note += line.line().encode("utf-8")
        return cls(tuple(leaves), hashes, note)


# Forged entries: leaves whose form or signature is broken (DESIGN.md §3:
# "correctly signed"). Each takes (member, stranger, n) and returns a leaf.
def _flipped_signature_bit(member: AgentKey, stranger: AgentKey, n: int) -> bytes:
    envelope = sign(_record(member, "member.profile", {"display_name": "Forged"}, n), member)
    sig = bytearray(envelope.sig)
    sig[7] ^= 0x10
    return leaf_bytes(replace(envelope, sig=bytes(sig)))


def _body_changed_after_signing(member: AgentKey, stranger: AgentKey, n: int) -> bytes:
    envelope = sign(_record(member, "member.profile", {"display_name": "Honest"}, n), member)
    tampered = replace(envelope.record, body={"display_name": "Tampered"})
    return leaf_bytes(Envelope(record=tampered, sig=envelope.sig))


def _signed_by_another_key(member: AgentKey, stranger: AgentKey, n: int) -> bytes:
    record = _record(member, "member.profile", {"display_name": "Impostor"}, n)
    return leaf_bytes(Envelope(record=record, sig=stranger.sign(signing_input(record))))


def _non_canonical_leaf(member: AgentKey, stranger: AgentKey, n: int) -> bytes:
    # Correctly signed, but the leaf is not JCS(envelope): a space after "record":.
    leaf = signed_leaf(member, "member.profile", {"display_name": "Spaced"}, n)
    return leaf.replace(b'{"record":', b'{"record": ', 1)


FORGERIES = {
    "flipped-signature-bit": _flipped_signature_bit,
    "body-changed-after-signing": _body_changed_after_signing,
    "signed-by-another-key": _signed_by_another_key,
    "non-canonical-leaf": _non_canonical_leaf,
}

# Entries that are correctly signed but whose author may not sign them at
# their position (DESIGN.md §4). Each returns the leaves to append.
UNAUTHORISED = {
    "profile-by-a-stranger": lambda node, member, stranger, n: [
        signed_leaf(stranger, "member.profile", {"display_name": "Stranger"}, n)
    ],
    "admit-signed-by-a-member": lambda node, member, stranger, n: [
        signed_leaf(member, "member.admit", {"member": stranger.did, "role": "member"}, n)
    ],
    "profile-after-leave": lambda node, member, stranger, n: [
        signed_leaf(node, "member.leave", {"member": member.did}, n),
        signed_leaf(member, "member.profile", {"display_name": "Gone"}, n + 1),
    ],
}


# Entries that repeat an earlier entry of the log, byte for byte: the same
# signed record appended twice (specs/01-records.md §6, check 6). Each takes
# the published honest prefix `head` and the new entry before the repeat,
# and returns the leaf to serve after that new entry. Both repeats are
# member.profile records, which their author may sign at any position: only
# the once-only rule refuses them.
DUPLICATES = {
    # The entry just before it, fetched in the same round (and batch, unless
    # the victim's batches are of one entry).
    "repeat-of-new-entry": lambda head, fresh: fresh,
    # Entry 2 of the honest prefix, which the victim stored in an earlier round.
    "repeat-of-stored-entry": lambda head, fresh: head[2],
}


@functools.cache
def _gzip_bomb(size: int) -> bytes:
    """A gzip stream of `size` bytes of 'A' (no newline), built without holding them."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"A" * _MIB
    parts = [compressor.compress(block) for _ in range(size // _MIB)]
    parts.append(compressor.compress(b"A" * (size % _MIB)))
    parts.append(compressor.flush())
    return b"".join(parts)


class EvilPeer:
    """A peer node that lies on demand. Start it with `start()`, stop it with `close()`."""

    def __init__(self, *, name: str = "Evil Coop") -> None:
        self.name = name
        self.key = _seeded("evil node key")
        self.member = _seeded("evil member key")
        self.stranger = _seeded("a key the evil node never admitted")
        self.origin = "fabcommons/evil-coop"
        self.verifier = NoteVerifier(self.origin, self.key.public_key)
        self.honest: tuple[bytes, ...] = self._honest_leaves()
        self.published = HONEST_SIZE
        self.mode = Mode.HONEST
        self.log = ServedLog.build(self.honest, self.key, self.origin)
        # Requests as "METHOD /path?query", in arrival order.
        self.requests: list[str] = []
        self.inbox: list[bytes] = []
        # Set when a stalled or oversized answer is under way.
        self.stalled = asyncio.Event()
        self.midway = asyncio.Event()
        # When set to an Event, oversized streams pause halfway until it is set.
        self.hold: asyncio.Event | None = None
        self.stall_s = 30.0
        self.drip_interval_s = 0.25
        self.redirect_to = ""
        # Signature lines of unknown signers added to every checkpoint served.
        self.padding = 0
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    # The log

    def _honest_leaves(self) -> tuple[bytes, ...]:
        admit = signed_leaf(
            self.key, "member.admit", {"member": self.member.did, "role": "member"}, 0
        )
        profiles = [
            signed_leaf(self.member, "member.profile", {"display_name": f"Member {n}"}, n)
            for n in range(1, HONEST_SIZE)
        ]
        return (admit, *profiles)

    def alternative(self, n: int) -> bytes:
        """A valid profile by the member that the honest log does not hold (for forks)."""
        return signed_leaf(self.member, "member.profile", {"display_name": f"Fork {n}"}, 1000 + n)

    def serve(self, leaves: Sequence[bytes]) -> ServedLog:
        """Serve exactly these leaves under a validly signed checkpoint."""
        self.log = ServedLog.build(leaves, self.key, self.origin, padding=self.padding)
        return self.log

    def honest_log(self, size: int) -> ServedLog:
        """The honest log's first `size` entries, with their signed checkpoint."""
        return ServedLog.build(self.honest[:size], self.key, self.origin, padding=self.padding)

    def publish(self, size: int) -> ServedLog:
        """Serve the honest log of `size` entries, honestly."""
        if not 0 <= size <= HONEST_SIZE:
            raise ValueError(f"the honest log has {HONEST_SIZE} entries")
        self.published = size
        return self.set_mode(Mode.HONEST)

    def set_mode(self, mode: Mode, *, size: int | None = None, variant: str = "") -> ServedLog:
        """Switch behaviour; the served tree is built from the published honest prefix.

        size: the served tree's size for FORK_EXTENDED and the SHRINK modes.
        variant: a key of FORGERIES, UNAUTHORISED or DUPLICATES for those modes.
        """
        n = self.published
        head = list(self.honest[:n])
        leaves: list[bytes]
        if mode == Mode.HONEST:
            leaves = head
        elif mode == Mode.FORGED_ENTRY:
            forged = FORGERIES[variant](self.member, self.stranger, 500)
            leaves = [*head, self.alternative(1), forged, self.alternative(2)]
        elif mode == Mode.UNADMITTED_AUTHOR:
            bad = UNAUTHORISED[variant](self.key, self.member, self.stranger, 600)
            leaves = [*head, self.alternative(1), *bad, self.alternative(2)]
        elif mode == Mode.DUPLICATE_ENTRY:
            fresh = self.alternative(1)
            leaves = [*head, fresh, DUPLICATES[variant](head, fresh), self.alternative(2)]
        elif mode == Mode.FORK:
            leaves = [*head[:-1], self.alternative(n)]
        elif mode == Mode.FORK_EXTENDED:
            if size is None or size <= n:
                raise ValueError("a grown fork needs a size above the published one")
            leaves = [*head[:-1], self.alternative(n), *self.honest[n:size]]
        elif mode == Mode.SHRINK_NOT_PREFIX:
            if size is None or not 0 < size < n:
                raise ValueError("a shrunk fork needs a size between 1 and the published one")
            leaves = [*head[: size - 1], self.alternative(size)]
        elif mode == Mode.SHRINK_PREFIX:
            if size is None or not 0 <= size < n:
                raise ValueError("a shrunk prefix needs a size below the published one")
            leaves = head[:size]
        elif mode in _GROWING:
            leaves = list(self.honest[: n + 2])
        else:
            raise ValueError(f"unknown mode {mode}")
        self.mode = mode
        self.stalled.clear()
        self.midway.clear()
        return self.serve(leaves)

    def fetches(self) -> int:
        """How many log reads (GET under /fed/v1) the peer has answered or begun."""
        return sum(1 for r in self.requests if r.startswith("GET /fed/v1/"))

    # Lifecycle

    async def start(self) -> str:
        app = web.Application(middlewares=[self._count])
        app.add_routes(
            [
                web.get("/.well-known/fabcommons", self._well_known),
                web.get("/fed/v1/checkpoint", self._checkpoint),
                web.get("/fed/v1/entries", self._entries),
                web.get("/fed/v1/proof/consistency", self._consistency),
                web.get("/fed/v1/proof/inclusion", self._inclusion),
                web.post("/fed/v1/inbox", self._inbox),
            ]
        )
        # handler_cancellation: a handler stalling for a victim that hung up is
        # cancelled; shutdown_timeout bounds the wait for any that is not.
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self.url

    async def close(self) -> None:
        self._release.set()
        if self.hold is not None:
            self.hold.set()
        if self._runner is not None:
            await self._runner.cleanup()

    # Handlers

    @web.middleware
    async def _count(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests.append(f"{request.method} {request.path_qs}")
        return await handler(request)

    async def _stall(self) -> None:
        self.stalled.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._release.wait(), self.stall_s)

    async def _well_known(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "did": self.key.did,
                "name": self.name,
                "log": {"origin": self.origin, "vkey": self.verifier.vkey},
                "api": "/api/v1",
                "federation": "/fed/v1",
                "software": {"name": "evil-peer", "version": "0"},
            }
        )

    async def _checkpoint(self, request: web.Request) -> web.StreamResponse:
        if self.mode == Mode.STALL_CHECKPOINT:
            await self._stall()
            return web.Response(status=503)
        if self.mode == Mode.OVERSIZED_CHECKPOINT:
            return await self._junk(request, "text/plain", CHECKPOINT_LIMIT + 64 * 1024, 4096)
        if self.mode == Mode.OVERSIZED_CHECKPOINT_DECLARED:
            return await self._junk(
                request, "text/plain", CHECKPOINT_LIMIT + 64 * 1024, 4096, declared=True
            )
        if self.mode == Mode.REDIRECT_CHECKPOINT:
            raise web.HTTPFound(self.redirect_to)
        return web.Response(body=self.log.note, content_type="text/plain", charset="utf-8")

    def _range(self, request: web.Request, first: str, second: str) -> tuple[int, int]:
        try:
            return int(request.query[first]), int(request.query[second])
        except (KeyError, ValueError) as exc:
            raise web.HTTPBadRequest(text="bad range") from exc

    async def _entries(self, request: web.Request) -> web.StreamResponse:
        start, end = self._range(request, "start", "end")
        if not 0 <= start < end or start >= self.log.size:
            raise web.HTTPBadRequest(text="bad range")
        end = min(end, self.log.size)
        lines = [leaf + b"\n" for leaf in self.log.leaves[start:end]]
        mode = self.mode
        if mode == Mode.OVERSIZED_ENTRIES:
            return await self._junk(request, "application/x-ndjson", ENTRIES_LIMIT + 2 * _MIB, _MIB)
        if mode == Mode.OVERSIZED_ENTRIES_DECLARED:
            return await self._junk(
                request, "application/x-ndjson", ENTRIES_LIMIT + 2 * _MIB, _MIB, declared=True
            )
        if mode == Mode.GZIP_BOMB_ENTRIES:
            body = _gzip_bomb(ENTRIES_LIMIT + 8 * _MIB)
            self.stalled.set()
            return web.Response(
                body=body,
                headers={"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"},
            )
        if mode == Mode.STALL_ENTRIES_MID_BODY:
            response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
            await response.prepare(request)
            await response.write(lines[0][: len(lines[0]) // 2])
            await self._stall()
            return response
        if mode == Mode.DRIP_ENTRIES:
            return await self._drip(request, b"".join(lines))
        if mode == Mode.WRONG_ENTRIES:
            # Valid entries, but not the ones the checkpoint commits to.
            lines = [self.alternative(start + i) + b"\n" for i in range(end - start)]
        elif mode == Mode.NO_ENTRIES:
            lines = []
        elif mode == Mode.EXTRA_ENTRIES:
            lines = [*lines, self.alternative(end) + b"\n"]
        return web.Response(body=b"".join(lines), content_type="application/x-ndjson")

    async def _consistency(self, request: web.Request) -> web.Response:
        old, new = self._range(request, "from", "to")
        if not 0 < old <= new <= self.log.size:
            raise web.HTTPBadRequest(text="bad proof request")
        if self.mode == Mode.STALL_CONSISTENCY:
            await self._stall()
            return web.Response(status=503)
        hashes = consistency_proof(old, new, self.log.hashes)
        if self.mode == Mode.MISECHOED_PROOF:
            # The right hashes, but for numbers other than the ones asked for
            # (specs/02-log.md §7: a client MUST check the echoed numbers).
            old, new = old + 1, new + 1
        return web.json_response({"from": old, "to": new, "hashes": _b64(hashes)})

    async def _inclusion(self, request: web.Request) -> web.Response:
        index, size = self._range(request, "index", "tree_size")
        if not 0 <= index < size <= self.log.size:
            raise web.HTTPBadRequest(text="bad proof request")
        hashes = inclusion_proof(index, size, self.log.hashes)
        return web.json_response({"leaf_index": index, "tree_size": size, "hashes": _b64(hashes)})

    async def _inbox(self, request: web.Request) -> web.Response:
        self.inbox.append(await request.read())
        return web.json_response({"accepted": True}, status=202)

    # Misbehaving bodies

    async def _junk(
        self,
        request: web.Request,
        content_type: str,
        total: int,
        chunk_size: int,
        *,
        declared: bool = False,
    ) -> web.StreamResponse:
        """Stream `total` bytes of one unterminated line, made chunk by chunk (never held)."""
        response = web.StreamResponse(headers={"Content-Type": content_type})
        if declared:
            response.content_length = total
        await response.prepare(request)
        chunk = b"A" * chunk_size
        sent = 0
        self.stalled.set()
        with contextlib.suppress(ConnectionError):
            while sent < total:
                await response.write(chunk[: total - sent])
                sent += min(chunk_size, total - sent)
                if sent >= total // 2 and not self.midway.is_set():
                    self.midway.set()
                    if self.hold is not None:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self.hold.wait(), 10.0)
            await response.write_eof()
        return response

    async def _drip(self, request: web.Request, body: bytes) -> web.StreamResponse:
        """Send one byte per drip interval: never silent long enough for a read timeout."""
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        self.stalled.set()
        with contextlib.suppress(ConnectionError):
            for i in range(len(body)):
                await response.write(body[i : i + 1])
                if self._release.is_set():
                    break
                await asyncio.sleep(self.drip_interval_s)
            await response.write_eof()
        return response


def _b64(hashes: Sequence[bytes]) -> list[str]:
    return [base64.b64encode(h).decode("ascii") for h in hashes]

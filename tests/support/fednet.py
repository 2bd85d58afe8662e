"""Helpers of the multi-node tests: real `fabcommons serve` processes and independent checks.

Expected values never come from node/: leaves and record ids are computed
with `rfc8785` and `hashlib`, Merkle roots with a direct RFC 9162 §2.1.1
implementation. The protocol core is used to sign records and to open notes.

Waiting is asynchronous (a test may serve a proxy or a fake node in its own
event loop meanwhile) and always bounded.

(tests/conftest.py puts tests/support on sys.path, which --import-mode=importlib does
not do; the module has a distinctive name so that it clashes with nothing.)
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import rfc8785
from aiohttp import web

from node.client import NodeClient
from node.httpsig import sign_request_headers
from node.store import LogStore, create_engine
from node.store.logstore import AppendItem
from protocol.checkpoint import (
    Checkpoint,
    NoteVerifier,
    SignedCheckpoint,
    open_checkpoint,
    sign_checkpoint,
)
from protocol.keys import AgentKey, load_key
from protocol.membership import MemberAdmit
from protocol.records import Envelope, Record, format_time, parse_body
from protocol.signing import leaf_bytes, record_id, sign

STARTUP_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
CLI_TIMEOUT_S = 60.0
HTTP_TIMEOUT_S = 30.0
POLL_S = 0.05
_ADDRESS_IN_USE = re.compile(r"address already in use|errno 98", re.IGNORECASE)

# Settings every federation test node gets (appended to its config.yaml).
BASE_SETTINGS: dict[str, object] = {"sync_interval_s": 0.5, "peer_timeout_s": 5.0}


# -- independent computations ---------------------------------------------------------------


def jcs(value: Any) -> bytes:
    """RFC 8785 bytes (the rfc8785 package, not protocol/canonical.py)."""
    return rfc8785.dumps(value)


def leaf_of(envelope: Envelope) -> bytes:
    """DESIGN.md §3: log leaf bytes = JCS(envelope)."""
    return jcs(envelope.to_dict())


def record_id_of(envelope: Envelope) -> str:
    """DESIGN.md §3: record id = "sha256:" + hex(SHA-256(JCS(record)))."""
    return "sha256:" + hashlib.sha256(jcs(envelope.record.to_dict())).hexdigest()


def tree_root(leaves: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH over leaf bytes, written out directly (iteratively)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    # Bottom-up: pair adjacent nodes; an odd last node moves up unchanged. This
    # yields the same tree as the recursive split at the largest power of two.
    level = [hashlib.sha256(b"\x00" + leaf).digest() for leaf in leaves]
    while len(level) > 1:
        paired = [
            hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest()
            for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def profile_envelope(member: AgentKey, display_name: str) -> Envelope:
    """A member.profile record (the one type a plain member signs about themself)."""
    record = Record(
        type="member.profile",
        author=member.did,
        created=format_time(datetime.now(UTC)),
        body={"display_name": display_name},
    )
    return sign(record, member)


# -- processes -------------------------------------------------------------------------------


def cli_argv() -> list[str]:
    script = Path(sys.executable).parent / "fabcommons"
    return [str(script)] if script.exists() else [sys.executable, "-m", "node.cli"]


def child_env() -> dict[str, str]:
    """No inherited FABCOMMONS_* settings, no colours, unbuffered output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FABCOMMONS_")}
    env.pop("FORCE_COLOR", None)
    env["NO_COLOR"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServeFailed(AssertionError):
    pass


@dataclass
class FedNode:
    """One node: a data directory made by `fabcommons init`, and its serve process."""

    label: str
    path: Path
    port: int
    did: str
    origin: str
    vkey: str
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    ever_up: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        return (self.path / "admin.token").read_text(encoding="ascii").strip()

    @property
    def public_key(self) -> bytes:
        return NoteVerifier.from_vkey(self.vkey).public_key

    @property
    def verifier(self) -> NoteVerifier:
        return NoteVerifier.from_vkey(self.vkey)

    @property
    def db_path(self) -> Path:
        return self.path / "node.db"

    # Process control

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _launch(self) -> None:
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"--- serve #{self.starts} on port {self.port} ---\n".encode())
            self.proc = subprocess.Popen(
                [
                    *cli_argv(),
                    "serve",
                    "--data",
                    str(self.path),
                    "--port",
                    str(self.port),
                    "--log-level",
                    "info",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=child_env(),
                start_new_session=True,
            )

    async def start(self) -> None:
        """Start serve (own process group) and wait, bounded, until /healthz answers.

        On the first start only, a port that someone took since `init` chose it
        is replaced by another free one (peers learn the URL after that).
        """
        assert not self.running, f"{self.label} is already running"
        for _ in range(3):
            self._launch()
            try:
                await self._wait_healthy()
                return
            except ServeFailed as exc:
                if self.ever_up or not _ADDRESS_IN_USE.search(str(exc)):
                    raise
                self.port = free_port()
        raise ServeFailed(f"{self.label}: no free port found")

    async def _wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise ServeFailed(
                        f"{self.label}: serve exited with {self.proc.returncode}\n"
                        + self.log_tail()
                    )
                with contextlib.suppress(aiohttp.ClientError, TimeoutError, OSError):
                    async with session.get(self.url + "/healthz") as response:
                        if response.status == 200:
                            self.ever_up = True
                            return
                await asyncio.sleep(POLL_S)
        self.stop()
        raise ServeFailed(f"{self.label}: /healthz did not answer\n" + self.log_tail())

    def _signal(self, signum: int) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signum)

    def kill(self) -> int:
        """SIGKILL the process group, as a crash would."""
        assert self.proc is not None
        self._signal(signal.SIGKILL)
        return self.proc.wait(timeout=STOP_TIMEOUT_S)

    def stop(self, *, terminate: bool = True) -> int | None:
        """SIGTERM (unless sent already), then SIGKILL after STOP_TIMEOUT_S; the exit status.

        SIGTERM is sent once only: a second one can land after aiohttp has put the
        default handlers back during its graceful shutdown, and kill the process.
        """
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            if terminate:
                self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait(timeout=STOP_TIMEOUT_S)
        return self.proc.returncode

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    # HTTP (a short-lived session per call keeps the tests free of session plumbing)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        admin: bool = False,
    ) -> tuple[int, bytes]:
        all_headers = dict(headers or {})
        if admin:
            all_headers["Authorization"] = f"Bearer {self.token}"
        timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.request(
                method, self.url + path, json=json_body, data=data, headers=all_headers
            ) as response,
        ):
            return response.status, await response.read()

    async def get_json(self, path: str) -> Any:
        status, body = await self.request("GET", path)
        assert status == 200, f"{self.label} GET {path}: {status} {body[:300]!r}"
        return json.loads(body)

    async def get_bytes(self, path: str) -> bytes:
        status, body = await self.request("GET", path)
        assert status == 200, f"{self.label} GET {path}: {status} {body[:300]!r}"
        return body

    async def add_peer(self, url: str) -> dict[str, Any]:
        status, body = await self.request(
            "POST", "/api/v1/admin/peers", json_body={"url": url}, admin=True
        )
        assert status in (200, 201), f"{self.label} add peer {url}: {status} {body[:300]!r}"
        result: dict[str, Any] = json.loads(body)
        return result

    async def sync(self, did: str) -> dict[str, Any]:
        """One sync round of peer `did`, run synchronously by the node; the peer afterwards."""
        status, body = await self.request("POST", f"/api/v1/admin/peers/{did}/sync", admin=True)
        assert status == 200, f"{self.label} sync {did}: {status} {body[:300]!r}"
        result: dict[str, Any] = json.loads(body)
        return result

    async def peers(self) -> dict[str, dict[str, Any]]:
        data = await self.get_json("/api/v1/peers")
        return {p["did"]: p for p in data["peers"]}

    async def admit(self, did: str) -> None:
        status, body = await self.request(
            "POST", "/api/v1/admin/members", json_body={"did": did}, admin=True
        )
        assert status == 201, f"{self.label} admit: {status} {body[:300]!r}"

    async def checkpoint(self, did: str | None = None) -> bytes:
        """The node's own checkpoint note, or its mirror of log `did`."""
        return await self.get_bytes(
            "/fed/v1/checkpoint" if did is None else f"/fed/v1/logs/{did}/checkpoint"
        )

    async def leaves(self, size: int, did: str | None = None) -> list[bytes]:
        """Every leaf 0..size-1 of the own log or of mirror `did` (bounded request count)."""
        base = "/fed/v1" if did is None else f"/fed/v1/logs/{did}"
        out: list[bytes] = []
        for _ in range(size + 1):
            if len(out) >= size:
                break
            body = await self.get_bytes(f"{base}/entries?start={len(out)}&end={size}")
            assert body.endswith(b"\n")
            batch = body[:-1].split(b"\n")
            out.extend(batch)
        assert len(out) == size, f"{self.label}: fetched {len(out)} leaves, expected {size}"
        return out


def query_db(db_path: Path, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
    """Read a node's SQLite database directly (a short read transaction; WAL lets it run
    beside the node's writer)."""
    with contextlib.closing(sqlite3.connect(db_path, timeout=10)) as conn:
        return conn.execute(sql, tuple(params)).fetchall()


async def wait_for(
    probe: Callable[[], Awaitable[Any] | Any], what: str, *, timeout_s: float = 20.0
) -> Any:
    """Poll probe (sync or async) until it returns a truthy value (bounded); return that."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what} (last: {last!r})")


@dataclass
class FedNet:
    """Makes nodes with `fabcommons init` in a temporary directory; stops them all at the end."""

    root: Path
    nodes: list[FedNode] = field(default_factory=list)

    def node(self, label: str, **settings: object) -> FedNode:
        """`fabcommons init --data D --name N --port P`, then settings appended to config.yaml."""
        path = self.root / label
        for _ in range(3):
            port = free_port()
            if all(n.port != port for n in self.nodes):
                break
        done = subprocess.run(
            [
                *cli_argv(),
                "init",
                "--data",
                str(path),
                "--name",
                f"Fed {label}",
                "--port",
                str(port),
            ],
            capture_output=True,
            text=True,
            env=child_env(),
            timeout=CLI_TIMEOUT_S,
            check=False,
        )
        assert done.returncode == 0, f"init failed: {done.stdout}\n{done.stderr}"
        printed: dict[str, str] = {}
        for line in done.stdout.splitlines():
            match = re.fullmatch(r"(did|origin|vkey)\s+(\S+)\s*", line)
            if match:
                printed[match.group(1)] = match.group(2)
        assert set(printed) == {"did", "origin", "vkey"}, done.stdout
        merged = {**BASE_SETTINGS, **settings}
        with (path / "config.yaml").open("a", encoding="utf-8") as config:
            for key, value in merged.items():
                config.write(f"{key}: {json.dumps(value)}\n")
        node = FedNode(
            label=label,
            path=path,
            port=port,
            did=printed["did"],
            origin=printed["origin"],
            vkey=printed["vkey"],
            log_path=self.root / f"serve-{label}.log",
        )
        self.nodes.append(node)
        return node

    def stop_all(self) -> None:
        # SIGTERM them all first, so that their graceful shutdowns overlap.
        for node in self.nodes:
            if node.running:
                node._signal(signal.SIGTERM)
        for node in self.nodes:
            node.stop(terminate=False)


async def federate(nodes: Sequence[FedNode]) -> None:
    """Every node adds every other node as a peer."""
    for node in nodes:
        for other in nodes:
            if other is not node:
                added = await node.add_peer(other.url)
                assert added["did"] == other.did


async def open_note(node: FedNode, did: str | None, log: FedNode) -> SignedCheckpoint:
    """`node`'s checkpoint of `log` (its own when did is None), opened with the log's vkey."""
    return open_checkpoint(await node.checkpoint(did), log.verifier)


async def post_profiles(
    node: FedNode, members: Sequence[AgentKey], count: int, *, tag: str, clients: int = 32
) -> list[tuple[str, int, bytes]]:
    """`clients` concurrent clients append `count` member.profile records in all, round-robin
    over the members; returns (record id, index, leaf) as acknowledged, in index order."""
    acked: list[tuple[str, int, bytes]] = []
    next_n = 0

    async def one_client(c: int) -> None:
        nonlocal next_n
        async with NodeClient(node.url, timeout_s=HTTP_TIMEOUT_S) as client:
            while next_n < count:
                n = next_n
                next_n += 1
                member = members[n % len(members)]
                envelope = profile_envelope(member, f"{tag} {n}")
                answer = await client.post_record(envelope, member)
                assert answer["id"] == record_id_of(envelope)
                acked.append((answer["id"], answer["index"], leaf_of(envelope)))

    await asyncio.gather(*(one_client(c) for c in range(min(clients, count))))
    assert len(acked) == count
    return sorted(acked, key=lambda a: a[1])


async def build_log_offline(node: FedNode, members: Sequence[AgentKey], count: int) -> list[bytes]:
    """Fill a node's own log before its first start: admit `members`, then `count` profiles.

    Signed HTTP appends cost about 2 ms of request signing on each side
    (http-message-signatures), far too slow for a 20,000-entry fixture, so
    this calls LogStore.append_batch, the one function the node's writer
    appends through, on the node's own database, with its own key signing
    the checkpoints. Returns every leaf in order (protocol.signing.leaf_bytes,
    checked against rfc8785 on a sample of 50).
    """
    assert not node.running
    key = load_key(node.path / "node.key")
    assert key.did == node.did
    created = format_time(datetime.now(UTC))
    envelopes = [
        sign(
            Record(
                type=MemberAdmit.TYPE,
                author=key.did,
                created=created,
                body=MemberAdmit(member=m.did).to_dict(),
            ),
            key,
        )
        for m in members
    ]
    envelopes += [
        sign(
            Record(
                type="member.profile",
                author=members[n % len(members)].did,
                created=created,
                body={"display_name": f"bulk {n}"},
            ),
            members[n % len(members)],
        )
        for n in range(count)
    ]
    # protocol.signing.leaf_bytes is fast; a sample is checked against rfc8785 below.
    leaves = [leaf_bytes(e) for e in envelopes]
    for i in range(0, len(leaves), max(1, len(leaves) // 50)):
        assert leaves[i] == leaf_of(envelopes[i])
    engine = create_engine(f"sqlite+aiosqlite:///{node.db_path}")
    try:
        store = LogStore(engine)

        def signer(checkpoint: Any) -> bytes:
            return sign_checkpoint(checkpoint, key)

        await store.create_log(
            did=key.did, origin=node.origin, vkey=node.vkey, is_local=True, sign=signer
        )
        items = [
            AppendItem(
                record=e.record, body=parse_body(e.record), leaf=leaf, record_id=record_id(e.record)
            )
            for e, leaf in zip(envelopes, leaves, strict=True)
        ]
        for start in range(0, len(items), 2000):
            outcomes, _ = await store.append_batch(key.did, items[start : start + 2000], signer)
            assert all(o.created and o.error is None for o in outcomes)
    finally:
        await engine.dispose()
    return leaves


# -- in-test HTTP servers --------------------------------------------------------------------


@dataclass(frozen=True)
class EntriesCall:
    """One GET /fed/v1/entries that went through the proxy."""

    phase: int  # the proxy's phase when the request arrived
    start: int
    end: int
    lines: int  # leaves the proxy passed on


@dataclass
class CountingProxy:
    """A reverse proxy on 127.0.0.1 that counts every entries request and the leaves it served.

    `delay_s` holds each entries answer back a little, so that a sync takes
    long enough to be interrupted. `phase` is the tests' clock: each call is
    stamped with the phase at which it arrived.
    """

    target: str
    delay_s: float = 0.0
    phase: int = 0
    # When set, everything but the well-known document answers 503 (the target looks down).
    refuse: bool = False
    calls: list[EntriesCall] = field(default_factory=list)
    _runner: Any = None
    _session: aiohttp.ClientSession | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: Any) -> Any:
        phase = self.phase
        body = await request.read()
        if self.refuse and request.path != "/.well-known/fabcommons":
            return web.Response(status=503, text="down")
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() not in ("host", "content-length", "transfer-encoding", "connection")
        }
        assert self._session is not None
        async with self._session.request(
            request.method, self.target + request.path_qs, data=body, headers=headers
        ) as upstream:
            payload = await upstream.read()
            status = upstream.status
            content_type = upstream.headers.get("Content-Type", "application/octet-stream")
        if request.path == "/fed/v1/entries" and status == 200:
            self.calls.append(
                EntriesCall(
                    phase=phase,
                    start=int(request.query["start"]),
                    end=int(request.query["end"]),
                    lines=payload.count(b"\n"),
                )
            )
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
        return web.Response(status=status, body=payload, headers={"Content-Type": content_type})


@dataclass
class FakeNode:
    """A node identity held by the test: its key signs checkpoints and inbox requests."""

    label: str
    key: AgentKey
    base: str  # URL prefix on the fake server
    # The checkpoint note it serves (default: an empty log); `hold` delays that answer.
    note: bytes = b""
    hold: asyncio.Event | None = None
    checkpoint_requests: int = 0
    # Logs it pretends to mirror: did -> (checkpoint note, leaves).
    mirrors: dict[str, tuple[bytes, list[bytes]]] = field(default_factory=dict)

    @property
    def did(self) -> str:
        return self.key.did

    @property
    def origin(self) -> str:
        return f"fake/{self.label}"

    @property
    def vkey(self) -> str:
        return NoteVerifier(self.origin, self.key.public_key).vkey

    @property
    def url(self) -> str:
        return self.base

    def sign_checkpoint(self, size: int, root: bytes) -> bytes:
        return sign_checkpoint(Checkpoint(self.origin, size, root), self.key)


@dataclass
class FakeNodes:
    """Fake peers served by the test's event loop at http://127.0.0.1:<port>/<label>.

    Each serves a well-known document for its key, a signed checkpoint of an
    empty log (or `note`), and accepts anything pushed to its inbox.
    """

    nodes: dict[str, FakeNode] = field(default_factory=dict)
    _runner: Any = None
    port: int = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/{label}/.well-known/fabcommons", self._well_known)
        app.router.add_get("/{label}/fed/v1/checkpoint", self._checkpoint)
        app.router.add_post("/{label}/fed/v1/inbox", self._inbox)
        app.router.add_get("/{label}/fed/v1/logs/{did}/checkpoint", self._mirror_checkpoint)
        app.router.add_get("/{label}/fed/v1/logs/{did}/entries", self._mirror_entries)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        for node in self.nodes.values():
            if node.hold is not None:
                node.hold.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def add(self, label: str) -> FakeNode:
        assert self.port, "start the fake server first"
        node = FakeNode(label, AgentKey.generate(), f"http://127.0.0.1:{self.port}/{label}")
        node.note = node.sign_checkpoint(0, hashlib.sha256(b"").digest())
        self.nodes[label] = node
        return node

    def _node(self, request: Any) -> FakeNode:
        node = self.nodes.get(request.match_info["label"])
        if node is None:
            raise web.HTTPNotFound()
        return node

    async def _well_known(self, request: Any) -> Any:
        node = self._node(request)
        return web.json_response(
            {
                "did": node.did,
                "name": f"Fake {node.label}",
                "log": {"origin": node.origin, "vkey": node.vkey},
                "api": "/api/v1",
                "federation": "/fed/v1",
                "software": {"name": "fednet-fake", "version": "0"},
            }
        )

    async def _checkpoint(self, request: Any) -> Any:
        node = self._node(request)
        node.checkpoint_requests += 1
        if node.hold is not None:
            await node.hold.wait()
        return web.Response(body=node.note, content_type="text/plain")

    def _mirror(self, request: Any) -> tuple[bytes, list[bytes]]:
        mirror = self._node(request).mirrors.get(request.match_info["did"])
        if mirror is None:
            raise web.HTTPNotFound()
        return mirror

    async def _mirror_checkpoint(self, request: Any) -> Any:
        note, _ = self._mirror(request)
        return web.Response(body=note, content_type="text/plain")

    async def _mirror_entries(self, request: Any) -> Any:
        _, leaves = self._mirror(request)
        start, end = int(request.query["start"]), int(request.query["end"])
        body = b"".join(leaf + b"\n" for leaf in leaves[start:end])
        return web.Response(body=body, content_type="application/x-ndjson")

    async def _inbox(self, request: Any) -> Any:
        self._node(request)
        await request.read()
        return web.json_response({"accepted": "fake"}, status=202)


def signed_headers(
    key: AgentKey, url: str, body: bytes, *, now: float | None = None
) -> dict[str, str]:
    """RFC 9421 request headers (node.httpsig, as NodeClient signs) for a JSON POST."""
    return sign_request_headers(
        key, "POST", url, body, headers={"Content-Type": "application/json"}, now=now
    )

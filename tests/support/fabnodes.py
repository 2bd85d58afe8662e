"""Helpers of the integration tests: real `fabcommons` processes and independent checks.

Nothing here trusts node/ for an expected value: leaves and record ids are
computed with `rfc8785` and `hashlib`, Merkle roots with a direct RFC 9162
§2.1.1 implementation, and dids with a local base58btc encoder. The protocol
core is used only to sign records and to check notes and proofs.

(conftest.py puts this directory on sys.path; the module has a distinctive
name because every test directory's helpers share that one namespace.)
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

# Shared with the federation fixture (same directory); re-exported for the tests.
from fednet import jcs, leaf_of
from fednet import record_id_of as record_id_of
from fednet import tree_root as tree_root

from node.client import NodeClient, NodeClientError
from protocol.keys import AgentKey
from protocol.records import Envelope, Record, format_time
from protocol.signing import sign

T = TypeVar("T")

STARTUP_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
CLI_TIMEOUT_S = 60.0
_POLL_INTERVAL_S = 0.05
_START_ATTEMPTS = 3
_ADDRESS_IN_USE = re.compile(r"address already in use|errno 98", re.IGNORECASE)


# -- independent computations ---------------------------------------------------------------


def record_id_of_leaf(leaf: bytes) -> str:
    return "sha256:" + hashlib.sha256(jcs(json.loads(leaf)["record"])).hexdigest()


def b58btc(data: bytes) -> str:
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, rem = divmod(number, 58)
        out = alphabet[rem] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def did_of_public_key(public_key: bytes) -> str:
    """did:key of an Ed25519 key: multicodec 0xed 0x01, base58btc, multibase 'z'."""
    return "did:key:z" + b58btc(b"\xed\x01" + public_key)


def vkey_of(origin: str, public_key: bytes) -> str:
    """The signed-note verifier key (golang.org/x/mod/sumdb/note: name+hash+base64)."""
    material = b"\x01" + public_key
    key_hash = hashlib.sha256(origin.encode() + b"\n" + material).digest()[:4]
    return f"{origin}+{key_hash.hex()}+{base64.b64encode(material).decode()}"


def checkpoint_body(note: bytes) -> tuple[str, int, bytes]:
    """(origin, size, root) read from a note's text, without verifying it."""
    origin, size, root = note.split(b"\n\n", 1)[0].decode().split("\n")[:3]
    return origin, int(size), base64.b64decode(root)


# -- processes -------------------------------------------------------------------------------


def cli_argv() -> list[str]:
    """The installed console script next to this interpreter, else `python -m node.cli`."""
    script = Path(sys.executable).parent / "fabcommons"
    return [str(script)] if script.exists() else [sys.executable, "-m", "node.cli"]


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child: no inherited FABCOMMONS_* settings, no colours."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("FABCOMMONS_") and k != "FORCE_COLOR"
    }
    env["NO_COLOR"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout_s: float = CLI_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    """Run `fabcommons ARGS` to completion (bounded) and capture its output."""
    return subprocess.run(
        [*cli_argv(), *args],
        capture_output=True,
        text=True,
        env=child_env(env),
        timeout=timeout_s,
        check=False,
    )


async def run_cli_async(
    *args: str, env: dict[str, str] | None = None, timeout_s: float = CLI_TIMEOUT_S
) -> tuple[int, str, str]:
    """Run the CLI without blocking the event loop (a test may be serving a fake node)."""
    proc = await asyncio.create_subprocess_exec(
        *cli_argv(),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=child_env(env),
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@dataclass(frozen=True)
class NodeDir:
    """A data directory made by `fabcommons init`, with what init printed."""

    path: Path
    did: str
    origin: str
    vkey: str
    database_url: str | None

    @property
    def token(self) -> str:
        return (self.path / "admin.token").read_text(encoding="ascii").strip()


def parse_init_output(stdout: str) -> dict[str, str]:
    """The did/origin/vkey lines `fabcommons init` prints."""
    found: dict[str, str] = {}
    for line in stdout.splitlines():
        match = re.fullmatch(r"(did|origin|vkey)\s+(\S+)\s*", line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


@dataclass
class ServeProcess:
    """One `fabcommons serve` child in its own process group; its output goes to a file."""

    node: NodeDir
    port: int
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    terminated: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def launch(self) -> None:
        """Start serve without waiting for it."""
        with self.log_path.open("ab") as log:
            log.write(f"--- serve on port {self.port} ---\n".encode())
            self.proc = subprocess.Popen(
                [
                    *cli_argv(),
                    "serve",
                    "--data",
                    str(self.node.path),
                    "--port",
                    str(self.port),
                    "--log-level",
                    "info",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=child_env(self.env),
                start_new_session=True,
            )

    def wait_healthy(self) -> None:
        """Wait (bounded) until /healthz answers 200. Raises ServeFailed."""
        assert self.proc is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServeFailed(
                    f"serve exited with {self.proc.returncode} before answering /healthz",
                    self.log_tail(),
                )
            if self._healthy():
                return
            time.sleep(_POLL_INTERVAL_S)
        self.stop()
        raise ServeFailed(f"/healthz did not answer within {STARTUP_TIMEOUT_S} s", self.log_tail())

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _signal(self, signum: int) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signum)

    def kill(self) -> int:
        """SIGKILL the whole process group, as a crash would; return the exit status."""
        assert self.proc is not None
        self._signal(signal.SIGKILL)
        return self.proc.wait(timeout=STOP_TIMEOUT_S)

    def terminate(self) -> None:
        """Send SIGTERM (graceful shutdown) once, without waiting.

        Once only: aiohttp treats a second SIGTERM during shutdown as an abort.
        """
        if self.running and not self.terminated:
            self.terminated = True
            self._signal(signal.SIGTERM)

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT_S; return the exit status."""
        if self.proc is None:
            return None
        self.terminate()
        try:
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        return self.proc.returncode

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


class ServeFailed(AssertionError):
    def __init__(self, message: str, log_tail: str) -> None:
        super().__init__(f"{message}\n--- serve log tail ---\n{log_tail}")
        self.log_tail = log_tail


def start_serves(
    node: NodeDir,
    log_paths: Sequence[Path],
    *,
    port: int | None = None,
    env: dict[str, str] | None = None,
) -> list[ServeProcess]:
    """Start one serve per log path, all at once, on free ports (or `port`, for one).

    A free port that another test took meanwhile is retried with a new one.
    """
    assert port is None or len(log_paths) == 1
    servers = [ServeProcess(node, port or free_port(), path, dict(env or {})) for path in log_paths]
    for server in servers:
        server.launch()
    for i, server in enumerate(servers):
        for attempt in range(_START_ATTEMPTS):
            try:
                server.wait_healthy()
                break
            except ServeFailed as exc:
                retry = port is None and attempt + 1 < _START_ATTEMPTS
                if not (retry and _ADDRESS_IN_USE.search(exc.log_tail)):
                    for other in servers:
                        other.stop()
                    raise
                server = servers[i] = ServeProcess(node, free_port(), server.log_path, server.env)
                server.launch()
    return servers


class Nodes:
    """Makes node data directories with `fabcommons init` and runs `serve` on them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.servers: list[ServeProcess] = []
        self._count = 0

    def init(self, *, name: str = "Integration Coop", database_url: str | None = None) -> NodeDir:
        self._count += 1
        path = self.root / f"node{self._count}"
        args = ["init", "--data", str(path), "--name", name]
        if database_url:
            args += ["--database-url", database_url]
        done = run_cli(*args)
        assert done.returncode == 0, f"init failed: {done.stdout}\n{done.stderr}"
        printed = parse_init_output(done.stdout)
        assert set(printed) == {"did", "origin", "vkey"}, done.stdout
        return NodeDir(path, printed["did"], printed["origin"], printed["vkey"], database_url)

    def serve(
        self, node: NodeDir, *, port: int | None = None, env: dict[str, str] | None = None
    ) -> ServeProcess:
        """Start serve (own process group) and wait until /healthz answers."""
        return self.serve_many(node, 1, port=port, env=env)[0]

    def serve_many(
        self,
        node: NodeDir,
        count: int,
        *,
        port: int | None = None,
        env: dict[str, str] | None = None,
    ) -> list[ServeProcess]:
        """Start `count` serve processes on one data directory at once (other ports)."""
        logs = [
            self.root / f"serve-{node.path.name}-{len(self.servers) + i}.log" for i in range(count)
        ]
        servers = start_serves(node, logs, port=port, env=env)
        self.servers.extend(servers)
        return servers

    def stop_all(self) -> None:
        # SIGTERM them all first, so that their graceful shutdowns overlap.
        for server in self.servers:
            server.terminate()
        for server in self.servers:
            server.stop()


# -- load ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ack:
    """An append the node acknowledged: what we sent and what it answered."""

    record_id: str
    index: int
    leaf: bytes
    status: int
    via: str


@dataclass
class LoadResult:
    acked: list[Ack] = field(default_factory=list)
    # Sent, but the connection failed before an answer: outcome unknown.
    unknown: list[tuple[Envelope, bytes]] = field(default_factory=list)
    connection_errors: list[str] = field(default_factory=list)
    refused: list[NodeClientError] = field(default_factory=list)


def profile_envelope(member: AgentKey, display_name: str) -> Envelope:
    """A member.profile record (the one type a plain member signs about themself)."""
    record = Record(
        type="member.profile",
        author=member.did,
        created=format_time(datetime.now(UTC)),
        body={"display_name": display_name},
    )
    return sign(record, member)


async def post_envelope(
    client: NodeClient, envelope: Envelope, member: AgentKey
) -> tuple[int, dict[str, Any]]:
    """POST the independently computed leaf bytes, signed by the member (RFC 9421)."""
    status, data = await client.signed_post(
        member, "/api/v1/records", leaf_of(envelope), "application/json"
    )
    return status, data


async def append_load(
    urls: Sequence[str],
    member: AgentKey,
    *,
    clients: int,
    per_client: int,
    result: LoadResult | None = None,
) -> LoadResult:
    """`clients` concurrent clients append up to per_client records each.

    Client c sends its n-th record through urls[(c + n) % len(urls)]. A client
    stops at its first connection failure (the node was killed) or refusal.
    Pass `result` to watch the acknowledgements while the load runs.
    """
    result = LoadResult() if result is None else result
    run = uuid.uuid4().hex[:8]

    async def one_client(c: int) -> None:
        sessions = [NodeClient(url, timeout_s=30) for url in urls]
        try:
            for n in range(per_client):
                envelope = profile_envelope(member, f"load {run} client {c} record {n}")
                leaf = leaf_of(envelope)
                via = sessions[(c + n) % len(sessions)]
                try:
                    status, data = await post_envelope(via, envelope, member)
                except NodeClientError as exc:
                    result.refused.append(exc)
                    return
                except (aiohttp.ClientError, TimeoutError) as exc:
                    result.unknown.append((envelope, leaf))
                    result.connection_errors.append(f"{type(exc).__name__}: {exc}")
                    return
                result.acked.append(Ack(data["id"], data["index"], leaf, status, via.base_url))
        finally:
            for session in sessions:
                await session.close()

    await asyncio.gather(*(one_client(c) for c in range(clients)))
    return result


async def gather_bounded(coros: Sequence[Awaitable[T]], limit: int = 8) -> list[T]:
    """asyncio.gather with at most `limit` awaiting at once."""
    semaphore = asyncio.Semaphore(limit)

    async def one(coro: Awaitable[T]) -> T:
        async with semaphore:
            return await coro

    return list(await asyncio.gather(*(one(c) for c in coros)))


async def fetch_all_leaves(client: NodeClient, size: int) -> list[bytes]:
    """Every leaf 0..size-1, through as many requests as the node needs (bounded)."""
    leaves: list[bytes] = []
    for _ in range(size + 1):
        if len(leaves) >= size:
            break
        batch = await client.entries(len(leaves), size)
        assert batch, f"the node served no entries at {len(leaves)} < {size}"
        leaves.extend(batch)
    assert len(leaves) == size, f"fetched {len(leaves)} leaves, expected {size}"
    return leaves

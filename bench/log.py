"""The node's log under load: durable appends, inclusion proofs at scale, memory.

Three figures, each beside a raw limit measured in the same run:

1. Durable appends/s through `POST /api/v1/records` from 64 concurrent
   clients (one admitted member each), on SQLite and, when
   `FABCOMMONS_BENCH_PG_URL` or `FABCOMMONS_TEST_PG_URL` names a server, on
   PostgreSQL (in a fresh database `fabbench_<random>`, dropped at the end).
   The node is a real `fabcommons serve` subprocess; the load comes from a
   separate client process whose requests (signed envelopes *and* RFC 9421
   request signatures) are all computed before the clock starts, so the
   client only writes bytes and reads answers on 64 keep-alive connections.
   Raw limits: (a) an aiohttp server whose handler does one Ed25519 verify,
   driven by the same client with the same requests; (b) batched inserts of
   the same leaves into the node's own tables (Alembic schema) with
   SQLAlchemy, 64 leaves (entries + Merkle hash rows) per transaction.
2. Inclusion proofs/s and p99 at `FABCOMMONS_BENCH_ENTRIES` entries
   (default 1,000,000), concurrency 16, random indexes, then the same paths
   on one connection (latency without queueing). The log is built by
   calling `LogStore.append_batch` directly with real signed `member.profile`
   envelopes of one admitted member (signed in a process pool beforehand),
   so the build time doubles as a direct-store append limit. Raw limits: the
   same server's `/.well-known/fabcommons` (no database) and
   `/fed/v1/checkpoint` (the stored note, then its cosignatures through the
   async driver). Three proofs are checked against the
   signed checkpoint, so the figure is of correct answers.
3. The serve process's VmRSS at that size after the proof load, beside a
   freshly started idle node.

With two or more CPUs the server is pinned to all CPUs but the last and the
client to the last one (`FABCOMMONS_BENCH_PIN=0` turns pinning off); a
PostgreSQL server is not pinned. Besides wall-clock rates, each load reports
the serve process's CPU time per request (from /proc/<pid>/stat), which stays
meaningful when other work shares the machine.

Sizes: `FABCOMMONS_BENCH_ENTRIES` (log size for proofs),
`FABCOMMONS_BENCH_APPENDS` (appends per database, default 32,000),
`FABCOMMONS_BENCH_PROOFS` (proof requests, default 20,000), and
`FABCOMMONS_BENCH_LOAD_SECONDS` (a load stops sending after this many
seconds, default 60, and reports what it completed). `FABCOMMONS_BENCH_KEEP=1`
keeps the temporary directory (databases, server logs). Every server listens
on 127.0.0.1 and is stopped on the way out, errors included. Nothing here
asserts on time.

Duration on the 2-core reference machine, shared with other work (load
average 4-11): the full 1,000,000-entry run with PostgreSQL took 10 minutes
(signing the million entries 1.7 min, append_batch 2.6 min, each load at most
its 60 s); FABCOMMONS_BENCH_ENTRIES=100000 takes about 6 minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import multiprocessing
import os
import pickle
import random
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import nacl.signing
from aiohttp import web
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url

from node.client import NodeClient
from node.config import load_config
from node.httpsig import sign_request_headers
from node.logservice import LogService
from node.setup import init_node
from node.store import LogStore, create_engine, migrate_sync
from node.store.logstore import AppendItem
from node.store.schema import entries, tree_hashes
from protocol.checkpoint import NoteVerifier, open_checkpoint
from protocol.keys import AgentKey, load_key
from protocol.membership import MemberAdmit, MemberProfile
from protocol.merkle import Frontier, leaf_hash, verify_inclusion
from protocol.records import Record, format_time
from protocol.signing import leaf_bytes, record_id, sign

__all__ = ["run"]

REPO = Path(__file__).resolve().parent.parent
COMMAND = "make bench ARGS=log  # = .venv/bin/python -m bench.run log"
CLIENTS = 64
PROOF_CONCURRENCY = 16
RAW_INSERT_BATCH = CLIENTS  # the largest group commit 64 one-request-at-a-time clients can form
BUILD_BATCH = 10_000
APPEND_WARMUP = 4  # requests per connection before the clock starts
PROOF_WARMUP = 50
PROOF_SERIAL_REQUESTS = 5_000
SIGNATURE_WINDOW_S = 300  # node default: signed requests must be used within this
CLIENT_TIME_LIMIT_S = 280  # hard stop of a load client process
SERVER_START_TIMEOUT_S = 120
_CLIENT_CODE = "import sys; import bench.log as m; m._client_main(sys.argv[1])"


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if not value else int(value.replace("_", ""))


def _pg_admin_url() -> str | None:
    return os.environ.get("FABCOMMONS_BENCH_PG_URL") or os.environ.get("FABCOMMONS_TEST_PG_URL")


# ---------------------------------------------------------------- keys and records


def _member_key(index: int) -> AgentKey:
    return AgentKey.from_seed(hashlib.sha256(b"fabbench-member-%d" % index).digest())


def _now_text() -> str:
    return format_time(datetime.now(UTC).replace(microsecond=0))


def _http_request(method: str, host: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _signed_append_requests(args: tuple[int, int, str, str, str]) -> list[bytes]:
    """Pool worker: `count` complete HTTP requests appending member.profile records.

    Each carries a fresh envelope signed by member `index` and an RFC 9421
    signature of the request by the same key, made now (valid for 300 s).
    """
    index, count, host, tag, created = args
    key = _member_key(index)
    url = f"http://{host}/api/v1/records"
    out = []
    for j in range(count):
        record = Record(
            type="member.profile",
            author=key.did,
            created=created,
            body={
                "display_name": f"Bench member {index}, run {tag}, change {j}",
                "contact": f"member-{index}-{j}@bench.example.org",
            },
        )
        leaf = leaf_bytes(sign(record, key))
        headers = sign_request_headers(
            key, "POST", url, leaf, headers={"Content-Type": "application/json"}
        )
        out.append(_http_request("POST", host, "/api/v1/records", headers, leaf))
    return out


def _profile_items(args: tuple[int, int, str]) -> bytes:
    """Pool worker: pickled AppendItems of member 0's member.profile records from `start`."""
    start, count, created = args
    key = _member_key(0)
    items = []
    for i in range(start, start + count):
        body = MemberProfile(display_name=f"Bench member, change {i}", contact=f"m-{i}@bench.org")
        record = Record(
            type=MemberProfile.TYPE, author=key.did, created=created, body=body.to_dict()
        )
        leaf = leaf_bytes(sign(record, key))
        items.append(AppendItem(record=record, body=body, leaf=leaf, record_id=record_id(record)))
    return pickle.dumps(items, protocol=pickle.HIGHEST_PROTOCOL)


def _pool() -> Any:
    # spawn: the parent may hold threads (SQLite, asyncio) that fork would copy.
    return multiprocessing.get_context("spawn").Pool(processes=max(1, min(os.cpu_count() or 1, 2)))


# ---------------------------------------------------------------- processes


def _cpu_split() -> tuple[set[int] | None, set[int] | None]:
    """(server CPUs, client CPUs), or (None, None) when not pinning."""
    if os.environ.get("FABCOMMONS_BENCH_PIN", "1") == "0" or not hasattr(os, "sched_getaffinity"):
        return None, None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    return set(cpus[:-1]), {cpus[-1]}


def _pinning(cpus: set[int] | None) -> Callable[[], None] | None:
    if cpus is None:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _child_env() -> dict[str, str]:
    # FABCOMMONS_<SETTING> variables would override the node's config file.
    env = {k: v for k, v in os.environ.items() if not k.startswith("FABCOMMONS_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


class _Server:
    """A server subprocess on 127.0.0.1, stopped by `stop()` (idempotent)."""

    def __init__(self, args: list[str], log_path: Path, cpus: set[int] | None) -> None:
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                args,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_child_env(),
                preexec_fn=_pinning(cpus),
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, url: str) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready after {SERVER_START_TIMEOUT_S} s: {self.tail()}")

    def tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _serve_args(data_dir: Path, port: int) -> list[str]:
    script = Path(sys.executable).parent / "fabcommons"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "node.cli"]
    return [*command, "serve", "--data", str(data_dir), "--host", "127.0.0.1", "--port", str(port)]


def _raw_server_main(port: int) -> None:
    """Raw limit (a): aiohttp, a POST handler that reads the body, does one verify, answers."""
    key = nacl.signing.SigningKey(hashlib.sha256(b"fabbench-raw").digest())
    message = b"fabcommons-record-v1\n" + b"x" * 300
    signature = key.sign(message).signature
    verify_key = key.verify_key
    counter = [0]

    async def post(request: web.Request) -> web.Response:
        body = await request.read()
        verify_key.verify(message, signature)
        counter[0] += 1
        return web.json_response(
            {"id": "sha256:" + hashlib.sha256(body).hexdigest(), "index": counter[0]}, status=201
        )

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/api/v1/records", post)
    app.router.add_get("/healthz", healthz)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


# ---------------------------------------------------------------- the load client


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its threads, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _drive(
    port: int, per_conn: list[list[bytes]], warm: int, server_pid: int, limit_s: float
) -> dict[str, Any]:
    """Send each connection's requests in order on its own keep-alive connection.

    A connection sends no new request once `limit_s` seconds of the measured
    phase have passed. Also reads the server's CPU time when the clock starts
    and stops.
    """
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in per_conn]
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    warm_statuses: Counter[int] = Counter()
    first_error: list[str] = []
    warmed = 0
    go = asyncio.Event()
    stopped: list[int] = []

    async def exchange(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
    ) -> tuple[int, bytes]:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = -1
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length < 0:
            raise RuntimeError("response without Content-Length")
        return status, await reader.readexactly(length)

    async def worker(k: int) -> None:
        nonlocal warmed
        reader, writer = conns[k]
        requests = per_conn[k]
        for request in requests[:warm]:
            status, body = await exchange(reader, writer, request)
            warm_statuses[status] += 1
            if status >= 300 and not first_error:
                first_error.append(body[:300].decode(errors="replace"))
        warmed += 1
        if warmed == len(per_conn):
            go.set()
        await go.wait()
        clock = time.perf_counter
        deadline = clock() + limit_s
        for request in requests[warm:]:
            started = clock()
            if started > deadline:
                stopped.append(k)
                break
            status, body = await exchange(reader, writer, request)
            latencies.append(clock() - started)
            statuses[status] += 1
            if status >= 300 and not first_error:
                first_error.append(body[:300].decode(errors="replace"))

    tasks = [asyncio.create_task(worker(k)) for k in range(len(per_conn))]
    await go.wait()
    cpu_start = _cpu_seconds(server_pid)
    start = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*tasks), CLIENT_TIME_LIMIT_S)
    elapsed = time.perf_counter() - start
    cpu = _cpu_seconds(server_pid) - cpu_start
    for _, writer in conns:
        writer.close()
    latencies.sort()

    def q(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else 0.0

    return {
        "count": len(latencies),
        "seconds": elapsed,
        "server_cpu_s": cpu,
        "p50_ms": q(0.50) * 1000,
        "p99_ms": q(0.99) * 1000,
        "max_ms": (latencies[-1] if latencies else 0.0) * 1000,
        "statuses": {str(k): v for k, v in statuses.items()},
        "warm_statuses": {str(k): v for k, v in warm_statuses.items()},
        "error": first_error[0] if first_error else "",
        "stopped": bool(stopped),
    }


def _client_main(spec_path: str) -> None:
    """Entry of the client process: read the requests, drive the server, print JSON."""
    with open(spec_path, "rb") as f:
        spec = pickle.load(f)
    result = asyncio.run(
        _drive(spec["port"], spec["per_conn"], spec["warm"], spec["pid"], spec["limit_s"])
    )
    print(json.dumps(result))


@dataclass(frozen=True)
class _Load:
    count: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[str, int]
    error: str
    server_cpu_s: float
    stopped: bool

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms(self) -> float:
        """Server CPU time per request (user + system, all its threads)."""
        return self.server_cpu_s / self.count * 1000 if self.count else 0.0

    @property
    def busy(self) -> float:
        """Server CPU time ÷ wall time: below ~0.9 a CPU-bound server was starved or waiting."""
        return self.server_cpu_s / self.seconds if self.seconds else 0.0


def _run_client(
    ctx: _Context, server: _Server, port: int, per_conn: list[list[bytes]], warm: int
) -> _Load:
    spec = ctx.tmp / f"load-{secrets.token_hex(4)}.pickle"
    with open(spec, "wb") as f:
        spec_data = {
            "port": port,
            "per_conn": per_conn,
            "warm": warm,
            "pid": server.pid,
            "limit_s": ctx.load_limit_s,
        }
        pickle.dump(spec_data, f)
    try:
        done = subprocess.run(
            [sys.executable, "-c", _CLIENT_CODE, str(spec)],
            cwd=REPO,
            env=_child_env(),
            capture_output=True,
            timeout=CLIENT_TIME_LIMIT_S + 60,
            preexec_fn=_pinning(ctx.client_cpus),
            check=False,
        )
    finally:
        spec.unlink(missing_ok=True)
    if done.returncode != 0:
        raise RuntimeError(f"load client failed: {done.stderr.decode(errors='replace')[-2000:]}")
    data = json.loads(done.stdout)
    bad = {k: v for k, v in data["warm_statuses"].items() if not k.startswith("2")}
    if bad:
        data["statuses"] = {**data["statuses"], **{f"warm {k}": v for k, v in bad.items()}}
    return _Load(
        count=data["count"],
        seconds=data["seconds"],
        p50_ms=data["p50_ms"],
        p99_ms=data["p99_ms"],
        max_ms=data["max_ms"],
        statuses=data["statuses"],
        error=data["error"],
        server_cpu_s=data["server_cpu_s"],
        stopped=data["stopped"],
    )


# ---------------------------------------------------------------- databases


def _pg_params(url: str) -> dict[str, Any]:
    u = make_url(url)
    return {
        "host": u.host or "127.0.0.1",
        "port": u.port or 5432,
        "user": u.username,
        "password": u.password,
        "database": u.database,
    }


def _pg_with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _pg_create(admin_url: str) -> str:
    name = "fabbench_" + secrets.token_hex(6)

    async def go() -> None:
        conn = await asyncpg.connect(**_pg_params(admin_url))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(go())
    return name


def _pg_drop(admin_url: str, name: str) -> None:
    async def go() -> None:
        conn = await asyncpg.connect(**_pg_params(admin_url))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(go())


def _pg_version(admin_url: str) -> str:
    async def go() -> str:
        conn = await asyncpg.connect(**_pg_params(admin_url))
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()

    return asyncio.run(go())


def _checkpoints_after(url: str, size: int) -> int:
    """Checkpoints committed past `size`: one per group-commit batch."""

    async def go() -> int:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                result = await conn.execute(
                    text("SELECT count(*) FROM checkpoints WHERE size > :s"), {"s": size}
                )
                return int(result.scalar_one())
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _insert_rate(url: str, leaves: Sequence[bytes], batch: int) -> float:
    """Raw limit (b): leaves/s of batched entry + tree-hash inserts into the node's schema."""
    migrate_sync(url)
    did = _member_key(10_000).did
    frontier = Frontier()
    batches: list[tuple[list[dict[str, object]], list[dict[str, object]]]] = []
    for start in range(0, len(leaves), batch):
        entry_rows: list[dict[str, object]] = []
        hash_rows: list[dict[str, object]] = []
        for leaf in leaves[start : start + batch]:
            index = frontier.size
            for level, sub, h in frontier.append(leaf_hash(leaf)):
                hash_rows.append({"log_did": did, "level": level, "idx": sub, "hash": h})
            entry_rows.append(
                {
                    "log_did": did,
                    "idx": index,
                    "leaf": leaf,
                    "record_id": "sha256:" + hashlib.sha256(leaf).hexdigest(),
                    "type": "member.profile",
                    "author": did,
                    "created": "2026-01-01T00:00:00Z",
                }
            )
        batches.append((entry_rows, hash_rows))

    async def go() -> float:
        engine = create_engine(url)
        try:
            started = time.perf_counter()
            for entry_rows, hash_rows in batches:
                async with engine.begin() as conn:
                    await conn.execute(insert(entries), entry_rows)
                    await conn.execute(insert(tree_hashes), hash_rows)
            return time.perf_counter() - started
        finally:
            await engine.dispose()

    return len(leaves) / asyncio.run(go())


# ---------------------------------------------------------------- node set-up


def _init(data_dir: Path, port: int, database_url: str | None) -> str:
    init_node(data_dir, name="bench", database_url=database_url, port=port)
    return (data_dir / "admin.token").read_text().strip()


def _admit_members(base: str, token: str, count: int) -> None:
    for i in range(count):
        request = urllib.request.Request(
            base + "/api/v1/admin/members",
            data=json.dumps({"did": _member_key(i).did}).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            if response.status != 201:
                raise RuntimeError(f"admitting member {i}: HTTP {response.status}")


def _log_size(base: str) -> int:
    with urllib.request.urlopen(base + "/healthz", timeout=10) as response:
        return int(json.loads(response.read())["log_size"])


def _append_requests(host: str, per_member: int) -> tuple[list[list[bytes]], float]:
    """Pre-signed append requests, one list per member; and when they were signed."""
    tag = secrets.token_hex(4)
    created = _now_text()
    signed_at = time.monotonic()
    with _pool() as pool:
        per_conn = pool.map(
            _signed_append_requests, [(i, per_member, host, tag, created) for i in range(CLIENTS)]
        )
    return per_conn, signed_at


def _check_window(signed_at: float, what: str) -> None:
    age = time.monotonic() - signed_at
    if age > SIGNATURE_WINDOW_S - 30:
        raise RuntimeError(
            f"{what}: requests were signed {age:.0f} s ago, too close to the node's "
            f"{SIGNATURE_WINDOW_S} s window; lower FABCOMMONS_BENCH_APPENDS"
        )


# ---------------------------------------------------------------- the three parts


@dataclass
class _AppendFigures:
    db: str
    load: _Load
    batches: int
    raw_insert: float


@dataclass
class _Context:
    tmp: Path
    server_cpus: set[int] | None
    client_cpus: set[int] | None
    appends: int
    stack: contextlib.ExitStack
    timings: dict[str, float]
    loadavg: list[float]
    load_limit_s: float


def _start(ctx: _Context, args: list[str], name: str) -> _Server:
    server = _Server(args, ctx.tmp / f"{name}.log", ctx.server_cpus)
    ctx.stack.callback(server.stop)
    return server


@contextlib.contextmanager
def _phase(ctx: _Context, name: str, bench: str = "log") -> Iterator[None]:
    print(f"bench.{bench}: {name} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    try:
        yield
    finally:
        ctx.timings[name] = time.perf_counter() - started


def _append_bench(
    ctx: _Context, db: str, database_url: str | None, raw_url: str
) -> tuple[_AppendFigures, _Load | None, float]:
    """Part 1 on one database; runs raw limit (a) too when db is SQLite."""
    data_dir = ctx.tmp / f"append-{db}"
    port = _free_port()
    host = f"127.0.0.1:{port}"
    base = f"http://{host}"
    token = _init(data_dir, port, database_url)
    node = _start(ctx, _serve_args(data_dir, port), f"serve-append-{db}")
    node.wait_ready(base + "/healthz")
    time.sleep(1.0)
    idle_rss = node.rss_mib()
    _admit_members(base, token, CLIENTS)
    per_member = APPEND_WARMUP + -(-ctx.appends // CLIENTS)
    per_conn, signed_at = _append_requests(host, per_member)
    leaves = [r.split(b"\r\n\r\n", 1)[1] for conn in per_conn for r in conn]

    raw_load: _Load | None = None
    if db == "SQLite":
        raw_port = _free_port()
        raw = _start(
            ctx,
            [sys.executable, "-c", f"import bench.log as m; m._raw_server_main({raw_port})"],
            "raw-server",
        )
        raw.wait_ready(f"http://127.0.0.1:{raw_port}/healthz")
        raw_load = _run_client(ctx, raw, raw_port, per_conn, APPEND_WARMUP)
        raw.stop()

    _check_window(signed_at, db)
    size_before = _log_size(base)
    load = _run_client(ctx, node, port, per_conn, APPEND_WARMUP)
    node.stop()
    node_url = database_url or f"sqlite+aiosqlite:///{data_dir / 'node.db'}"
    # Warm-up appends are committed too; count the batches of the whole run.
    batches = _checkpoints_after(node_url, size_before)
    raw_insert = _insert_rate(raw_url, leaves, RAW_INSERT_BATCH)
    return _AppendFigures(db, load, batches, raw_insert), raw_load, idle_rss


@dataclass
class _ProofFigures:
    entries: int
    generate_s: float
    append_s: float
    raw_insert: float
    proofs: _Load
    well_known: _Load
    checkpoint: _Load
    proofs_serial: _Load
    well_known_serial: _Load
    rss_start: float
    rss_after: float
    db_mib: float


def _build_log(data_dir: Path, blobs: Sequence[bytes]) -> float:
    """Admit member 0 through the LogService, then append every chunk with append_batch."""
    config = load_config(data_dir, env={})
    key = load_key(config.key_path)

    async def go() -> float:
        engine = create_engine(config.database_url)
        store = LogStore(engine)
        log = LogService(store, key, config.origin, batch_max=config.append_batch_max)
        await log.start()
        try:
            admit = MemberAdmit(member=_member_key(0).did).to_dict()
            await log.append_own(MemberAdmit.TYPE, admit, _now_text())
            seconds = 0.0
            for blob in blobs:
                items = pickle.loads(blob)
                started = time.perf_counter()
                outcomes, _ = await store.append_batch(log.did, items, log.sign)
                seconds += time.perf_counter() - started
                if not all(o.created for o in outcomes):
                    refused = next(o for o in outcomes if not o.created)
                    raise RuntimeError(f"append_batch refused an entry: {refused}")
            return seconds
        finally:
            await log.stop()
            await engine.dispose()

    return asyncio.run(go())


def _check_proofs(base: str, size: int, count: int) -> None:
    """Verify a few served inclusion proofs against the signed checkpoint."""

    async def go() -> None:
        async with NodeClient(base) as client:
            verifier = NoteVerifier.from_vkey((await client.well_known()).vkey)
            signed = open_checkpoint(await client.checkpoint(), verifier)
            if signed.checkpoint.size != size:
                raise RuntimeError(f"checkpoint size {signed.checkpoint.size}, expected {size}")
            for index in random.Random(7).sample(range(size), count):
                proof = await client.inclusion_proof(index, size)
                (leaf,) = await client.entries(index, index + 1)
                verify_inclusion(leaf_hash(leaf), index, size, proof, signed.checkpoint.root_hash)

    asyncio.run(go())


def _get_requests(host: str, paths: Sequence[str], connections: int) -> list[list[bytes]]:
    per_conn: list[list[bytes]] = [[] for _ in range(connections)]
    for i, path in enumerate(paths):
        per_conn[i % connections].append(_http_request("GET", host, path, {}, b""))
    return per_conn


def _proof_bench(ctx: _Context, entries: int, proofs: int) -> _ProofFigures:
    data_dir = ctx.tmp / "proofs"
    port = _free_port()
    host = f"127.0.0.1:{port}"
    base = f"http://{host}"
    _init(data_dir, port, None)

    with _phase(ctx, f"sign {entries:,} entries"):
        created = _now_text()
        chunks = [
            (s, min(BUILD_BATCH, entries - s), created) for s in range(0, entries, BUILD_BATCH)
        ]
        started = time.perf_counter()
        with _pool() as pool:
            blobs = pool.map(_profile_items, chunks, chunksize=1)
        generate_s = time.perf_counter() - started
    with _phase(ctx, "append_batch"):
        append_s = _build_log(data_dir, blobs)
    del blobs
    with _phase(ctx, "raw inserts at the build batch size"):
        sample = min(entries, 100_000)
        raw_leaves = [
            b'{"record":{"author":"x","body":{"display_name":"raw %d"}},"sig":"%s"}'
            % (i, b"s" * 86)
            for i in range(sample)
        ]
        raw_insert = _insert_rate(
            f"sqlite+aiosqlite:///{ctx.tmp / 'raw-build.db'}", raw_leaves, BUILD_BATCH
        )
    db_mib = sum(p.stat().st_size for p in data_dir.glob("node.db*")) / 2**20

    size = entries + 1  # member.admit, then the profiles
    node = _start(ctx, _serve_args(data_dir, port), "serve-proofs")
    with _phase(ctx, "serve start at full size"):
        node.wait_ready(base + "/healthz")
    rss_start = node.rss_mib()
    rng = random.Random(20261126)
    warm = PROOF_WARMUP * PROOF_CONCURRENCY
    paths = [
        f"/fed/v1/proof/inclusion?index={rng.randrange(size)}&tree_size={size}"
        for _ in range(proofs + warm)
    ]
    with _phase(ctx, "inclusion proofs"):
        proof_load = _run_client(
            ctx, node, port, _get_requests(host, paths, PROOF_CONCURRENCY), PROOF_WARMUP
        )
    trivial = proofs // 2 + warm
    with _phase(ctx, "trivial endpoints"):
        well_known = _run_client(
            ctx,
            node,
            port,
            _get_requests(host, ["/.well-known/fabcommons"] * trivial, PROOF_CONCURRENCY),
            PROOF_WARMUP,
        )
        checkpoint = _run_client(
            ctx,
            node,
            port,
            _get_requests(host, ["/fed/v1/checkpoint"] * trivial, PROOF_CONCURRENCY),
            PROOF_WARMUP,
        )
    # One connection: each request's own latency, without waiting behind 15 others.
    serial = min(proofs, PROOF_SERIAL_REQUESTS)
    with _phase(ctx, "inclusion proofs on one connection"):
        proofs_serial = _run_client(
            ctx, node, port, _get_requests(host, paths[:serial], 1), PROOF_WARMUP
        )
        well_known_serial = _run_client(
            ctx,
            node,
            port,
            _get_requests(host, ["/.well-known/fabcommons"] * serial, 1),
            PROOF_WARMUP,
        )
    rss_after = node.rss_mib()
    _check_proofs(base, size, 3)
    node.stop()
    return _ProofFigures(
        entries=size,
        generate_s=generate_s,
        append_s=append_s,
        raw_insert=raw_insert,
        proofs=proof_load,
        well_known=well_known,
        checkpoint=checkpoint,
        proofs_serial=proofs_serial,
        well_known_serial=well_known_serial,
        rss_start=rss_start,
        rss_after=rss_after,
        db_mib=db_mib,
    )


# ---------------------------------------------------------------- report


def _rate(x: float) -> str:
    return f"{x:,.0f}/s"


def _statuses(load: _Load) -> str:
    return ", ".join(f"{k}×{v}" for k, v in sorted(load.statuses.items()))


def _errors(load: _Load, ok: int) -> str:
    wrong = {k: v for k, v in load.statuses.items() if k != str(ok)}
    if not wrong:
        return ""
    return f" **answers: {_statuses(load)}; first: {load.error[:160]!r}**"


def _load_text(load: _Load, ok: int, digits: int = 1) -> str:
    stopped = f" ({load.count:,} requests: stopped at the time limit)" if load.stopped else ""
    return (
        f"**{_rate(load.rate)}**, p50 {load.p50_ms:.{digits}f} ms, "
        f"p99 **{load.p99_ms:.{digits}f} ms**, max {load.max_ms:.0f} ms"
        + stopped
        + _errors(load, ok)
    )


def _cpu_text(load: _Load) -> str:
    return (
        f"{load.cpu_ms:.2f} ms (server busy {load.busy:.0%}; "
        f"{_rate(1000 / load.cpu_ms) if load.cpu_ms else '∞'} per core)"
    )


def _command() -> str:
    """The command that reproduces this run: the benchmark's variables as set, then make."""
    names = sorted(n for n in os.environ if n.startswith("FABCOMMONS_BENCH_"))
    if "FABCOMMONS_BENCH_PG_URL" not in names and "FABCOMMONS_TEST_PG_URL" in os.environ:
        names.append("FABCOMMONS_TEST_PG_URL")
    settings = " ".join(f"{n}={os.environ[n]}" for n in names)
    return f"{settings} {COMMAND}" if settings else COMMAND


def _sections(
    appends: list[_AppendFigures],
    raw_a: _Load,
    pg_note: str,
    proofs: _ProofFigures,
    idle_rss: float,
    ctx: _Context,
) -> str:
    rows: list[tuple[str, str, str, str]] = []
    for f in appends:
        load = f.load
        mean_batch = (load.count + CLIENTS * APPEND_WARMUP) / f.batches if f.batches else 0.0
        rows += [
            (
                f"durable appends/s, `POST /api/v1/records`, {f.db}, {CLIENTS} signing clients "
                f"({load.count:,} appends)",
                _load_text(load, 201) + f"; mean group commit {mean_batch:.1f}",
                "(a) aiohttp + 1 Ed25519 verify, same client and requests: "
                + _load_text(raw_a, 201),
                f"{load.rate / raw_a.rate:.2f}",
            ),
            (
                f"the same appends/s, {f.db}",
                _rate(load.rate),
                f"(b) {f.db} batched inserts, {RAW_INSERT_BATCH} leaves + their hash rows "
                f"per transaction: {_rate(f.raw_insert)}",
                f"{load.rate / f.raw_insert:.2f}",
            ),
            (
                f"node CPU per append, {f.db}",
                _cpu_text(load),
                f"(a) per request: {_cpu_text(raw_a)}",
                f"{raw_a.cpu_ms / load.cpu_ms:.2f}" if load.cpu_ms else "—",
            ),
        ]
    p = proofs
    build_rate = (p.entries - 1) / p.append_s
    rows.append(
        (
            f"direct `LogStore.append_batch` into SQLite, {p.entries - 1:,} entries in batches "
            f"of {BUILD_BATCH:,}",
            f"{p.append_s:.1f} s = **{_rate(build_rate)}** (signing them beforehand: "
            f"{p.generate_s:.1f} s in {min(os.cpu_count() or 1, 2)} processes); "
            f"database {p.db_mib:,.0f} MiB",
            f"SQLite batched inserts of {BUILD_BATCH:,} leaves + hash rows per transaction: "
            f"{_rate(p.raw_insert)}",
            f"{build_rate / p.raw_insert:.2f}",
        )
    )
    pr = p.proofs
    rows += [
        (
            f"inclusion proofs/s at {p.entries:,} entries, `GET /fed/v1/proof/inclusion`, "
            f"random index, concurrency {PROOF_CONCURRENCY} ({pr.count:,} requests)",
            _load_text(pr, 200, 2),
            "same server, `/.well-known/fabcommons` (no database): "
            + _load_text(p.well_known, 200, 2),
            f"{pr.rate / p.well_known.rate:.2f}",
        ),
        (
            f"inclusion proofs, the same paths on one connection ({p.proofs_serial.count:,} "
            "requests): latency without queueing",
            _load_text(p.proofs_serial, 200, 2),
            "same server, `/.well-known/fabcommons` on one connection: "
            + _load_text(p.well_known_serial, 200, 2),
            f"{p.proofs_serial.rate / p.well_known_serial.rate:.2f}",
        ),
        (
            "the same proofs/s",
            _rate(pr.rate),
            "same server, `/fed/v1/checkpoint` (note, then cosignatures): "
            + _load_text(p.checkpoint, 200, 2),
            f"{pr.rate / p.checkpoint.rate:.2f}",
        ),
        (
            "node CPU per inclusion proof",
            _cpu_text(pr),
            f"well-known: {_cpu_text(p.well_known)}; checkpoint: {_cpu_text(p.checkpoint)}",
            f"{p.well_known.cpu_ms / pr.cpu_ms:.2f}, {p.checkpoint.cpu_ms / pr.cpu_ms:.2f}"
            if pr.cpu_ms
            else "—",
        ),
        (
            f"serve RSS at {p.entries:,} entries after the proof load",
            f"{p.rss_after:,.0f} MiB (at start {p.rss_start:,.0f} MiB)",
            f"freshly started idle node (empty SQLite log): {idle_rss:,.0f} MiB",
            f"{p.rss_after / idle_rss:.2f}",
        ),
    ]
    server_cpus = "unpinned" if ctx.server_cpus is None else f"CPU {sorted(ctx.server_cpus)}"
    client_cpus = "unpinned" if ctx.client_cpus is None else f"CPU {sorted(ctx.client_cpus)}"
    phases = ", ".join(f"{k} {v:.0f} s" for k, v in ctx.timings.items())
    loads = ", ".join(f"{x:.1f}" for x in ctx.loadavg)
    lines = [
        "## Node log: durable appends, inclusion proofs, memory",
        "",
        "| figure | value | raw limit measured in the same run | ratio |",
        "| --- | --- | --- | --- |",
        *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows),
        "",
        "Targets stated in the issue: ≥ 2,000 appends/s with p99 < 50 ms; inclusion-proof "
        "p99 < 5 ms at 10^6 entries (at concurrency 16 the latency is mostly queueing: 16 "
        "requests share one event loop, and the no-database endpoint shows that floor). "
        "Printed, never asserted. ratio = the figure's rate ÷ the "
        "limit's rate (for CPU rows: the limit's CPU per request ÷ the figure's).",
        "Appends are member.profile envelopes of about 330 bytes (leaves), each a fresh record "
        "by one of 64 admitted members; every request carries an RFC 9421 signature made "
        "before the clock started, and an answer counts once the node has committed it "
        "(SQLite WAL with synchronous=FULL; PostgreSQL's default commit). "
        f"{APPEND_WARMUP} requests per connection warm up first. Mean group commit = "
        "appends ÷ checkpoints committed. The client is one asyncio process writing "
        "pre-built requests on keep-alive connections; raw limit (a) shows what it and "
        "aiohttp can reach at all. Node CPU = user + system time of the serve process "
        "(all threads, not PostgreSQL's) between the clock's start and stop, per request; "
        "busy = that ÷ wall time. CPU per request is the steadier figure when the machine "
        "is shared.",
        f"`fabcommons serve` runs with its default settings (log level info) on {server_cpus}; "
        f"the client on {client_cpus}. {pg_note} Load average (1 min) at start and end: "
        f"{loads}.",
        f"Phases: {phases}.",
        "",
        f"Command: `{_command()}`",
        "",
    ]
    return "\n".join(lines)


def _show_server_logs(tmp: Path) -> Callable[..., bool]:
    """An exit callback that prints the tail of every server log when the run fails."""

    def show(exc_type: type[BaseException] | None, *_: object) -> bool:
        if exc_type is not None:
            for log in sorted(tmp.glob("*.log")):
                tail = log.read_text(errors="replace")[-3000:]
                print(f"--- {log.name} (tail)\n{tail}", file=sys.stderr)
        return False

    return show


def run() -> str:
    """Measure the node's log under load and return the figures as a Markdown section."""
    entries = _env_int("FABCOMMONS_BENCH_ENTRIES", 1_000_000)
    appends = _env_int("FABCOMMONS_BENCH_APPENDS", 32_000)
    proofs = _env_int("FABCOMMONS_BENCH_PROOFS", 20_000)
    limit_s = float(_env_int("FABCOMMONS_BENCH_LOAD_SECONDS", 60))
    server_cpus, client_cpus = _cpu_split()
    admin_url = _pg_admin_url()
    tmp = Path(tempfile.mkdtemp(prefix="fabbench-log-"))
    with contextlib.ExitStack() as stack:
        if os.environ.get("FABCOMMONS_BENCH_KEEP") != "1":
            stack.callback(shutil.rmtree, tmp, True)
        stack.push(_show_server_logs(tmp))
        ctx = _Context(
            tmp, server_cpus, client_cpus, appends, stack, {}, [os.getloadavg()[0]], limit_s
        )
        figures: list[_AppendFigures] = []
        with _phase(ctx, "appends on SQLite"):
            sqlite_fig, raw_a, idle_rss = _append_bench(
                ctx, "SQLite", None, f"sqlite+aiosqlite:///{tmp / 'raw-append.db'}"
            )
        figures.append(sqlite_fig)
        assert raw_a is not None
        if admin_url:
            node_db = _pg_create(admin_url)
            stack.callback(_pg_drop, admin_url, node_db)
            raw_db = _pg_create(admin_url)
            stack.callback(_pg_drop, admin_url, raw_db)
            with _phase(ctx, "appends on PostgreSQL"):
                pg_fig, _, _ = _append_bench(
                    ctx,
                    "PostgreSQL",
                    _pg_with_database(admin_url, node_db),
                    _pg_with_database(admin_url, raw_db),
                )
            figures.append(pg_fig)
            pg_note = (
                f"PostgreSQL {_pg_version(admin_url)} on this machine, in a fresh database "
                "dropped afterwards."
            )
        else:
            pg_note = (
                "PostgreSQL not measured: set FABCOMMONS_BENCH_PG_URL or FABCOMMONS_TEST_PG_URL."
            )
        proof_figures = _proof_bench(ctx, entries, proofs)
        ctx.loadavg.append(os.getloadavg()[0])
        return _sections(figures, raw_a, pg_note, proof_figures, idle_rss, ctx)
    raise AssertionError("unreachable")


if __name__ == "__main__":
    print(run())

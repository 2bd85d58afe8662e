"""A follower catching up with a 100,000-entry log over loopback, beside the raw pipeline.

The source is a real `fabcommons serve` on 127.0.0.1 whose log is built
directly with `LogStore.append_batch`: a few `member.admit` records by the
node key, then distinct `member.profile` records by those members (signed
in a process pool beforehand). Each follower is a fresh `fabcommons serve`
with its own `sync_workers` and `sync_batch`; the clock starts just before
`POST /api/v1/admin/peers` and stops when `GET /api/v1/peers` (polled every
50 ms) shows `verified_size` equal to the source's size.

Raw limit, measured in the same run and the same process as this module,
on one core, over a sample of the very same leaves: per leaf
`orjson.loads` (parse), `orjson.dumps(record, OPT_SORT_KEYS)` (canonical
form; equal to RFC 8785 for these ASCII records), SHA-256 of it (the record
id), base64url-decoding the signature and PyNaCl `VerifyKey.verify` of
`prefix ‖ JCS(record)` (keys cached per author). Beside it: the same with
`rfc8785.dumps`, `protocol.signing.open_leaf` and `protocol.replay.LogReplay.add`
(open_leaf + authority + Merkle frontier), all single-core. Each follower's
ratio is taken against the faster of the main raw timing and one over
5,000 of the leaves right before that run (a shared machine's speed
drifts between phases, and a slow moment must not flatter the follower);
its CPU ceiling (cores × raw CPU per leaf ÷ the follower's
and source's CPU per entry) tells a lack of overlap from a lack of cores.

Bytes per entry: the TCP payload the follower received from the source
(HTTP headers, chunk framing, NDJSON bodies, proofs, checkpoints), read with
`ss -ti` from the kernel's per-socket `bytes_received` counters of the
follower's connections to the source port when the log is caught up (the
connections are still in aiohttp's keep-alive pool then); beside it the
NDJSON body alone (leaf bytes plus one newline each), computed from the leaves.
CPU per entry: user + system time of the follower's serve process and its
verification workers, and of the source, from /proc.

Sizes and settings: `FABCOMMONS_BENCH_SYNC_ENTRIES` (log size, default
100000), `FABCOMMONS_BENCH_SYNC_RAW` (leaves in the raw-limit sample, default
20000), `FABCOMMONS_BENCH_SYNC_SETTINGS` (follower settings as
`<workers>x<batch>`, comma-separated; default `0x4000,2x1000,2x4000`: the
node's defaults are 2 workers and batches of 4000) and
`FABCOMMONS_BENCH_SYNC_SOURCE_MAX` (the source's `max_entries_per_request`,
default the node's own, 1000: a follower's batch larger than that is
assembled from several answers, specs/03-federation.md §3.5) and
`FABCOMMONS_BENCH_SYNC_RUNS` (fresh followers per setting, default 2: the
fastest counts, as the raw limit is the fastest of its timings, and against
the fastest raw timing taken before any of them; the others are printed).
Every process is stopped on the way out, errors included, and the
temporary directory removed (`FABCOMMONS_BENCH_KEEP=1` keeps it, with the
servers' logs). Nothing here asserts on time.

Duration on the 2-core reference machine (bench/REPORT.md): about 3 to 4
minutes with the defaults (signing and storing the log 20 to 70 s, the raw
limits about 30 s, each of the six follower runs 8 to 20 s); about 6 minutes
when other work shares the machine.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import gc
import hashlib
import json
import multiprocessing
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl
import nacl.signing
import orjson
import rfc8785

from node.config import load_config
from node.logservice import LogService
from node.setup import init_node
from node.store import LogStore, create_engine
from node.store.logstore import AppendItem
from protocol.did import public_key_from_did
from protocol.keys import AgentKey, load_key
from protocol.membership import MemberAdmit, MemberProfile
from protocol.records import Record
from protocol.replay import LogReplay
from protocol.signing import SIGNING_PREFIX, leaf_bytes, open_leaf, record_id, sign

__all__ = ["run"]

REPO = Path(__file__).resolve().parent.parent
COMMAND = "make bench ARGS=sync  # = .venv/bin/python -m bench.run sync"
MEMBERS = 4
BUILD_CHUNK = 5_000
CREATED = "2026-11-26T12:00:00Z"
POLL_S = 0.05
REPEATS = 3
NEAR_SAMPLE = 5_000  # leaves timed again right before each follower run
DEFAULT_SETTINGS = "0x4000,2x1000,2x4000"
SERVER_START_TIMEOUT_S = 120
CATCH_UP_TIMEOUT_S = 900


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if not value else int(value.replace("_", ""))


def _settings() -> list[tuple[int, int]]:
    spec = os.environ.get("FABCOMMONS_BENCH_SYNC_SETTINGS") or DEFAULT_SETTINGS
    out = []
    for part in spec.split(","):
        workers, _, batch = part.strip().partition("x")
        out.append((int(workers), int(batch)))
    return out


# ---------------------------------------------------------------- building the source log


def _member_key(index: int) -> AgentKey:
    return AgentKey.from_seed(hashlib.sha256(b"fabbench-sync-member-%d" % index).digest())


def _profile_items(args: tuple[int, int]) -> list[AppendItem]:
    """Pool worker: signed member.profile items start..start+count-1, round-robin over members."""
    start, count = args
    keys = [_member_key(m) for m in range(MEMBERS)]
    items = []
    for i in range(start, start + count):
        key = keys[i % MEMBERS]
        body = MemberProfile(
            display_name=f"Sync bench member {i % MEMBERS}, change {i}",
            contact=f"member-{i % MEMBERS}-{i}@sync.bench.example.org",
        )
        record = Record(
            type=MemberProfile.TYPE, author=key.did, created=CREATED, body=body.to_dict()
        )
        leaf = leaf_bytes(sign(record, key))
        items.append(AppendItem(record=record, body=body, leaf=leaf, record_id=record_id(record)))
    return items


def _build_source(data_dir: Path, entries: int) -> tuple[list[bytes], float, float]:
    """Fill the source's log with `entries` entries; return the leaves and (sign, store) seconds."""
    config = load_config(data_dir, env={})
    node_key = load_key(config.key_path)
    admits = []
    for m in range(MEMBERS):
        body = MemberAdmit(member=_member_key(m).did)
        record = Record(
            type=MemberAdmit.TYPE, author=node_key.did, created=CREATED, body=body.to_dict()
        )
        leaf = leaf_bytes(sign(record, node_key))
        admits.append(AppendItem(record=record, body=body, leaf=leaf, record_id=record_id(record)))
    profiles = entries - MEMBERS
    chunks = [(s, min(BUILD_CHUNK, profiles - s)) for s in range(0, profiles, BUILD_CHUNK)]
    started = time.perf_counter()
    # spawn: fork would copy this process's threads (asyncio, SQLite) into the workers.
    workers = max(1, min(os.cpu_count() or 1, 2))
    with multiprocessing.get_context("spawn").Pool(processes=workers) as pool:
        batches: list[list[AppendItem]] = [admits, *pool.map(_profile_items, chunks, chunksize=1)]
    sign_s = time.perf_counter() - started

    async def store_all() -> float:
        engine = create_engine(config.database_url)
        store = LogStore(engine)
        log = LogService(store, node_key, config.origin, batch_max=config.append_batch_max)
        await log.start()
        try:
            began = time.perf_counter()
            for items in batches:
                outcomes, _ = await store.append_batch(log.did, items, log.sign)
                refused = [o for o in outcomes if not o.created]
                if refused:
                    raise RuntimeError(f"append_batch refused an entry: {refused[0]}")
            return time.perf_counter() - began
        finally:
            await log.stop()
            await engine.dispose()

    store_s = asyncio.run(store_all())
    leaves = [item.leaf for items in batches for item in items]
    return leaves, sign_s, store_s


# ---------------------------------------------------------------- the raw limit


def _best_of(repeats: int, fn: Callable[[], object]) -> tuple[float, float]:
    """(wall, CPU) seconds of the fastest of `repeats` calls, GC paused as timeit does."""
    best = (float("inf"), float("inf"))
    for _ in range(repeats):
        gc.disable()
        try:
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            timing = (time.perf_counter() - wall, time.process_time() - cpu)
            best = min(best, timing)
        finally:
            gc.enable()
    return best


@dataclass(frozen=True)
class _Rate:
    """A single-core rate: leaves per wall second, and CPU microseconds per leaf."""

    per_s: float
    cpu_us: float

    @classmethod
    def of(cls, count: int, timing: tuple[float, float]) -> _Rate:
        wall, cpu = timing
        return cls(count / wall, cpu / count * 1e6)


@dataclass(frozen=True)
class _Raw:
    sample: int
    step: int
    raw: _Rate
    raw_rfc8785: _Rate
    open_leaf: _Rate
    replay: _Rate


def _raw_pipeline(leaves: Sequence[bytes], canonical: Callable[[Any], bytes]) -> Callable[[], None]:
    """The raw single-core pipeline over leaves, to time: parse, canonicalise, hash, verify."""
    authors = {orjson.loads(leaf)["record"]["author"] for leaf in leaves}
    verify_keys = {a: nacl.signing.VerifyKey(public_key_from_did(a)) for a in authors}
    sha256 = hashlib.sha256
    b64decode = base64.urlsafe_b64decode

    def pipeline() -> None:
        for leaf in leaves:
            envelope = orjson.loads(leaf)
            record = envelope["record"]
            jcs = canonical(record)
            "sha256:" + sha256(jcs).hexdigest()
            signature = b64decode(envelope["sig"] + "==")
            verify_keys[record["author"]].verify(SIGNING_PREFIX + jcs, signature)

    return pipeline


def _orjson_sorted(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _raw_rate(leaves: Sequence[bytes]) -> _Rate:
    """The raw pipeline's rate over `leaves`: best of REPEATS after a warm-up."""
    _raw_pipeline(leaves[:200], _orjson_sorted)()
    return _Rate.of(len(leaves), _best_of(REPEATS, _raw_pipeline(leaves, _orjson_sorted)))


def _sample(leaves: Sequence[bytes], count: int) -> tuple[list[bytes], int]:
    """Every step-th leaf of the log, admits included, so the sample spans the whole log."""
    step = max(1, len(leaves) // count)
    return list(leaves[::step])[:count], step


def _raw_limits(leaves: Sequence[bytes], sample: int) -> _Raw:
    chosen, step = _sample(leaves, sample)

    def opened() -> None:
        for leaf in chosen:
            open_leaf(leaf)

    # The replay must start at the log's first entry (the admits), so it runs
    # over a prefix of the log of the sample's size rather than over the sample.
    prefix = list(leaves[: len(chosen)])
    first = orjson.loads(leaves[0])["record"]["author"]

    def replay() -> None:
        state = LogReplay.start(first)
        for leaf in prefix:
            state.add(leaf)

    with_rfc8785 = _raw_pipeline(chosen, rfc8785.dumps)
    with_rfc8785()  # warm-up
    for leaf in chosen[:200]:
        open_leaf(leaf)
    n = len(chosen)
    return _Raw(
        sample=n,
        step=step,
        raw=_raw_rate(chosen),
        raw_rfc8785=_Rate.of(n, _best_of(1, with_rfc8785)),
        open_leaf=_Rate.of(n, _best_of(REPEATS, opened)),
        replay=_Rate.of(n, _best_of(1, replay)),
    )


# ---------------------------------------------------------------- processes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _child_env() -> dict[str, str]:
    # FABCOMMONS_<SETTING> variables would override the nodes' config files.
    env = {k: v for k, v in os.environ.items() if not k.startswith("FABCOMMONS_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc/<pid>/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


class _Server:
    """A `fabcommons serve` subprocess on 127.0.0.1; `stop()` is idempotent."""

    def __init__(self, data_dir: Path, port: int, log_path: Path) -> None:
        self.log_path = log_path
        self.base = f"http://127.0.0.1:{port}"
        script = Path(sys.executable).parent / "fabcommons"
        command = [str(script)] if script.exists() else [sys.executable, "-m", "node.cli"]
        args = [*command, "serve", "--data", str(data_dir), "--host", "127.0.0.1"]
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [*args, "--port", str(port)],
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_child_env(),
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.tail()}")
            with (
                contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError),
                urllib.request.urlopen(self.base + "/healthz", timeout=2) as response,
            ):
                if response.status == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"server not ready after {SERVER_START_TIMEOUT_S} s: {self.tail()}")

    def tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def cpu_with_children(self) -> float:
        return _cpu_seconds(self.pid) + sum(_cpu_seconds(c) for c in _children(self.pid))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _init(data_dir: Path, name: str, port: int, extra: dict[str, int]) -> str:
    init_node(data_dir, name=name, port=port)
    if extra:
        with open(data_dir / "config.yaml", "a", encoding="utf-8") as f:
            f.writelines(f"{k}: {v}\n" for k, v in extra.items())
    return (data_dir / "admin.token").read_text().strip()


def _received_from(port: int) -> int | None:
    """Sum of `bytes_received` over established TCP sockets whose peer is 127.0.0.1:port."""
    try:
        done = subprocess.run(
            ["ss", "-tinH", "state", "established", "dst", f"127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return sum(int(m) for m in re.findall(r"bytes_received:(\d+)", done.stdout))


# ---------------------------------------------------------------- one follower run


@dataclass(frozen=True)
class _Catch:
    workers: int
    batch: int
    seconds: float
    follower_cpu_s: float
    source_cpu_s: float
    received: int | None
    state: str
    raw: _Rate  # the raw pipeline measured just before this run
    others: tuple[float, ...] = ()  # seconds of the slower runs of the same setting

    def rate(self, entries: int) -> float:
        return entries / self.seconds


def _json(url: str, token: str | None = None, body: dict[str, Any] | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        headers=headers,
        method="GET" if body is None else "POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _catch_up(
    tmp: Path,
    source: _Server,
    source_port: int,
    entries: int,
    setting: tuple[int, int],
    near: Sequence[bytes],
    attempt: int = 0,
) -> _Catch:
    workers, batch = setting
    name = f"follower-{workers}x{batch}" + (f"-{attempt}" if attempt else "")
    # The raw limit again, right before the run: a shared machine's speed drifts.
    raw = _raw_rate(near)
    port = _free_port()
    token = _init(tmp / name, name, port, {"sync_workers": workers, "sync_batch": batch})
    follower = _Server(tmp / name, port, tmp / f"{name}.log")
    try:
        follower.wait_ready()
        time.sleep(0.5)
        cpu_f = follower.cpu_with_children()
        cpu_s = _cpu_seconds(source.pid)
        started = time.perf_counter()
        _json(follower.base + "/api/v1/admin/peers", token, {"url": source.base})
        deadline = started + CATCH_UP_TIMEOUT_S
        state = ""
        while True:
            peers = _json(follower.base + "/api/v1/peers")["peers"]
            peer = peers[0] if peers else {}
            state = f"{peer.get('state')}: {peer.get('detail')}"
            if peer.get("verified_size") == entries:
                break
            if peer.get("state") in ("invalid", "equivocating", "blocked"):
                raise RuntimeError(f"follower {name} stopped: {state}")
            if time.perf_counter() > deadline:
                raise RuntimeError(f"follower {name} not caught up: {state}")
            time.sleep(POLL_S)
        seconds = time.perf_counter() - started
        # Workers that exited are gone from /proc; live ones are counted here.
        follower_cpu = follower.cpu_with_children() - cpu_f
        source_cpu = _cpu_seconds(source.pid) - cpu_s
        received = _received_from(source_port)
        return _Catch(workers, batch, seconds, follower_cpu, source_cpu, received, state, raw)
    finally:
        follower.stop()


# ---------------------------------------------------------------- report


def _rate(x: float) -> str:
    return f"{x:,.0f}/s"


def _section(
    entries: int,
    raw: _Raw,
    runs: list[_Catch],
    ndjson_bytes: int,
    build: tuple[float, float],
    source_max: int,
    loadavg: list[float],
    near_count: int,
) -> str:
    def counted(c: _Catch) -> bool:
        # Below the bodies' own size, some connection closed before `ss` read it.
        return c.received is not None and c.received >= ndjson_bytes

    rows: list[tuple[str, str, str, str]] = []
    cores = os.cpu_count() or 1
    for c in runs:
        rate = c.rate(entries)
        cpu_us = c.follower_cpu_s / entries * 1e6
        source_us = c.source_cpu_s / entries * 1e6
        # Against the faster of the two raw timings, so that a slow moment of a
        # shared machine never flatters the follower.
        limit_rate = max(c.raw.per_s, raw.raw.per_s)
        limit_cpu = min(c.raw.cpu_us, raw.raw.cpu_us)
        # What this run's CPU cost allows if every core were busy with it all along.
        ceiling = cores * limit_cpu / (cpu_us + source_us)
        wire = f"{c.received / entries:,.0f} B" if c.received and counted(c) else "—"
        rows.append(
            (
                f"follower catch-up, {entries:,} entries, sync_workers {c.workers}, "
                f"sync_batch {c.batch}",
                f"{c.seconds:.1f} s = **{_rate(rate)}**; CPU per entry: follower {cpu_us:.0f} µs "
                f"(busy {c.follower_cpu_s / c.seconds:.2f} cores), source {source_us:.0f} µs; "
                f"{cores}-core CPU ceiling {ceiling:.2f}; received {wire} per entry"
                + (
                    f"; fastest of {len(c.others) + 1} runs (others "
                    + ", ".join(f"{s:.1f} s" for s in c.others)
                    + ")"
                    if c.others
                    else ""
                ),
                f"{_rate(limit_rate)} ({limit_cpu:.0f} µs CPU per leaf); just before this run "
                f"{_rate(c.raw.per_s)} ({c.raw.cpu_us:.0f} µs)",
                f"{rate / limit_rate:.2f}",
            )
        )
    limit = f"{_rate(raw.raw.per_s)} ({raw.raw.cpu_us:.0f} µs CPU per leaf)"
    rows.append((f"raw pipeline, one core, {raw.sample:,} leaves (the limit)", limit, "—", "—"))
    for figure, r in (
        ("raw pipeline with `rfc8785.dumps` as the canonicaliser, one core", raw.raw_rfc8785),
        ("`protocol.signing.open_leaf`, one core", raw.open_leaf),
        (
            "`protocol.replay.LogReplay.add` (open_leaf + authority + Merkle frontier), one core",
            raw.replay,
        ),
    ):
        rows.append(
            (
                figure,
                f"{_rate(r.per_s)} ({r.cpu_us:.0f} µs CPU per leaf)",
                limit,
                f"{r.per_s / raw.raw.per_s:.2f}",
            )
        )
    measured = [c for c in runs if counted(c)]
    if measured:
        best = min(measured, key=lambda c: c.seconds)
        rows.append(
            (
                f"bytes received per entry (run {best.workers}x{best.batch})",
                f"{(best.received or 0) / entries:,.1f} B of TCP payload from the source",
                f"{ndjson_bytes / entries:,.1f} B of NDJSON body (leaf + newline)",
                f"{ndjson_bytes / (best.received or 1):.2f}",
            )
        )
    sign_s, store_s = build
    loads = ", ".join(f"{x:.1f}" for x in loadavg)
    repeats = max((len(c.others) + 1 for c in runs), default=1)
    lines = [
        "## Federation: a follower catching up over loopback",
        "",
        "| figure | value | raw limit measured in the same run | ratio |",
        "| --- | --- | --- | --- |",
        *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows),
        "",
        "Target stated in the issue: a follower at ≥ 80% of the single-core raw pipeline "
        "(ratio ≥ 0.80). Printed, never asserted. ratio = the figure's rate ÷ the raw rate; "
        "for a follower run the raw pipeline is also timed over "
        f"{near_count:,} of the leaves right before it, since a shared machine's speed drifts, "
        "and the fastest of those timings is the limit (for the bytes row: NDJSON body ÷ "
        "bytes received). Each setting runs with fresh followers "
        f"({repeats} per setting here, `FABCOMMONS_BENCH_SYNC_RUNS`); the fastest counts, "
        "the others are listed. CPU ceiling = cores × raw CPU per leaf ÷ (follower + source CPU "
        "per entry): the ratio the run's CPU cost would allow with every core busy all along; "
        "busy well below the core count means the stages did not overlap, or that other work "
        "held a core (the raw pipeline needs only one).",
        f"The source log: {MEMBERS} `member.admit` records by the node key, then "
        f"{entries - MEMBERS:,} distinct `member.profile` records by those members, "
        f"{ndjson_bytes / entries - 1:.0f}-byte leaves on average; signed in a process pool in "
        f"{sign_s:.0f} s and stored with `LogStore.append_batch` in {store_s:.0f} s. Source and "
        "followers are `fabcommons serve` on 127.0.0.1 with SQLite, unpinned, on the same "
        f"machine; the source serves up to {source_max:,} entries per request. Each follower "
        "is fresh; its time runs from `POST /api/v1/admin/peers` until `/api/v1/peers` shows "
        f"verified_size {entries:,} (polled every {POLL_S * 1000:.0f} ms). Follower CPU = user + "
        "system time of its serve process and live verification workers.",
        f"Raw pipeline (one core, {raw.sample:,} leaves: one in {raw.step} of the same "
        "log's leaves, from its start): `orjson.loads` + "
        "`orjson.dumps(record, OPT_SORT_KEYS)` + SHA-256 id + base64url signature decode + "
        "PyNaCl verify of prefix ‖ JCS(record), keys cached per author; best of "
        f"{REPEATS} after a warm-up (rfc8785 and LogReplay.add: one run), GC paused, wall "
        "and CPU (`time.process_time`) time. LogReplay.add runs over the log's first "
        f"{raw.sample:,} entries (it must start at entry 0).",
        "Bytes received: the kernel's `bytes_received` (TCP payload: HTTP headers, chunked "
        "framing, NDJSON, consistency proofs, checkpoint, well-known) of the follower's "
        "keep-alive connections to the source, read with `ss -ti` once caught up.",
        f"PyNaCl {nacl.__version__}, orjson {orjson.__version__}, "
        f"{platform.python_implementation()} {platform.python_version()}. "
        f"Load average (1 min) at start and end: {loads}.",
        "",
        f"Command: `{COMMAND}`",
        "",
    ]
    return "\n".join(lines)


def run() -> str:
    """Measure follower catch-up and the raw pipeline; return the Markdown section."""
    entries = _env_int("FABCOMMONS_BENCH_SYNC_ENTRIES", 100_000)
    sample = min(entries, _env_int("FABCOMMONS_BENCH_SYNC_RAW", 20_000))
    settings = _settings()
    repeats = max(1, _env_int("FABCOMMONS_BENCH_SYNC_RUNS", 2))
    if entries <= MEMBERS:
        raise ValueError(f"FABCOMMONS_BENCH_SYNC_ENTRIES must exceed {MEMBERS}")
    loadavg = [os.getloadavg()[0]]
    tmp = Path(tempfile.mkdtemp(prefix="fabbench-sync-"))
    with contextlib.ExitStack() as stack:
        if os.environ.get("FABCOMMONS_BENCH_KEEP") != "1":
            stack.callback(shutil.rmtree, tmp, True)
        source_port = _free_port()
        source_max = _env_int("FABCOMMONS_BENCH_SYNC_SOURCE_MAX", 1000)
        _init(tmp / "source", "source", source_port, {"max_entries_per_request": source_max})
        print("bench.sync: signing and storing the source log ...", file=sys.stderr, flush=True)
        leaves, sign_s, store_s = _build_source(tmp / "source", entries)
        ndjson_bytes = sum(len(leaf) + 1 for leaf in leaves)
        print("bench.sync: raw limits ...", file=sys.stderr, flush=True)
        raw = _raw_limits(leaves, sample)
        near, _ = _sample(leaves, min(sample, NEAR_SAMPLE))
        del leaves
        source = _Server(tmp / "source", source_port, tmp / "source.log")
        stack.callback(source.stop)
        try:
            source.wait_ready()
            runs = []
            for workers, batch in settings:
                print(f"bench.sync: follower {workers}x{batch} ...", file=sys.stderr, flush=True)
                tries = [
                    _catch_up(tmp, source, source_port, entries, (workers, batch), near, k)
                    for k in range(repeats)
                ]
                # The fastest run, as the raw limit is the fastest of its timings;
                # against the fastest raw timing taken before any of them.
                best = min(tries, key=lambda c: c.seconds)
                runs.append(
                    dataclasses.replace(
                        best,
                        raw=max((c.raw for c in tries), key=lambda r: r.per_s),
                        others=tuple(c.seconds for c in tries if c is not best),
                    )
                )
        except BaseException:
            for log in sorted(tmp.glob("*.log")):
                print(
                    f"--- {log.name} (tail)\n{log.read_text(errors='replace')[-3000:]}",
                    file=sys.stderr,
                )
            raise
        loadavg.append(os.getloadavg()[0])
        return _section(
            entries, raw, runs, ndjson_bytes, (sign_s, store_s), source_max, loadavg, len(near)
        )
    raise AssertionError("unreachable")


if __name__ == "__main__":
    print(run())

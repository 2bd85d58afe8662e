"""The node's client API under read load: requests/s and p50/p99 per endpoint, beside a raw limit.

The node is a real `fabcommons serve` subprocess (SQLite, default
settings) on 127.0.0.1, populated through its own API before the clock
starts: members admitted and workshops registered with the operator token,
then machines, capacity offers, designs (a quarter of them adaptations,
in chains up to two deep, so a design's attribution has ancestors to
walk), one ranked-choice proposal and its ballots, each in a request
signed by its author (RFC 9421) and sent by the load client of
bench/log.py. Designs carry no files (a design may omit them,
specs/04-designs.md §2), so no mesh is uploaded or analysed.

Each read endpoint is then driven on its own by that client (a separate
process writing pre-built requests on keep-alive connections), first at
16 concurrent connections and then at one (pure latency, no queueing),
and so is a mix of them all. A few answers of each are fetched first and
checked against what was appended (search totals, design bodies and
attribution depth, record ids and signatures, the offer set, the ballot
count and tally, the checkpoint's signature and size), and every answer
of a load must be a 200, so the figures are of correct answers.

Raw limit, in the same run: a bare aiohttp server whose handler answers
pre-built bytes of the same size as the endpoint's real answer, driven by
the same client with the same concurrency, right after the node's load of
that endpoint. ratio = the node's rate ÷ the raw rate.

With two or more CPUs the servers are pinned to all CPUs but the last and
the client to the last one (`FABCOMMONS_BENCH_PIN=0` turns pinning off).
Server CPU per request is user + system time of the serve process from
/proc/<pid>/stat between the clock's start and stop, which stays
meaningful when other work shares the machine.

Sizes: `FABCOMMONS_BENCH_API_MEMBERS` (default 50),
`FABCOMMONS_BENCH_API_DESIGNS` (200), `FABCOMMONS_BENCH_API_WORKSHOPS` (4,
two machines each), `FABCOMMONS_BENCH_API_OFFERS` (48),
`FABCOMMONS_BENCH_API_BALLOTS` (300, round-robin over the members, so most
members change their ballot), `FABCOMMONS_BENCH_API_REQUESTS` (requests per
load at concurrency 16, default 4000), `FABCOMMONS_BENCH_API_SERIAL_REQUESTS`
(per load at concurrency 1, default 1000), `FABCOMMONS_BENCH_API_SECONDS`
(a load at concurrency 16 stops sending after this many seconds and reports
what it completed, default 6) and `FABCOMMONS_BENCH_API_SERIAL_SECONDS`
(the same at concurrency 1, default 3). `FABCOMMONS_BENCH_KEEP=1` keeps the
temporary directory (database, server logs). Every server is stopped on
the way out, errors included. Nothing here asserts on time.

Duration on the 2-core reference machine, shared with other work (load
average 4-6): about 3 minutes with the defaults. Population takes 15-25 s;
each of the seven loads runs four client processes (node and raw, at 16
and at 1), each bounded by its time limit and taking about 2.5 s to start.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from bench.log import (
    CLIENT_TIME_LIMIT_S,
    _admit_members,
    _Context,
    _cpu_split,
    _cpu_text,
    _env_int,
    _errors,
    _free_port,
    _get_requests,
    _http_request,
    _init,
    _Load,
    _log_size,
    _member_key,
    _phase,
    _rate,
    _run_client,
    _serve_args,
    _Server,
    _show_server_logs,
    _start,
)
from node.client import NodeClient
from node.httpsig import sign_request_headers
from protocol.checkpoint import NoteVerifier, open_checkpoint
from protocol.keys import AgentKey
from protocol.records import Record, format_time
from protocol.signing import envelope_from_json, leaf_bytes, record_id, sign, verify

__all__ = ["run"]

COMMAND = "make bench ARGS=api  # = .venv/bin/python -m bench.run api"
CONCURRENCY = 16
WARM_PER_CONNECTION = 3  # at concurrency 16
WARM_SERIAL = 20
SAMPLE = 8  # answers per endpoint fetched and checked before the loads
SEED = 20261127
NOUNS = (
    *("bracket", "hinge", "clamp", "gear", "enclosure", "mount"),
    *("knob", "spacer", "pulley", "holder", "adapter", "jig"),
)
ADJECTIVES = ("compact", "parametric", "modular", "rugged", "foldable", "minimal")
PROCESSES = ("fdm", "sla", "sls", "cnc-milling", "laser-cutting")
MATERIALS = ("pla", "petg", "abs", "resin", "nylon", "aluminium", "plywood")
TAGS = ("repair", "workshop", "education", "garden", "kitchen", "bicycle", "lab", "accessibility")
LICENCES = ("CC-BY-SA-4.0", "CC-BY-4.0", "CC0-1.0")
OPTIONS = ("laser", "cnc", "printer", "lathe", "loom")
COUNTRIES = ("DE", "FR", "NL", "BE", "AT", "PL")
# Share of each endpoint in the mix: browsing (search, detail) dominates, as in the web UI.
MIX = {"search": 3, "design": 2, "record": 2, "offers": 1, "proposal": 1, "checkpoint": 1}


# ---------------------------------------------------------------- the dataset


@dataclass
class _Dataset:
    designs: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)  # id -> body
    depth: dict[str, int] = dataclasses.field(default_factory=dict)  # id -> ancestors
    offers: set[str] = dataclasses.field(default_factory=set)
    records: list[str] = dataclasses.field(default_factory=list)  # every member-signed record
    proposal: str = ""
    ballots: int = 0
    voters: int = 0
    members: int = 0
    machines: int = 0
    workshops: int = 0
    size: int = 0  # log size after population
    seconds: float = 0.0


class _Poster:
    """Builds signed POST requests of one host, remembering the ids of what they append."""

    def __init__(self, host: str, data: _Dataset, created: str) -> None:
        self.host = host
        self.data = data
        self.created = created

    def post(self, key: AgentKey, path: str, record_type: str, body: dict[str, Any]) -> bytes:
        record = Record(type=record_type, author=key.did, created=self.created, body=body)
        leaf = leaf_bytes(sign(record, key))
        headers = sign_request_headers(
            key,
            "POST",
            f"http://{self.host}{path}",
            leaf,
            headers={"Content-Type": "application/json"},
        )
        self.data.records.append(record_id(record))
        return _http_request("POST", self.host, path, headers, leaf)


def _design_body(rng: random.Random, i: int, member: int, parent: str | None) -> dict[str, Any]:
    noun, adjective = rng.choice(NOUNS), rng.choice(ADJECTIVES)
    processes = rng.sample(PROCESSES, rng.randint(1, 2))
    authors: list[dict[str, Any]] = [{"name": f"Member {member}", "did": _member_key(member).did}]
    if rng.random() < 0.3:
        authors.append({"name": f"Guest maker {i}"})
    notes = "Measured and documented by the members who made it. " * rng.randint(1, 4)
    description = (
        f"Print or machine it with {processes[0]}; {rng.choice((0.1, 0.2, 0.3))} mm layers "
        f"or passes, {rng.randint(15, 60)} % infill where printed.\n"
        "Assembly: press-fit, no glue. Tested in the cooperative's own shop for a season, with "
        f"notes on tolerances, the screws it takes and how to adapt it to other stock.\n{notes}"
    )
    return {
        "title": f"{adjective.capitalize()} {noun} no. {i}" + (" (remix)" if parent else ""),
        "summary": f"A {adjective} {noun} for cooperative workshops.",
        "description": description,
        "license": "CC-BY-SA-4.0" if parent else rng.choice(LICENCES),
        "authors": authors,
        "version": f"1.{rng.randrange(10)}",
        "supersedes": None,
        "derived_from": [parent] if parent else [],
        "files": [],
        "processes": processes,
        "materials": rng.sample(MATERIALS, rng.randint(1, 3)),
        "tags": rng.sample(TAGS, rng.randint(1, 4)),
    }


def _designs(poster: _Poster, rng: random.Random, count: int, members: int) -> list[list[bytes]]:
    """Three generations of design posts: originals, adaptations of them, and of those."""
    sizes = [count - count // 4, count // 4 - count // 10, count // 10]
    generations: list[list[bytes]] = []
    parents: list[str] = []
    i = 0
    for depth, size in enumerate(sizes):
        posts, made = [], []
        for _ in range(size):
            member = i % members
            parent = rng.choice(parents) if depth else None
            body = _design_body(rng, i, member, parent)
            posts.append(poster.post(_member_key(member), "/api/v1/records", "design", body))
            design_id = poster.data.records[-1]
            poster.data.designs[design_id] = body
            poster.data.depth[design_id] = depth
            made.append(design_id)
            i += 1
        generations.append(posts)
        parents = made
    return generations


def _capacity(
    poster: _Poster, rng: random.Random, workshops: int, offers: int, now: datetime
) -> tuple[list[bytes], list[bytes]]:
    """Machine posts (two per workshop) and offer posts, signed by each workshop's owner."""
    machines: list[dict[str, Any]] = []
    machine_posts = []
    for w in range(workshops):
        for m in range(2):
            side = rng.choice((150, 220, 300, 600))
            body: dict[str, Any] = {
                "workshop": f"shop-{w}",
                "machine": f"m{m}",
                "kind": "machine",
                "processes": rng.sample(PROCESSES, rng.randint(1, 2)),
                "materials": rng.sample(MATERIALS, rng.randint(2, 4)),
                "build_volume_mm": {"x": f"{side}.000", "y": f"{side}.000", "z": "250.000"},
                "precision_mm": "0.100",
            }
            machines.append(body)
            machine_posts.append(poster.post(_member_key(w), "/api/v1/records", "machine", body))
    offer_posts = []
    for o in range(offers):
        machine = machines[o % len(machines)]
        # Minor units: a setup fee, then per cm³ of material and per machine hour.
        price = {"currency": "EUR", "setup": 100 * rng.randrange(50)}
        price |= {"per_cm3": rng.randrange(5, 200), "per_hour": rng.randrange(100, 4000)}
        offer: dict[str, Any] = {
            "workshop": machine["workshop"],
            "offer": f"o{o}",
            "machine": machine["machine"],
            "processes": machine["processes"][:1],
            "materials": rng.sample(machine["materials"], 1),
            "price": price,
            "rate_cm3_per_hour": f"{8 + o % 40}.500",
            "lead_time_days": o % 15,
            "capacity_hours_per_week": 20 + 4 * (o % 30),
            "valid_from": format_time(now - timedelta(days=1)),
            "valid_until": format_time(now + timedelta(days=60)),
            "serves": {"countries": rng.sample(COUNTRIES, 2), "radius_km": 200},
        }
        owner = _member_key(int(machine["workshop"].removeprefix("shop-")))
        offer_posts.append(poster.post(owner, "/api/v1/records", "offer", offer))
        poster.data.offers.add(poster.data.records[-1])
    return machine_posts, offer_posts


def _governance(
    poster: _Poster, rng: random.Random, members: int, ballots: int, now: datetime
) -> tuple[bytes, list[bytes]]:
    proposal = {
        "title": "Which machine should the cooperative buy next?",
        "text": "One member, one ranked ballot; the budget is in the last general meeting's notes.",
        "options": list(OPTIONS),
        "method": "ranked",
        "opens": format_time(now - timedelta(minutes=1)),
        "closes": format_time(now + timedelta(days=1)),
        "quorum": {"num": 1, "den": 2},
    }
    proposal_post = poster.post(_member_key(0), "/api/v1/proposals", "proposal", proposal)
    pid = poster.data.proposal = poster.data.records[-1]
    rankings = sum(math.perm(len(OPTIONS), k) for k in range(1, len(OPTIONS) + 1))
    if ballots > rankings * members:
        raise ValueError(f"at most {rankings} distinct ballots per member")
    ballot_posts: list[bytes] = []
    cast: set[tuple[int, tuple[str, ...]]] = set()
    while len(ballot_posts) < ballots:
        # A member's ballots differ, or the node would answer a repeat with its first id (200).
        member = len(ballot_posts) % members
        ranking = tuple(rng.sample(OPTIONS, rng.randint(1, len(OPTIONS))))
        if (member, ranking) in cast:
            continue
        cast.add((member, ranking))
        body = {"proposal": pid, "ranking": list(ranking)}
        path = f"/api/v1/proposals/{pid}/ballots"
        ballot_posts.append(poster.post(_member_key(member), path, "ballot", body))
    poster.data.ballots = ballots
    poster.data.voters = min(members, ballots)
    return proposal_post, ballot_posts


def _post_all(ctx: _Context, node: _Server, port: int, posts: Sequence[bytes]) -> None:
    """Send pre-built appends on 16 connections; every one must be a 201."""
    per_conn = [list(posts[k::CONCURRENCY]) for k in range(CONCURRENCY)]
    load = _run_client(ctx, node, port, per_conn, 0)
    if load.statuses != {"201": len(posts)}:
        raise RuntimeError(f"population: answers {load.statuses}, first: {load.error}")


def _populate(ctx: _Context, node: _Server, port: int, token: str) -> _Dataset:
    host = f"127.0.0.1:{port}"
    base = f"http://{host}"
    members = _env_int("FABCOMMONS_BENCH_API_MEMBERS", 50)
    workshops = _env_int("FABCOMMONS_BENCH_API_WORKSHOPS", 4)
    if not 1 <= workshops <= members:
        raise ValueError("FABCOMMONS_BENCH_API_WORKSHOPS must be from 1 to the number of members")
    started = time.perf_counter()
    size_before = _log_size(base)
    _admit_members(base, token, members)
    now = datetime.now(UTC).replace(microsecond=0)
    asyncio.run(_register_workshops(base, token, workshops))
    data = _Dataset(members=members, workshops=workshops, machines=2 * workshops)
    poster = _Poster(host, data, format_time(now))
    rng = random.Random(SEED)
    originals, adaptations, second = _designs(
        poster, rng, _env_int("FABCOMMONS_BENCH_API_DESIGNS", 200), members
    )
    machines, offers = _capacity(
        poster, rng, workshops, _env_int("FABCOMMONS_BENCH_API_OFFERS", 48), now
    )
    proposal, ballots = _governance(
        poster, rng, members, _env_int("FABCOMMONS_BENCH_API_BALLOTS", 300), now
    )
    # Each round holds only records whose dependencies the rounds before appended.
    unbounded = dataclasses.replace(ctx, load_limit_s=float(CLIENT_TIME_LIMIT_S))
    for posts in ([*machines, *originals, proposal], [*offers, *adaptations, *ballots], second):
        if posts:
            _post_all(unbounded, node, port, posts)
    data.size = _log_size(base)
    appended = members + workshops + len(data.records)
    if data.size != size_before + appended:
        raise RuntimeError(f"log grew by {data.size - size_before}, expected {appended}")
    data.seconds = time.perf_counter() - started
    return data


async def _register_workshops(base: str, token: str, count: int) -> None:
    async with NodeClient(base) as client:
        for w in range(count):
            place = {
                "lat": f"{48 + w / 10:.6f}",
                "lon": "11.500000",
                "country": "DE",
                "region": "BY",
            }
            body = {"workshop": f"shop-{w}", "name": f"Cooperative shop {w}", "place": place}
            await client.post_json(
                "/api/v1/admin/workshops", {**body, "owners": [_member_key(w).did]}, token=token
            )


# ---------------------------------------------------------------- endpoints and checks


@dataclass(frozen=True)
class _Endpoint:
    name: str  # also the raw server's path /raw/<name>
    label: str
    paths: list[str]
    check: Callable[[str, bytes], None]  # raises RuntimeError on a wrong answer


def _json(body: bytes) -> Any:
    return json.loads(body)


def _fail(path: str, what: str) -> RuntimeError:
    return RuntimeError(f"GET {path}: {what}")


def _search_words(data: _Dataset, rng: random.Random) -> list[str]:
    title = data.designs[rng.choice(list(data.designs))]["title"]
    adjective, noun = title.split()[:2]
    return [noun] if rng.random() < 0.7 else [adjective.casefold(), noun]


def _search_text(body: dict[str, Any]) -> str:
    """What specs/04-designs.md §7 says `q` matches: every word in one of these fields."""
    parts = [body["title"], body["summary"], body["description"], *body["tags"]]
    parts += [*body["processes"], *body["materials"], *(a["name"] for a in body["authors"])]
    return "\n".join(parts).casefold()


def _endpoints(data: _Dataset, count: int, verifier: NoteVerifier) -> list[_Endpoint]:
    rng = random.Random(SEED + 1)
    design_ids = list(data.designs)

    def check_search(path: str, body: bytes) -> None:
        words = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)["q"][0].split()
        expected = {i for i, d in data.designs.items() if all(w in _search_text(d) for w in words)}
        answer = _json(body)
        found = {d["id"] for d in answer["designs"]}
        if answer["total"] != len(expected) or not found <= expected:
            raise _fail(path, f"total {answer['total']}, expected {len(expected)}")
        if len(found) != min(len(expected), 20):
            raise _fail(path, f"{len(found)} designs on the first page")

    def check_design(path: str, body: bytes) -> None:
        design_id = path.rsplit("/", 1)[1]
        answer = _json(body)
        chain = answer["attribution"]["chain"]
        if answer["id"] != design_id or answer["body"] != data.designs[design_id]:
            raise _fail(path, "another design")
        if len(chain) != data.depth[design_id]:
            raise _fail(path, f"{len(chain)} ancestors, expected {data.depth[design_id]}")

    def check_record(path: str, body: bytes) -> None:
        record = verify(envelope_from_json(_json(body)["envelope"]))
        if record_id(record) != path.rsplit("/", 1)[1]:
            raise _fail(path, "another record")

    def check_offers(path: str, body: bytes) -> None:
        found = {o["id"] for o in _json(body)["offers"]}
        if not found <= data.offers or len(found) != min(len(data.offers), 100):
            raise _fail(path, f"{len(found)} offers of {len(data.offers)}")

    def check_proposal(path: str, body: bytes) -> None:
        answer = _json(body)
        got = (answer["id"], answer["ballots_cast"], answer["tally"]["voters"], answer["status"])
        if got != (data.proposal, data.ballots, data.voters, "open"):
            raise _fail(path, f"(id, ballots, voters, status) {got}")

    def check_checkpoint(path: str, body: bytes) -> None:
        size = open_checkpoint(body, verifier).checkpoint.size
        if size != data.size:
            raise _fail(path, f"checkpoint of size {size}, expected {data.size}")

    def search_path() -> str:
        return "/api/v1/designs?" + urllib.parse.urlencode(
            {"q": " ".join(_search_words(data, rng))}
        )

    return [
        _Endpoint(
            "search",
            "`GET /api/v1/designs?q=…` (1 or 2 words; first page of 20)",
            [search_path() for _ in range(count)],
            check_search,
        ),
        _Endpoint(
            "design",
            "`GET /api/v1/designs/{id}` (detail, attribution, versions)",
            [f"/api/v1/designs/{rng.choice(design_ids)}" for _ in range(count)],
            check_design,
        ),
        _Endpoint(
            "record",
            "`GET /fed/v1/records/{id}` (any record by id; there is no `/api/v1/records/{id}`)",
            [f"/fed/v1/records/{rng.choice(data.records)}" for _ in range(count)],
            check_record,
        ),
        _Endpoint("offers", "`GET /api/v1/offers`", ["/api/v1/offers"] * count, check_offers),
        _Endpoint(
            "proposal",
            "`GET /api/v1/proposals/{id}` (live tally, every ballot)",
            [f"/api/v1/proposals/{data.proposal}"] * count,
            check_proposal,
        ),
        _Endpoint(
            "checkpoint",
            "`GET /fed/v1/checkpoint`",
            ["/fed/v1/checkpoint"] * count,
            check_checkpoint,
        ),
    ]


def _fetch(base: str, path: str) -> bytes:
    with urllib.request.urlopen(base + path, timeout=30) as response:
        if response.status != 200:
            raise _fail(path, f"HTTP {response.status}")
        body: bytes = response.read()
        return body


def _check_samples(base: str, endpoints: Sequence[_Endpoint]) -> dict[str, int]:
    """Check the first answers of every endpoint; their mean size in bytes, by endpoint."""
    sizes = {}
    for endpoint in endpoints:
        paths = list(dict.fromkeys(endpoint.paths))[:SAMPLE]
        bodies = [_fetch(base, path) for path in paths]
        for path, body in zip(paths, bodies, strict=True):
            endpoint.check(path, body)
        sizes[endpoint.name] = sum(map(len, bodies)) // len(bodies)
    return sizes


def _verifier(base: str) -> NoteVerifier:
    async def go() -> str:
        async with NodeClient(base) as client:
            return (await client.well_known()).vkey

    return NoteVerifier.from_vkey(asyncio.run(go()))


# ---------------------------------------------------------------- the raw limit


def _raw_server_main(port: int, sizes_json: str) -> None:
    """Raw limit: aiohttp answering GET /raw/<endpoint> with pre-built bytes of that size."""
    bodies = {
        name: b'{"pad":"' + b"x" * max(0, size - 10) + b'"}'
        for name, size in json.loads(sizes_json).items()
    }

    async def answer(request: web.Request) -> web.Response:
        return web.Response(
            body=bodies[request.match_info["name"]], content_type="application/json"
        )

    app = web.Application()
    app.router.add_get("/raw/{name}", answer)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


# ---------------------------------------------------------------- loads


@dataclass(frozen=True)
class _Figures:
    name: str
    label: str
    size: int
    node: _Load  # concurrency 16
    raw: _Load
    node_serial: _Load  # concurrency 1
    raw_serial: _Load


@dataclass(frozen=True)
class _Target:
    server: _Server
    port: int

    def requests(self, paths: Sequence[str], connections: int) -> list[list[bytes]]:
        return _get_requests(f"127.0.0.1:{self.port}", paths, connections)


def _measure(
    ctx: _Context,
    serial: tuple[_Context, int],
    node: _Target,
    raw: _Target,
    calls: Sequence[tuple[str, str]],
) -> tuple[_Load, _Load, _Load, _Load]:
    """(node, raw) at concurrency 16, then (node, raw) at 1, over the same (endpoint, path)s."""
    paths = [path for _, path in calls]
    raw_paths = [f"/raw/{name}" for name, _ in calls]
    serial_ctx, serial_count = serial
    n = serial_count + WARM_SERIAL
    warm = WARM_PER_CONNECTION
    return (
        _run_client(ctx, node.server, node.port, node.requests(paths, CONCURRENCY), warm),
        _run_client(ctx, raw.server, raw.port, raw.requests(raw_paths, CONCURRENCY), warm),
        _run_client(serial_ctx, node.server, node.port, node.requests(paths[:n], 1), WARM_SERIAL),
        _run_client(serial_ctx, raw.server, raw.port, raw.requests(raw_paths[:n], 1), WARM_SERIAL),
    )


def _mix(endpoints: Sequence[_Endpoint], count: int) -> list[tuple[str, str]]:
    rng = random.Random(SEED + 2)
    by_name = {e.name: e for e in endpoints}
    names = rng.choices(list(MIX), weights=list(MIX.values()), k=count)
    return [(name, rng.choice(by_name[name].paths)) for name in names]


# ---------------------------------------------------------------- report


def _ms(x: float) -> str:
    return f"{x:.1f} ms" if x >= 10 else f"{x:.2f} ms"


def _count(load: _Load) -> str:
    return f"{load.count:,}" + (", time limit" if load.stopped else "")


def _section(figures: Sequence[_Figures], data: _Dataset, ctx: _Context, serial_s: float) -> str:
    # A wrong status is printed in bold inside the cell of the load that met it.
    fast = [
        f"| {f.label} | {f.size:,} B | {_count(f.node)} | **{_rate(f.node.rate)}**"
        f"{_errors(f.node, 200)} | {_ms(f.node.p50_ms)} | **{_ms(f.node.p99_ms)}** | "
        f"{_ms(f.node.max_ms)} | {_cpu_text(f.node)} | {_rate(f.raw.rate)}, p99 "
        f"{_ms(f.raw.p99_ms)}{_errors(f.raw, 200)} | {f.node.rate / f.raw.rate:.2f} |"
        for f in figures
    ]
    slow = [
        f"| {f.label} | {_ms(f.node_serial.p50_ms)} | **{_ms(f.node_serial.p99_ms)}** | "
        f"{_ms(f.node.p99_ms)} | {_rate(f.node_serial.rate)} ({_count(f.node_serial)})"
        f"{_errors(f.node_serial, 200)} | {_ms(f.raw_serial.p99_ms)}{_errors(f.raw_serial, 200)} |"
        for f in figures
    ]
    pin = "unpinned" if ctx.server_cpus is None else f"CPU {sorted(ctx.server_cpus)}"
    client = "unpinned" if ctx.client_cpus is None else f"CPU {sorted(ctx.client_cpus)}"
    phases = ", ".join(f"{k} {v:.0f} s" for k, v in ctx.timings.items())
    mix = ", ".join(f"{name} {weight}" for name, weight in MIX.items())
    designs = len(data.designs)
    lines = [
        "## Node client API: requests/s and p50/p99 per read endpoint",
        "",
        f"At concurrency {CONCURRENCY} (keep-alive connections, each sending its next request "
        "when the answer arrives):",
        "",
        "| endpoint | answer | requests | req/s | p50 | p99 | max | server CPU per request "
        "| raw limit: same client, same answer size | ratio |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *fast,
        "",
        "At concurrency 1 (one connection; latency without queueing), beside the p99 at "
        f"concurrency {CONCURRENCY} from the table above:",
        "",
        f"| endpoint | p50, c=1 | p99, c=1 | p99, c={CONCURRENCY} | req/s, c=1 (requests) "
        "| raw limit p99, c=1 |",
        "| --- | --- | --- | --- | --- | --- |",
        *slow,
        "",
        f"The node was populated through its API in {data.seconds:.1f} s: {data.members} members "
        f"admitted and {data.workshops} workshops registered (operator token), then "
        f"{data.machines} machines, {len(data.offers)} open offers, {designs} designs "
        f"({designs - designs // 4} originals, the rest adaptations in chains up to 2 deep; no "
        f"files), one ranked-choice proposal over {len(OPTIONS)} options and {data.ballots} "
        f"ballots from {data.voters} voters, each in a member-signed request; log size "
        f"{data.size:,}. Every load is of correct answers: the first {SAMPLE} distinct answers of "
        "each endpoint were checked against what was appended (search totals, design bodies and "
        "attribution depth, record ids and signatures, the offer set, the ballot count and "
        "tally, the checkpoint's signature and size), and every answer of every load is "
        "counted by status: any status but 200 would be printed in bold in its cell.",
        "The load client is bench/log.py's: one asyncio process writing pre-built requests on "
        "keep-alive connections, latency from writing a request to reading its whole answer; "
        f"{WARM_PER_CONNECTION} requests per connection (at c=1: {WARM_SERIAL}) warm up first. "
        f"A load at c={CONCURRENCY} stops sending after {ctx.load_limit_s:.0f} s, at c=1 after "
        f"{serial_s:.0f} s, and reports what it completed. Search words and ids are drawn at "
        "random (fixed seed) from the dataset. The mix draws each request's endpoint with the "
        f"weights {mix}. Raw limit: a bare aiohttp server answering pre-built bytes of the "
        "endpoint's mean answer size (for the mix, each request the size of its endpoint's), "
        "same client, same concurrency, run right after the node's load; ratio = the node's "
        "req/s ÷ the raw req/s. Server CPU per request = user + system time of the serve "
        "process between the clock's start and stop ÷ requests; busy = that ÷ wall time.",
        f"`fabcommons serve` runs with its default settings (SQLite, log level info) on {pin}; "
        f"the client on {client}. Load average (1 min) at start and end: "
        f"{', '.join(f'{x:.1f}' for x in ctx.loadavg)}. Phases: {phases}.",
        "",
        f"Command: `{COMMAND}` (FABCOMMONS_BENCH_API_* set the sizes; see the module docstring)",
        "",
    ]
    return "\n".join(lines)


def run() -> str:
    """Measure the node's read API under load and return the figures as a Markdown section."""
    count = _env_int("FABCOMMONS_BENCH_API_REQUESTS", 4000)
    serial_count = _env_int("FABCOMMONS_BENCH_API_SERIAL_REQUESTS", 1000)
    limit_s = float(_env_int("FABCOMMONS_BENCH_API_SECONDS", 6))
    serial_s = float(_env_int("FABCOMMONS_BENCH_API_SERIAL_SECONDS", 3))
    server_cpus, client_cpus = _cpu_split()
    tmp = Path(tempfile.mkdtemp(prefix="fabbench-api-"))
    with contextlib.ExitStack() as stack:
        if os.environ.get("FABCOMMONS_BENCH_KEEP") != "1":
            stack.callback(shutil.rmtree, tmp, True)
        stack.push(_show_server_logs(tmp))
        ctx = _Context(tmp, server_cpus, client_cpus, 0, stack, {}, [os.getloadavg()[0]], limit_s)
        serial = (dataclasses.replace(ctx, load_limit_s=serial_s), serial_count)
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        token = _init(tmp / "node", port, None)
        node = _start(ctx, _serve_args(tmp / "node", port), "serve")
        with _phase(ctx, "start and populate", "api"):
            node.wait_ready(base + "/healthz")
            data = _populate(ctx, node, port, token)
        warm = CONCURRENCY * WARM_PER_CONNECTION
        endpoints = _endpoints(data, count + warm, _verifier(base))
        sizes = _check_samples(base, endpoints)
        raw_port = _free_port()
        raw_code = "import sys, bench.api as m; m._raw_server_main(int(sys.argv[1]), sys.argv[2])"
        raw = _start(
            ctx, [sys.executable, "-c", raw_code, str(raw_port), json.dumps(sizes)], "raw-server"
        )
        raw.wait_ready(f"http://127.0.0.1:{raw_port}/raw/checkpoint")
        targets = (_Target(node, port), _Target(raw, raw_port))
        figures = []
        for e in endpoints:
            with _phase(ctx, e.name, "api"):
                loads = _measure(ctx, serial, *targets, [(e.name, p) for p in e.paths])
            figures.append(_Figures(e.name, e.label, sizes[e.name], *loads))
        calls = _mix(endpoints, count + warm)
        mean_size = sum(sizes[name] for name, _ in calls) // len(calls)
        with _phase(ctx, "mix", "api"):
            loads = _measure(ctx, serial, *targets, calls)
        figures.append(_Figures("mix", "**the mix** (weights below)", mean_size, *loads))
        ctx.loadavg.append(os.getloadavg()[0])
        return _section(figures, data, ctx, serial_s)
    raise AssertionError("unreachable")


if __name__ == "__main__":
    print(run())

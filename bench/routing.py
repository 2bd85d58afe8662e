"""Routing one job over 10,000 capacity offers from 100 logs (issue 6; target under 50 ms).

The offers are real signed records: 100 logs, each with one workshop (a
node-signed `workshop.register`), four machines and 100 offers signed by the
workshop's owner key, appended with `LogStore.append_batch` (so the rules
and the capacity projection run exactly as on a node) into a migrated
SQLite database in a temporary directory. The offers vary in process,
material, build volume, price model, lead time, capacity, validity and
region, so that routing meets every exclusion rule.

Beside the routing time it prints the time to merely read the offers: the
one query of `CapacityStore.current()` with the bodies parsed (cold: a new
store; warm: parsed bodies cached, as after any change to the offers;
unchanged: the store's version check finds nothing new), the track record
query and the building of the candidates. Routing is
`registry.routing.route` over the candidates, the median of 21 runs, as
wall-clock and as this process's CPU time (which stays meaningful when
other work shares the machine). Nothing here asserts on time.

Sizes: FABCOMMONS_BENCH_LOGS (default 100), FABCOMMONS_BENCH_OFFERS_PER_LOG
(default 100).
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from node.store import LogStore, create_engine, migrate
from node.store.capacity import CapacityStore
from node.store.jobs import JobStore
from node.store.logstore import AppendItem
from protocol.checkpoint import Checkpoint, NoteVerifier, sign_checkpoint
from protocol.keys import AgentKey
from protocol.records import Record, format_time, parse_body
from protocol.signing import leaf_bytes, record_id, sign
from registry.jobs import JobRequest
from registry.routing import Candidate, PartFigures, TrackRecord, route

__all__ = ["run"]

COMMAND = "make bench ARGS=routing  # = .venv/bin/python -m bench.run routing"
NOW = datetime(2030, 3, 2, 12, 0, tzinfo=UTC)
PROCESSES = ("fdm", "sla", "sls", "cnc-milling")
MATERIALS = ("pla", "petg", "abs", "resin", "nylon", "aluminium")
COUNTRIES = ("DE", "FR", "NL", "BE", "AT", "PL")


def _t(days: float) -> str:
    return format_time(NOW + timedelta(days=days))


def _item(key: AgentKey, record_type: str, body: dict[str, Any], created: str) -> AppendItem:
    envelope = sign(Record(type=record_type, author=key.did, created=created, body=body), key)
    record = envelope.record
    return AppendItem(
        record=record,
        body=parse_body(record),
        leaf=leaf_bytes(envelope),
        record_id=record_id(record),
    )


def _log_items(
    rng: random.Random, node: AgentKey, owner: AgentKey, offers: int
) -> list[AppendItem]:
    created = _t(-30)
    lat = rng.uniform(43.0, 54.5)
    lon = rng.uniform(-1.0, 19.0)
    place = {
        "lat": f"{lat:.6f}",
        "lon": f"{lon:.6f}",
        "country": rng.choice(COUNTRIES),
        "region": "R",
    }
    items = [
        _item(
            node,
            "workshop.register",
            {"workshop": "shop", "name": "Shop", "place": place, "owners": [owner.did]},
            created,
        )
    ]
    machines = []
    for m in range(4):
        processes = rng.sample(PROCESSES, rng.randint(1, 2))
        materials = rng.sample(MATERIALS, rng.randint(2, 4))
        side = rng.choice((80, 150, 220, 300, 600))
        volume = {"x": f"{side}.000", "y": f"{side}.000", "z": f"{rng.choice((100, 250, 400))}.000"}
        machine_body: dict[str, Any] = {
            "workshop": "shop",
            "machine": f"m{m}",
            "kind": "machine",
            "processes": processes,
            "materials": materials,
            "build_volume_mm": volume,
            "precision_mm": "0.100",
        }
        machines.append(machine_body)
        items.append(_item(owner, "machine", machine_body, created))
    for o in range(offers):
        machine = rng.choice(machines)
        serves: dict[str, Any] = {}
        if rng.random() < 0.6:
            serves["countries"] = rng.sample(COUNTRIES, rng.randint(1, 3))
        if rng.random() < 0.5 or not serves:
            serves["radius_km"] = rng.choice((50, 200, 800))
        start = rng.uniform(-60, 5)
        body: dict[str, Any] = {
            "workshop": "shop",
            "offer": f"o{o}",
            "machine": machine["machine"],
            "processes": machine["processes"][:1],
            "materials": rng.sample(machine["materials"], 1),
            "price": {
                "currency": "EUR" if rng.random() < 0.9 else "PLN",
                "setup": rng.randint(0, 5000),
                "per_cm3": rng.randint(5, 200),
                "per_hour": rng.randint(100, 4000),
            },
            "rate_cm3_per_hour": f"{rng.randint(2, 60)}.{rng.randint(0, 999):03d}",
            "lead_time_days": rng.randint(0, 20),
            "capacity_hours_per_week": rng.randint(5, 168),
            "valid_from": _t(start),
            "valid_until": _t(start + rng.uniform(10, 120)),
            "serves": serves,
        }
        items.append(_item(owner, "offer", body, created))
    return items


async def _build(path: Path, logs: int, per_log: int) -> float:
    url = f"sqlite+aiosqlite:///{path}"
    await migrate(url)
    engine = create_engine(url)
    store = LogStore(engine)
    rng = random.Random(6)
    started = time.perf_counter()
    try:
        for n in range(logs):
            node, owner = AgentKey.generate(), AgentKey.generate()
            origin = f"bench/log-{n}"
            verifier = NoteVerifier(origin, node.public_key)

            def signer(checkpoint: Checkpoint, node: AgentKey = node) -> bytes:
                return sign_checkpoint(checkpoint, node)

            await store.create_log(
                did=node.did, origin=origin, vkey=verifier.vkey, is_local=False, sign=signer
            )
            outcomes, _ = await store.append_batch(
                node.did, _log_items(rng, node, owner, per_log), signer
            )
            refused = [o.error for o in outcomes if o.error is not None]
            assert not refused, refused[:3]
    finally:
        await engine.dispose()
    return time.perf_counter() - started


async def _candidates(capacity: CapacityStore, jobs: JobStore) -> list[Candidate]:
    rows = await capacity.current()
    records, committed = await jobs.track_records()
    out = []
    for offer, shop, machine in rows:
        slug = offer.offer.workshop
        done, failed = records.get((offer.log, slug), (0, 0))
        out.append(
            Candidate(
                log=offer.log,
                offer_id=offer.record_id,
                offer=offer.offer,
                workshop=shop.workshop,
                machine=machine,
                retired=shop.retired,
                track=TrackRecord(
                    completed=done,
                    failed=failed,
                    committed_milli_hours=committed.get((offer.log, slug, offer.offer.machine), 0),
                ),
            )
        )
    return out


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


async def _measure(path: Path) -> dict[str, Any]:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        jobs = JobStore(engine)
        cold, parsed, unchanged = [], [], []
        for _ in range(3):
            capacity = CapacityStore(engine)
            started = time.perf_counter()
            candidates = await _candidates(capacity, jobs)
            cold.append(time.perf_counter() - started)
        for _ in range(5):
            capacity._current = None  # as after any capacity change: query and build again
            started = time.perf_counter()
            candidates = await _candidates(capacity, jobs)
            parsed.append(time.perf_counter() - started)
        for _ in range(5):
            started = time.perf_counter()
            candidates = await _candidates(capacity, jobs)
            unchanged.append(time.perf_counter() - started)
    finally:
        await engine.dispose()
    request = JobRequest.from_dict(
        {
            "design": "sha256:" + "d" * 64,
            "design_log": AgentKey.generate().did,
            "file": "f" * 64,
            "quantity": 4,
            "process": "fdm",
            "material": "pla",
            "deliver_to": {"lat": "50.110924", "lon": "8.682127", "country": "DE", "region": "R"},
            "deadline": _t(21),
            "budget": {"amount": 60_000, "currency": "EUR"},
            "response_window_s": 3600,
        }
    )
    part = PartFigures(
        volume_mm3="48213.604",
        aabb_mm=("120.000", "84.500", "31.250"),
        obb_mm=("118.200", "80.000", "30.000"),
    )
    times, cpu = [], []
    result = route(request, part, candidates, now=NOW)
    for _ in range(21):
        started, started_cpu = time.perf_counter(), time.process_time()
        result = route(request, part, candidates, now=NOW)
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    reasons: dict[str, int] = {}  # code -> offers
    for excluded in result.excluded:
        for reason in excluded.reasons:
            reasons[reason.code] = reasons.get(reason.code, 0) + 1
    return {
        "offers": len(candidates),
        "logs": len({c.log for c in candidates}),
        "read_cold": statistics.median(cold),
        "read_warm": statistics.median(parsed),
        "read_unchanged": statistics.median(unchanged),
        "route": statistics.median(times),
        "route_min": min(times),
        "route_cpu": statistics.median(cpu),
        "route_cpu_min": min(cpu),
        "feasible": len(result.ranking),
        "reasons": reasons,
    }


def run() -> str:
    logs = int(os.environ.get("FABCOMMONS_BENCH_LOGS", "100"))
    per_log = int(os.environ.get("FABCOMMONS_BENCH_OFFERS_PER_LOG", "100"))
    with tempfile.TemporaryDirectory(prefix="fabbench-routing-") as tmp:
        path = Path(tmp) / "node.db"
        build_s = asyncio.run(_build(path, logs, per_log))
        figures = asyncio.run(_measure(path))
    reasons = ", ".join(f"{code} {n}" for code, n in sorted(figures["reasons"].items()))
    lines = [
        "## Routing (bench/routing.py)",
        "",
        f"One job routed over {figures['offers']:,} open offers from {figures['logs']} logs "
        f"(built and projected in {build_s:.1f} s).",
        "",
        "| step | time |",
        "| --- | --- |",
        f"| read the offers, cold (query + parse every body) | {_ms(figures['read_cold'])} |",
        f"| read the offers, warm (query, parsed bodies cached) | {_ms(figures['read_warm'])} |",
        f"| read the offers, unchanged since the last read (version check, track records, "
        f"candidates) | {_ms(figures['read_unchanged'])} |",
        f"| **route** (judge every offer, rank the feasible; median of 21), wall | "
        f"**{_ms(figures['route'])}** (min {_ms(figures['route_min'])}) |",
        f"| route, CPU time of this process | **{_ms(figures['route_cpu'])}** "
        f"(min {_ms(figures['route_cpu_min'])}) |",
        "",
        f"Routing time is {figures['route'] / figures['read_warm']:.2f}× the warm read "
        f"and {figures['route'] / figures['read_cold']:.2f}× the cold read. "
        f"{figures['feasible']} offers were feasible; the exclusions by reason: {reasons}.",
        "",
        f"Command: `{COMMAND}` (FABCOMMONS_BENCH_LOGS and FABCOMMONS_BENCH_OFFERS_PER_LOG "
        "set the sizes)",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(run())

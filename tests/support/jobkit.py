"""Builders for the capacity and job tests: keys, bodies, signed records, and a replayed log.

Bodies are written out as plain JSON here (not made by registry/), so a
test that parses them checks the parsers against the spec's shapes. The
`Log` class replays leaves with protocol.replay.LogReplay, the check every
follower runs, so a refused record is refused exactly as sync would.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from protocol.keys import AgentKey
from protocol.records import Record, format_time
from protocol.replay import LogReplay, ReplayedEntry
from protocol.signing import leaf_bytes, sign

T0 = datetime(2030, 1, 6, 12, 0, tzinfo=UTC)  # a Sunday, noon UTC
PLATE = Path("/work/shared/corpus/designs/switch-plate-gopro/Switch_Plate_GoPro_Compatible.stl")


def key(name: str) -> AgentKey:
    return AgentKey.from_seed(hashlib.sha256(name.encode()).digest())


def at(seconds: float = 0, *, base: datetime = T0) -> str:
    return format_time(base + timedelta(seconds=seconds))


def place(
    lat: str = "52.520008", lon: str = "13.404954", country: str = "DE", region: str = "Berlin"
) -> dict[str, str]:
    return {"lat": lat, "lon": lon, "country": country, "region": region}


def workshop_body(
    slug: str, owners: list[str], *, name: str = "Werkstatt", where: dict[str, str] | None = None
) -> dict[str, Any]:
    return {"workshop": slug, "name": name, "place": where or place(), "owners": owners}


def machine_body(
    workshop: str,
    machine: str = "printer",
    *,
    volume: tuple[str, str, str] = ("220.000", "220.000", "250.000"),
    processes: tuple[str, ...] = ("fdm",),
    materials: tuple[str, ...] = ("pla", "petg"),
    kind: str = "3d-printer",
    active: bool = True,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "workshop": workshop,
        "machine": machine,
        "kind": kind,
        "processes": list(processes),
        "materials": list(materials),
        "build_volume_mm": {"x": volume[0], "y": volume[1], "z": volume[2]},
        "precision_mm": "0.200",
    }
    if not active:
        body["active"] = False
    return body


def offer_body(
    workshop: str,
    offer: str = "fdm-service",
    machine: str = "printer",
    *,
    processes: tuple[str, ...] = ("fdm",),
    materials: tuple[str, ...] = ("pla",),
    currency: str = "EUR",
    setup: int = 500,
    per_cm3: int = 20,
    per_hour: int = 300,
    rate: str = "10.000",
    lead_time_days: int = 2,
    capacity_hours_per_week: int = 40,
    valid_from: str = "2030-01-01T00:00:00Z",
    valid_until: str = "2030-12-31T00:00:00Z",
    serves: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "workshop": workshop,
        "offer": offer,
        "machine": machine,
        "processes": list(processes),
        "materials": list(materials),
        "price": {"currency": currency, "setup": setup, "per_cm3": per_cm3, "per_hour": per_hour},
        "rate_cm3_per_hour": rate,
        "lead_time_days": lead_time_days,
        "capacity_hours_per_week": capacity_hours_per_week,
        "valid_from": valid_from,
        "valid_until": valid_until,
        "serves": serves if serves is not None else {"countries": ["DE"]},
    }


def request_body(
    *,
    design: str = "sha256:" + "d" * 64,
    design_log: str | None = None,
    file: str = "f" * 64,
    quantity: int = 1,
    process: str = "fdm",
    material: str = "pla",
    deliver_to: dict[str, str] | None = None,
    deadline: str = "2030-02-01T00:00:00Z",
    budget: int = 100_000,
    currency: str = "EUR",
    window_s: int = 3600,
) -> dict[str, Any]:
    return {
        "design": design,
        "design_log": design_log or key("design-log").did,
        "file": file,
        "quantity": quantity,
        "process": process,
        "material": material,
        "deliver_to": deliver_to or place(),
        "deadline": deadline,
        "budget": {"amount": budget, "currency": currency},
        "response_window_s": window_s,
    }


def signed(signer: AgentKey, type_: str, body: dict[str, Any], created: str | None = None) -> Any:
    record = Record(type=type_, author=signer.did, created=created or at(), body=body)
    return sign(record, signer)


class Log:
    """One log replayed from its first entry, as a follower would verify it."""

    def __init__(self, node: AgentKey) -> None:
        self.node = node
        self.replay = LogReplay.start(node.did)
        self.entries: list[ReplayedEntry] = []

    @property
    def did(self) -> str:
        return self.node.did

    def add(
        self, signer: AgentKey, type_: str, body: dict[str, Any], created: str | None = None
    ) -> str:
        """Append a record signed by signer; its id. Raises ProtocolError, changing nothing."""
        # Distinct times by default, so that equal bodies make distinct records.
        when = created or at(self.replay.size)
        entry = self.replay.add(leaf_bytes(signed(signer, type_, body, when)))
        self.entries.append(entry)
        return entry.record_id

    def admit(self, member: AgentKey) -> str:
        return self.add(self.node, "member.admit", {"member": member.did, "role": "member"})


# -- in-process node helpers (tests/node: a RunningNode of tests/node/conftest.py) -------------


def now_iso(**delta: float) -> str:
    return format_time(datetime.now(UTC) + timedelta(**delta))


async def _ok(reply: Any) -> dict[str, Any]:
    assert reply.status in (200, 201), reply.body[:400]
    data: dict[str, Any] = reply.json()
    return data


async def upload_plate(node: Any, key: Any) -> dict[str, Any]:
    data = PLATE.read_bytes()
    reply = await node.signed_post(
        key, "/api/v1/blobs", data, content_type="application/octet-stream"
    )
    assert reply.status == 201, reply.body
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def design_body(files: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "title": "Switch plate",
        "summary": "A GoPro-compatible switch mounting plate",
        "description": "",
        "license": "CC-BY-SA-4.0",
        "authors": [{"name": "Anna Millbourn"}],
        "version": "1",
        "supersedes": None,
        "derived_from": [],
        "files": files,
        "processes": ["fdm"],
        "materials": ["pla"],
        "tags": [],
    }


async def analysed_design(node: Any, make_envelope: Any, author: Any) -> tuple[str, str]:
    """Publish the switch plate at `node` and wait (bounded) for its analysis."""
    blob = await upload_plate(node, author)
    files = [
        {"name": "plate.stl", "media_type": "model/stl", "role": "model", "units": "mm", **blob}
    ]
    design = (
        await _ok(
            await node.post_envelope(
                make_envelope(author, "design", design_body(files), now_iso()), author
            )
        )
    )["id"]
    for _ in range(600):
        got = (await node.get(f"/api/v1/designs/{design}")).json()
        if got.get("analysis") and got["analysis"][0].get("figures") is not None:
            return design, blob["sha256"]
        await asyncio.sleep(0.1)
    raise AssertionError("no analysis after 60 s")


async def wait_job(node: Any, job: str, predicate: Any, what: str, timeout_s: float = 20) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout_s
    last = None
    while asyncio.get_running_loop().time() < deadline:
        reply = await node.get(f"/api/v1/jobs/{job}")
        if reply.status == 200:
            last = reply.json()
            if predicate(last):
                return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last view: {last}")

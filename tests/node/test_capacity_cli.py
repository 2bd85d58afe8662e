"""`fabcommons workshop|machine|offer|job …` against an in-process node.

The CLI runs in a worker thread (it starts its own event loop) and talks
HTTP to the node the test serves on 127.0.0.1: the operator imports an OKW
file and registers a workshop, its owner publishes a machine and an offer,
a member requests a job, and the owner answers it to completion, all with
the commands a person would type.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from jobkit import analysed_design, wait_job

from node.cli import main
from protocol.keys import save_key

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])
OKW = Path("/work/shared/corpus/okw/okw-template.yaml")
BERLIN = ["--lat", "52.520008", "--lon", "13.404954", "--country", "DE", "--region", "Berlin"]


async def run(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _id(out: str) -> str:
    match = re.search(r"(sha256:[0-9a-f]{64})", out)
    assert match, out
    return match.group(1)


async def test_operator_owner_and_member_commands(
    node_factory: Any, make_key: Any, make_envelope: Any, tmp_path: Path, capsys: Any
) -> None:
    node = await node_factory()
    url = node.url("").rstrip("/")
    owner, member = make_key("cli/owner"), make_key("cli/member")
    await node.admit(member.did)
    owner_file, member_file = tmp_path / "owner.key", tmp_path / "member.key"
    save_key(owner, owner_file)
    save_key(member, member_file)
    operator = ["--data", str(node.data_dir), "--node", url]

    # OKW import: the template lacks a name and a country, which the operator gives.
    code, _, err = await run(
        capsys, "workshop", "import-okw", str(OKW), *operator, "--owner-key", str(owner_file)
    )
    assert code == 1
    assert "no name" in err
    code, out, err = await run(
        capsys,
        "workshop",
        "import-okw",
        str(OKW),
        *operator,
        "--owner-key",
        str(owner_file),
        "--slug",
        "fablab",
        "--name",
        "Fablab Mitte",
        "--country",
        "DE",
        "--lat",
        "52.520008",
        "--lon",
        "13.404954",
    )
    assert code == 0, err
    assert "workshop fablab registered" in out
    assert "skipped equipment[0]" in out  # the template's equipment has no build volume

    owner_node = ["--key", str(owner_file), "--node", url]
    code, out, err = await run(
        capsys,
        "machine",
        "publish",
        *owner_node,
        "--workshop",
        "fablab",
        "--machine",
        "mk4",
        "--kind",
        "3d-printer",
        "--process",
        "fdm",
        "--material",
        "pla",
        "--build-volume",
        "250,210,220",
    )
    assert code == 0, err
    offer = [
        "offer",
        "publish",
        *owner_node,
        "--workshop",
        "fablab",
        "--offer",
        "pla-prints",
        "--machine",
        "mk4",
        "--process",
        "fdm",
        "--material",
        "pla",
        "--currency",
        "EUR",
        "--setup",
        "500",
        "--per-cm3",
        "20",
        "--per-hour",
        "300",
        "--rate",
        "12.5",
    ]
    code, _, err = await run(capsys, *offer)
    assert code == 1
    assert "say where the offer delivers" in err
    code, out, err = await run(capsys, *offer, "--country", "DE")
    assert code == 0, err
    code, out, _ = await run(capsys, "offer", "list", "--node", url)
    assert "pla-prints" in out
    assert "fablab" in out
    stored = (await node.get("/api/v1/offers")).json()["offers"][0]
    assert stored["rate_cm3_per_hour"] == "12.500"
    assert stored["valid_until"] > stored["valid_from"]

    exported = tmp_path / "fablab.json"
    code, _, err = await run(
        capsys,
        "workshop",
        "export-okw",
        "--node",
        url,
        "--workshop",
        "fablab",
        "--flavour",
        "json",
        "--out",
        str(exported),
    )
    assert code == 0, err
    facility = json.loads(exported.read_text(encoding="utf-8"))
    assert facility["name"] == "Fablab Mitte"
    assert facility["equipment"]["fabcommons"]["build_volume_mm"] == {
        "x": "250.000",
        "y": "210.000",
        "z": "220.000",
    }

    # A member requests the switch plate; the owner answers through the workshop's inbox.
    design, file = await analysed_design(node, make_envelope, member)
    request = [
        "--node",
        url,
        "--design",
        design,
        "--file",
        file,
        "--process",
        "fdm",
        "--material",
        "pla",
        *BERLIN,
        "--budget",
        "100000",
        "--currency",
        "EUR",
    ]
    code, out, err = await run(capsys, "job", "route", *request)
    assert code == 0, err
    assert "fablab" in out
    code, out, err = await run(capsys, "job", "request", "--key", str(member_file), *request)
    assert code == 0, err
    job = _id(out)
    await wait_job(node, job, lambda v: v["state"] == "offered", "the offer")
    code, out, _ = await run(capsys, "job", "inbox", "--node", url, "--workshop", "fablab")
    assert job in out
    answer = [job, *owner_node, "--workshop", "fablab"]
    code, _, err = await run(capsys, "job", "accept", *answer)
    assert code == 0, err
    await wait_job(node, job, lambda v: v["state"] == "accepted", "the assignment")
    for status in ("in_production", "shipped", "delivered"):
        code, _, err = await run(capsys, "job", "status", *answer, status)
        assert code == 0, err
    code, _, err = await run(capsys, "job", "status", *answer, "shipped")
    assert code == 1  # delivered -> shipped is refused by the state machine
    assert "403" in err
    code, _, err = await run(
        capsys, "job", "complete", *answer, "--paid", "2500", "--currency", "EUR"
    )
    assert code == 0, err
    code, out, _ = await run(capsys, "job", "show", job, "--node", url)
    assert "completed" in out
    assert "job.complete" in out

"""Workshops, offers and jobs through one in-process node (specs/05-capacity-and-jobs.md §10–11).

The workshops here sit at the requester's own node, so the whole job
protocol runs in one log: the driver offers, the owner answers through POST
/api/v1/records, the driver assigns or moves on. The part is the corpus
switch plate (about 89 × 89 × 29 mm), analysed by the node itself.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from jobkit import analysed_design, machine_body, offer_body, place, request_body, wait_job

from protocol.records import format_time

SQLITE = pytest.mark.parametrize("backend", ["sqlite"])


def now_plus(**delta: float) -> str:
    return format_time(datetime.now(UTC) + timedelta(**delta))


def live_offer(workshop: str, offer: str = "fdm", **kw: Any) -> dict[str, Any]:
    return offer_body(
        workshop,
        offer,
        valid_from=now_plus(days=-1),
        valid_until=now_plus(days=60),
        **kw,
    )


async def register(node: Any, slug: str, owners: list[str], **extra: Any) -> Any:
    return await node.request(
        "POST",
        "/api/v1/admin/workshops",
        json={
            "workshop": slug,
            "name": f"Shop {slug}",
            "place": place(),
            "owners": owners,
            **extra,
        },
        headers={"Authorization": f"Bearer {node.token}"},
    )


async def post(node: Any, make_envelope: Any, key: Any, type_: str, body: dict[str, Any]) -> Any:
    return await node.post_envelope(make_envelope(key, type_, body, now_plus()), key)


async def ok(reply: Any) -> dict[str, Any]:
    assert reply.status in (200, 201), reply.body[:400]
    data: dict[str, Any] = reply.json()
    return data


@SQLITE
async def test_workshops_machines_offers_and_okw(
    node_factory: Any, make_key: Any, make_envelope: Any, check_problem: Any
) -> None:
    node = await node_factory()
    owner, member = make_key("cap/owner"), make_key("cap/member")
    await node.admit(member.did)
    own = node.key.did
    # Only the operator registers; the body is checked; the node key may not own it.
    reply = await node.request(
        "POST", "/api/v1/admin/workshops", json={"workshop": "w1", "name": "x", "owners": []}
    )
    check_problem(reply, 401)
    check_problem(await register(node, "w1", []), 422)
    check_problem(await register(node, "w1", [own]), 403)
    await ok(await register(node, "w1", [owner.did], url="https://w1.example"))

    # Only the owner key signs machines and offers.
    check_problem(await post(node, make_envelope, member, "machine", machine_body("w1")), 403)
    await ok(await post(node, make_envelope, owner, "machine", machine_body("w1")))
    await ok(await post(node, make_envelope, owner, "offer", live_offer("w1")))
    await ok(
        await post(
            node,
            make_envelope,
            owner,
            "offer",
            live_offer("w1", "petg-prints", materials=("petg",)),
        )
    )

    workshops = (await node.get("/api/v1/workshops")).json()["workshops"]
    assert [(w["log"], w["workshop"], w["owners"], w["retired"]) for w in workshops] == [
        (own, "w1", [owner.did], False)
    ]
    detail = (await node.get(f"/api/v1/workshops/{own}/w1")).json()
    assert [m["machine"] for m in detail["machines"]] == ["printer"]
    assert sorted(o["offer"] for o in detail["offers"]) == ["fdm", "petg-prints"]
    offers = (await node.get("/api/v1/offers", params={"material": "petg"})).json()["offers"]
    assert [o["offer"] for o in offers] == ["petg-prints"]
    assert (await node.get("/api/v1/offers", params={"material": "abs"})).json()["offers"] == []
    check_problem(await node.get("/api/v1/offers", params={"material": "ABS!"}), 400)
    check_problem(await node.get("/api/v1/offers", params={"log": "did:web:x"}), 400)
    check_problem(await node.get(f"/api/v1/workshops/{own}/nope"), 404)

    # Withdrawal is a new record; the offer stays visible on request.
    withdraw = {"workshop": "w1", "offer": "petg-prints"}
    await ok(await post(node, make_envelope, owner, "offer.withdraw", withdraw))
    offers = (await node.get("/api/v1/offers")).json()["offers"]
    assert [o["offer"] for o in offers] == ["fdm"]
    everything = (await node.get("/api/v1/offers", params={"include_withdrawn": "true"})).json()
    assert {(o["offer"], o["open"]) for o in everything["offers"]} == {
        ("fdm", True),
        ("petg-prints", False),
    }

    # OKW export, both flavours, with the fabcommons block.
    okw = (await node.get(f"/api/v1/workshops/{own}/w1/okw")).json()
    assert okw["name"] == "Shop w1"
    assert okw["equipment"]["fabcommons"]["build_volume_mm"] == {
        "x": "220.000",
        "y": "220.000",
        "z": "250.000",
    }
    assert "logitude" in okw["location"]["gps"]
    reply = await node.get(f"/api/v1/workshops/{own}/w1/okw", params={"flavour": "yaml"})
    assert yaml.safe_load(reply.body)["location"]["gps"]["longitude"] == 13.404954

    # Retiring: the operator (or an owner); then no new machines.
    retire = await node.request(
        "POST",
        "/api/v1/admin/workshops/w1/retire",
        json={"reason": "closing"},
        headers={"Authorization": f"Bearer {node.token}"},
    )
    await ok(retire)
    check_problem(await post(node, make_envelope, owner, "machine", machine_body("w1", "m2")), 403)
    listed = (await node.get("/api/v1/workshops", params={"include_retired": "false"})).json()
    assert listed["workshops"] == []


def answer(job: str, node: Any, workshop: str, offer: str) -> dict[str, Any]:
    return {"job": job, "job_log": node.key.did, "workshop": workshop, "offer": offer}


@SQLITE
async def test_route_then_run_a_job_at_the_nodes_own_workshops(
    node_factory: Any, make_key: Any, make_envelope: Any, check_problem: Any
) -> None:
    node = await node_factory()
    member, owner_big, owner_small, owner_slow = (
        make_key(f"jobs/{n}") for n in ("member", "big", "small", "slow")
    )
    await node.admit(member.did)
    design, file = await analysed_design(node, make_envelope, member)
    own = node.key.did
    shops = [
        ("big", owner_big, ("220.000", "220.000", "250.000"), 300),
        ("small", owner_small, ("80.000", "80.000", "80.000"), 100),
        ("slow", owner_slow, ("300.000", "300.000", "300.000"), 900),
    ]
    for slug, owner, volume, setup in shops:
        await ok(await register(node, slug, [owner.did]))
        await ok(
            await post(node, make_envelope, owner, "machine", machine_body(slug, volume=volume))
        )
        await ok(await post(node, make_envelope, owner, "offer", live_offer(slug, setup=setup)))

    job_body = request_body(
        design=design, design_log=own, file=file, deadline=now_plus(days=20), window_s=3600
    )
    routed = await ok(await node.request("POST", "/api/v1/jobs/route", json=job_body))
    assert [r["workshop"] for r in routed["ranking"]] == ["big", "slow"]
    assert routed["excluded"][0]["workshop"] == "small"
    assert [r["code"] for r in routed["excluded"][0]["reasons"]] == ["size"]
    assert float(routed["part"]["obb_mm"][0]) == pytest.approx(89, abs=1)
    # Same price model but setup: the big shop's estimate is 600 cheaper than the slow one's.
    big, slow = routed["ranking"]
    assert slow["estimate"]["price"]["amount"] - big["estimate"]["price"]["amount"] == 600
    check_problem(await node.request("POST", "/api/v1/jobs/route", json={"design": 1}), 422)
    # A file the design does not hold is refused; a design not seen (yet) has no analysis yet.
    wrong_file = {**job_body, "file": "e" * 64}
    problem = check_problem(await node.request("POST", "/api/v1/jobs/route", json=wrong_file), 422)
    assert problem["type"].endswith("/not-a-model")
    unknown = {**job_body, "design": "sha256:" + "e" * 64}
    problem = check_problem(await node.request("POST", "/api/v1/jobs/route", json=unknown), 409)
    assert problem["type"].endswith("/no-analysis")

    # The member asks; the driver offers to "big"; big declines; it moves on to "slow".
    job = (await ok(await post(node, make_envelope, member, "job.request", job_body)))["id"]
    view = await wait_job(node, job, lambda v: v["state"] == "offered", "the first offer")
    first = view["offers"][0]
    assert (first["workshop"], first["rank"]) == ("big", 1)
    inbox = (await node.get(f"/api/v1/workshops/{own}/big/jobs")).json()
    assert [o["offer"]["id"] for o in inbox["offered"]] == [first["id"]]
    # Someone else's key cannot answer for big.
    check_problem(
        await post(
            node, make_envelope, owner_slow, "job.accept", answer(job, node, "big", first["id"])
        ),
        403,
    )
    await ok(
        await post(
            node, make_envelope, owner_big, "job.decline", answer(job, node, "big", first["id"])
        )
    )
    view = await wait_job(node, job, lambda v: len(v["offers"]) == 2, "the second offer")
    assert [(o["workshop"], o["outcome"]) for o in view["offers"]] == [
        ("big", "declined"),
        ("slow", "pending"),
    ]
    second = view["offers"][1]["id"]
    accept = answer(job, node, "slow", second)
    await ok(await post(node, make_envelope, owner_slow, "job.accept", accept))
    view = await wait_job(node, job, lambda v: v["state"] == "accepted", "the assignment")
    assert view["workshop"] == {"log": own, "workshop": "slow"}
    for status in ("in_production", "shipped", "delivered"):
        body = {"job": job, "job_log": own, "workshop": "slow", "status": status}
        await ok(await post(node, make_envelope, owner_slow, "job.status", body))
    paid = {
        "job": job,
        "job_log": own,
        "workshop": "slow",
        "paid": {"amount": 4321, "currency": "EUR"},
    }
    await ok(await post(node, make_envelope, owner_slow, "job.complete", paid))
    # After completion the state machine takes nothing more.
    again = {**paid, "note": "paid twice?"}
    check_problem(await post(node, make_envelope, owner_slow, "job.complete", again), 403)
    shipped = {"job": job, "job_log": own, "workshop": "slow", "status": "shipped", "note": "x"}
    check_problem(await post(node, make_envelope, owner_slow, "job.status", shipped), 403)
    view = await wait_job(node, job, lambda v: v["state"] == "completed", "completion")
    assert view["paid"] == {"amount": 4321, "currency": "EUR"}
    assert [h["type"] for h in view["history"]] == [
        "job.request",
        "job.offer",
        "job.decline",
        "job.offer",
        "job.accept",
        "job.assign",
        "job.status",
        "job.status",
        "job.status",
        "job.complete",
    ]
    listed = (await node.get("/api/v1/jobs", params={"state": "completed"})).json()["jobs"]
    assert [j["id"] for j in listed] == [job]
    check_problem(await node.get("/api/v1/jobs", params={"state": "done"}), 400)
    check_problem(await node.get("/api/v1/jobs/sha256:xyz"), 400)
    check_problem(await node.get(f"/api/v1/jobs/sha256:{'0' * 64}"), 404)

    # A job nobody answers lapses from shop to shop and is cancelled when none is left. The
    # slow shop now has a completed job, which moves it up the ranking.
    quick = request_body(
        design=design, design_log=own, file=file, deadline=now_plus(days=20), window_s=1
    )
    routed = await ok(await node.request("POST", "/api/v1/jobs/route", json=quick))
    order = [r["workshop"] for r in routed["ranking"]]
    assert order == ["slow", "big"]
    assert routed["ranking"][0]["track"] == {
        "completed": 1,
        "failed": 0,
        "committed_hours": "0.000",
    }
    job2 = (await ok(await post(node, make_envelope, member, "job.request", quick)))["id"]
    view = await wait_job(
        node, job2, lambda v: v["state"] == "cancelled", "lapses and cancellation", timeout_s=30
    )
    assert [(o["workshop"], o["outcome"]) for o in view["offers"]] == [
        ("slow", "lapsed"),
        ("big", "lapsed"),
    ]
    assert "no feasible workshop left" in view["cancel_reason"]

    # Cancel after assignment is a request the workshop answers; failure is final and counts.
    owners = {"big": owner_big, "slow": owner_slow}

    async def assigned_job() -> tuple[str, str, Any]:
        body = request_body(
            design=design, design_log=own, file=file, deadline=now_plus(days=20), window_s=3600
        )
        job_id = (await ok(await post(node, make_envelope, member, "job.request", body)))["id"]
        view = await wait_job(node, job_id, lambda v: v["state"] == "offered", "an offer")
        live = view["offers"][-1]
        shop = live["workshop"]
        await ok(
            await post(
                node,
                make_envelope,
                owners[shop],
                "job.accept",
                answer(job_id, node, shop, live["id"]),
            )
        )
        await wait_job(node, job_id, lambda v: v["state"] == "accepted", "the assignment")
        return job_id, shop, owners[shop]

    job3, shop3, owner3 = await assigned_job()
    progress = {"job": job3, "job_log": own, "workshop": shop3}
    await ok(
        await post(
            node, make_envelope, owner3, "job.status", {**progress, "status": "in_production"}
        )
    )
    # The assigned workshop's machine hours now count as committed.
    routed = await ok(await node.request("POST", "/api/v1/jobs/route", json=quick))
    committed = {r["workshop"]: r["track"]["committed_hours"] for r in routed["ranking"]}
    assert committed[shop3] != "0.000"
    await ok(
        await post(node, make_envelope, member, "job.cancel", {"job": job3, "reason": "not needed"})
    )
    view = await wait_job(node, job3, lambda v: v["cancel_requested"], "the cancel request")
    assert view["state"] == "in_production"
    await ok(
        await post(node, make_envelope, owner3, "job.status", {**progress, "status": "cancelled"})
    )
    view = await wait_job(node, job3, lambda v: v["state"] == "cancelled", "the cancellation")
    assert view["cancel_reason"] == "not needed"

    job4, shop4, owner4 = await assigned_job()
    await ok(
        await post(
            node,
            make_envelope,
            owner4,
            "job.status",
            {"job": job4, "job_log": own, "workshop": shop4, "status": "failed", "note": "warped"},
        )
    )
    await wait_job(node, job4, lambda v: v["state"] == "failed", "the failure")
    routed = await ok(await node.request("POST", "/api/v1/jobs/route", json=quick))
    tracks = {r["workshop"]: r["track"] for r in routed["ranking"]}
    assert tracks[shop4]["failed"] == 1

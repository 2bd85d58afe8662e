"""Issue 8's acceptance with three real nodes: a job completed at C is shared by the policy
C's members adopted, and A, B and C all compute the same distribution.

Ben (a member of B) publishes a bracket; Ana (a member of A) publishes a
derivative of it and requests a job for it in A's log. C's members vote a
value-sharing policy in (proposal, ballots; C's node closes the vote and
puts the policy in force). C's workshop takes the job through to
job.complete; C's node shares it: C's workshop, Ana (generation 0), Ben
(generation 1) and the commons fund, with the amounts worked by hand in
tests/support/ledgerkit.py. A and B sync C, verify the distribution, and
recompute the derivation chain from their own copies of the logs: they
agree. Then a second policy is voted in: the next job is shared by it,
the first keeps the first policy.

Records go through the public API (POST /api/v1/records, /blobs,
/proposals, /admin/workshops). The workshop answers the job with the
records of registry/jobs.py directly (job.accept, job.status, job.complete)
rather than through A's routing: the ledger reads only the job.request and
the job.complete, and C's rules judge a foreign job's answers without A's
offer.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

import pytest
from fednet import FedNet, FedNode, federate, wait_for
from ledgerkit import (
    V1_AMOUNTS,
    V1_TOTAL,
    V2_AMOUNTS,
    V2_CHANGES,
    V2_TOTAL,
    design_body,
    expected_parts,
    key,
    now_plus,
    policy,
    proposal_body,
    request_body,
    workshop_body,
)

from node.client import NodeClient
from protocol.keys import AgentKey
from protocol.records import Record
from protocol.signing import leaf_bytes, record_id, sign

pytestmark = pytest.mark.slow

ANA, BEN, CAROL, DAVE, OWNER, FUND = (
    key("e2e ana"),
    key("e2e ben"),
    key("e2e carol"),
    key("e2e dave"),
    key("e2e owner"),
    key("e2e fund"),
)
SLUG = "c-fab"
# A tiny ASCII STL (one triangle): the design's model file.
STL = (
    b"solid t\nfacet normal 0 0 1\nouter loop\n"
    b"vertex 0 0 0\nvertex 1 0 0\nvertex 0 1 0\nendloop\nendfacet\nendsolid t\n"
)


async def post(node: FedNode, signer: AgentKey, type_: str, body: dict[str, Any],
               path: str = "/api/v1/records", created: str | None = None) -> str:  # fmt: skip
    envelope = sign(
        Record(type=type_, author=signer.did, created=created or now_plus(), body=body), signer
    )
    async with NodeClient(node.url) as client:
        status, answer = await client.signed_post(
            signer, path, leaf_bytes(envelope), "application/json"
        )
    assert status in (200, 201), (node.label, type_, status, answer)
    assert answer["id"] == record_id(envelope.record)
    return str(answer["id"])


async def publish(node: FedNode, author: AgentKey, title: str, parents: list[str]) -> str:
    data = STL.replace(b"solid t", b"solid " + title.encode())
    async with NodeClient(node.url) as client:
        blob = await client.post_blob(data, author)
    assert blob["sha256"] == hashlib.sha256(data).hexdigest()
    body = design_body(title, author, parents, sha=blob["sha256"])
    body["files"][0]["size"] = len(data)
    return await post(node, author, "design", body)


async def vote_policy(c: FedNode, policy_body: dict[str, Any]) -> None:
    """C's members adopt the policy; C's node closes the vote and puts it in force."""
    proposal = await post(
        c,
        CAROL,
        "proposal",
        proposal_body(policy_body, now_plus(-1), now_plus(4)),
        path="/api/v1/proposals",
    )
    for voter in (CAROL, DAVE):
        await post(
            c,
            voter,
            "ballot",
            {"proposal": proposal, "choice": "yes"},
            path=f"/api/v1/proposals/{proposal}/ballots",
        )

    async def in_force() -> bool:
        data = await c.get_json(f"/api/v1/ledger/policies?log={c.did}")
        return any(p["version"] == policy_body["version"] for p in data["policies"])

    await wait_for(in_force, f"policy version {policy_body['version']} in force at C", timeout_s=30)


async def complete_job(c: FedNode, job: str, job_log: str, amount: int) -> str:
    answer = {"job": job, "job_log": job_log, "workshop": SLUG}
    await post(c, OWNER, "job.accept", {**answer, "offer": "sha256:" + "0" * 64})
    for status in ("in_production", "shipped", "delivered"):
        await post(c, OWNER, "job.status", {**answer, "status": status})
    paid = {"amount": amount, "currency": "EUR"}
    return await post(c, OWNER, "job.complete", {**answer, "paid": paid})


async def distribution_at(node: FedNode, job: str, *, agreed: bool) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        data = await node.get_json(f"/api/v1/ledger/distributions?job={job}")
        for found in data["distributions"]:
            if not agreed or found["agreement"] == "agree":
                return dict(found)
        return None

    result: dict[str, Any] = await wait_for(probe, f"{node.label} sharing {job}", timeout_s=30)
    return result


async def test_three_cooperatives_agree_on_every_distribution(fednet: FedNet) -> None:
    a, b, c = fednet.node("A"), fednet.node("B"), fednet.node("C")
    await asyncio.gather(a.start(), b.start(), c.start())
    await federate([a, b, c])
    await a.admit(ANA.did)
    await b.admit(BEN.did)
    for member in (CAROL, DAVE):
        await c.admit(member.did)

    parent = await publish(b, BEN, "Bracket", [])
    await a.sync(b.did)
    child = await publish(a, ANA, "Bracket v2", [parent])
    job1 = await post(a, ANA, "job.request", request_body(child, a.did))

    status, answer = await c.request(
        "POST", "/api/v1/admin/workshops", json_body=workshop_body(SLUG, OWNER), admin=True
    )
    assert status == 201, answer
    await vote_policy(c, policy(1, FUND))
    await c.sync(a.did)
    await c.sync(b.did)

    # The job completes at C; C's node shares it by policy 1.
    await complete_job(c, job1, a.did, V1_TOTAL)
    v1_parts = expected_parts(
        1, V1_AMOUNTS, workshop=c.did, gen0=(ANA.did, child), gen1=(BEN.did, parent), fund=FUND.did
    )
    at_c = await distribution_at(c, job1, agreed=True)
    assert at_c["parts"] == v1_parts
    assert at_c["log"] == c.did

    # A and B verify C's log and recompute the chain from their own copies: the same parts.
    for node in (a, b):
        await node.sync(c.did)
        if node is b:
            await b.sync(a.did)  # B needs A's design and job.request to judge the chain
        found = await distribution_at(node, job1, agreed=True)
        assert found["id"] == at_c["id"]
        assert found["parts"] == v1_parts

    # A second policy, voted in now, applies to the next job and not to the last.
    await vote_policy(c, policy(2, FUND, **V2_CHANGES))
    job2 = await post(a, ANA, "job.request", request_body(child, a.did), created=now_plus(1))
    await c.sync(a.did)
    await complete_job(c, job2, a.did, V2_TOTAL)
    v2_parts = expected_parts(
        2, V2_AMOUNTS, workshop=c.did, gen0=(ANA.did, child), gen1=(BEN.did, parent), fund=FUND.did
    )
    assert (await distribution_at(c, job2, agreed=True))["parts"] == v2_parts
    for node in (a, b):
        await node.sync(c.did)
        if node is b:
            await b.sync(a.did)
        assert (await distribution_at(node, job2, agreed=True))["parts"] == v2_parts
        assert (await distribution_at(node, job1, agreed=True))["parts"] == v1_parts

    # Every node holds the same balances.
    expected = {
        (c.did, "EUR"): V1_AMOUNTS["workshop"] + V2_AMOUNTS["workshop"],
        (ANA.did, "EUR"): V1_AMOUNTS["gen0"] + V2_AMOUNTS["gen0"],
        (BEN.did, "EUR"): V1_AMOUNTS["gen1"] + V2_AMOUNTS["gen1"],
        (FUND.did, "EUR"): V1_AMOUNTS["commons"] + V2_AMOUNTS["commons"],
    }
    assert sum(expected.values()) == V1_TOTAL + V2_TOTAL
    for node in (a, b, c):
        balances = await node.get_json("/api/v1/ledger/balances")
        money = {(m["agent"], m["currency"]): m["amount"] for m in balances["money"]}
        assert money == expected, (node.label, json.dumps(balances))

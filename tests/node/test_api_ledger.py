"""The ledger API in-process (node/api/ledger.py, node/ledger_driver.py, specs/07-ledger.md §5, §7).

Two in-process nodes: A holds the designs (a parent by Ben, a derivative by
Ana) and Ana's job.request; C's workshop completes the job. C's members
adopt the value-sharing policy by vote (proposal, ballots, the node's
result and ledger.policy, appended as the records they are). C shares the
job; A follows C and recomputes. Expected amounts are worked by hand in
tests/support/ledgerkit.py; inclusion proofs are checked with hashlib.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest
from ledgerkit import (
    V1_AMOUNTS,
    V1_TOTAL,
    V2_AMOUNTS,
    V2_CHANGES,
    V2_TOTAL,
    checkpoint_root,
    design_body,
    expected_parts,
    key,
    now_plus,
    policy,
    proposal_body,
    request_body,
    verify_inclusion,
    workshop_body,
)

from governance.electorate import tally_of_entry
from node.appkeys import LOG
from protocol.errors import Unauthorised
from protocol.keys import AgentKey
from protocol.records import Envelope, Record, parse_time
from protocol.signing import leaf_bytes, sign

ANA, BEN, CAROL, DAVE, OWNER, FUND = (
    key("ana"),
    key("ben"),
    key("carol"),
    key("dave"),
    key("owner"),
    key("fund"),
)
SLUG = "c-fab"


async def append(node: Any, signer: AgentKey, type_: str, body: dict[str, Any],
                 created: str | None = None) -> str:  # fmt: skip
    """Append a record to the node's own log as its authority rules judge it; its id."""
    record = Record(type=type_, author=signer.did, created=created or now_plus(), body=body)
    result = await node.app[LOG].append(sign(record, signer))
    return result.id


async def adopt_policy(node: Any, policy_body: dict[str, Any]) -> str:
    """C's members vote a ledger.policy proposal through; the node closes and executes it.

    The window closes an hour ahead, so no background closer acts before
    the node's result, which the test signs at the closing time.
    """
    opens, closes = now_plus(-1), now_plus(3600)
    proposal = await append(node, CAROL, "proposal", proposal_body(policy_body, opens, closes))
    for voter in (CAROL, DAVE):
        await append(node, voter, "ballot", {"proposal": proposal, "choice": "yes"})
    head = await node.store.head(node.key.did)
    entry = head.authority.extensions["governance"]["open"][proposal]
    tally = tally_of_entry(entry, proposal, now=parse_time(closes)).to_dict()
    result = await append(
        node, node.key, "proposal.result", {"proposal": proposal, "tally": tally}, closes
    )
    # The node's own governance executor may have put it in force first.
    with contextlib.suppress(Unauthorised):
        await append(node, node.key, "ledger.policy", {**policy_body, "decision": result})
    return result


async def wait_json(node: Any, path: str, probe: Any, what: str, timeout_s: float = 15) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        reply = await node.get(path)
        assert reply.status == 200, reply.body
        data = reply.json()
        if probe(data):
            return data
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {data}")
        await asyncio.sleep(0.1)


async def follow(follower: Any, peer: Any) -> None:
    admin = {"Authorization": f"Bearer {follower.token}"}
    reply = await follower.request(
        "POST", "/api/v1/admin/peers", json={"url": peer.url("")}, headers=admin
    )
    assert reply.status in (200, 201), reply.body


async def sync(follower: Any, peer: Any) -> dict[str, Any]:
    admin = {"Authorization": f"Bearer {follower.token}"}
    reply = await follower.request(
        "POST", f"/api/v1/admin/peers/{peer.key.did}/sync", headers=admin
    )
    assert reply.status == 200, reply.body
    result: dict[str, Any] = reply.json()
    return result


async def complete_job(node: Any, job: str, job_log: str, amount: int) -> str:
    answer = {"job": job, "job_log": job_log, "workshop": SLUG}
    await append(node, OWNER, "job.accept", {**answer, "offer": "sha256:" + "0" * 64})
    for status in ("in_production", "shipped", "delivered"):
        await append(node, OWNER, "job.status", {**answer, "status": status})
    paid = {"amount": amount, "currency": "EUR"}
    return await append(node, OWNER, "job.complete", {**answer, "paid": paid})


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_completed_job_is_shared_and_recomputed(node_factory: Any) -> None:
    a = await node_factory("Coop A")
    c = await node_factory("Coop C")
    for member in (ANA, BEN):
        await a.admit(member.did)
    for member in (CAROL, DAVE):
        await c.admit(member.did)
    parent = await append(a, BEN, "design", design_body("Bracket", BEN, []))
    child = await append(a, ANA, "design", design_body("Bracket v2", ANA, [parent], sha="b" * 64))
    job1 = await append(a, ANA, "job.request", request_body(child, a.key.did))
    job2 = await append(a, ANA, "job.request", request_body(child, a.key.did), created=now_plus(1))
    await append(c, c.key, "workshop.register", workshop_body(SLUG, OWNER))
    await adopt_policy(c, policy(1, FUND))
    await follow(c, a)
    await sync(c, a)

    complete1 = await complete_job(c, job1, a.key.did, V1_TOTAL)
    data = await wait_json(
        c, f"/api/v1/ledger/distributions?job={job1}", lambda d: d["distributions"], "sharing"
    )
    [shared] = data["distributions"]
    assert shared["log"] == c.key.did
    assert shared["complete"] == complete1
    assert shared["policy_version"] == 1
    assert shared["total"] == {"amount": V1_TOTAL, "currency": "EUR"}
    v1_parts = expected_parts(
        1,
        V1_AMOUNTS,
        workshop=c.key.did,
        gen0=(ANA.did, child),
        gen1=(BEN.did, parent),
        fund=FUND.did,
    )
    assert shared["parts"] == v1_parts

    # A new policy adopted now applies to the next job, not to the one just shared.
    await adopt_policy(c, policy(2, FUND, **V2_CHANGES))
    await complete_job(c, job2, a.key.did, V2_TOTAL)
    data = await wait_json(
        c, f"/api/v1/ledger/distributions?job={job2}", lambda d: d["distributions"], "job 2"
    )
    assert data["distributions"][0]["parts"] == expected_parts(
        2,
        V2_AMOUNTS,
        workshop=c.key.did,
        gen0=(ANA.did, child),
        gen1=(BEN.did, parent),
        fund=FUND.did,
    )
    policies = (await c.get(f"/api/v1/ledger/policies?log={c.key.did}")).json()["policies"]
    assert [p["version"] for p in policies] == [1, 2]

    # A follows C, verifies its distributions and agrees with both.
    await follow(a, c)
    await sync(a, c)
    data = await wait_json(
        a,
        "/api/v1/ledger/distributions",
        lambda d: (
            len(d["distributions"]) == 2
            and all(x["agreement"] == "agree" for x in d["distributions"])
        ),
        "A's verdicts",
    )
    assert {d["job"]: d["parts"][1]["amount"] for d in data["distributions"]} == {
        job1: V1_AMOUNTS["gen0"],
        job2: V2_AMOUNTS["gen0"],
    }

    balances = (await a.get("/api/v1/ledger/balances")).json()
    money = {(m["agent"], m["currency"]): m["amount"] for m in balances["money"]}
    assert money == {
        (c.key.did, "EUR"): 7001 + 6000,
        (ANA.did, "EUR"): 1333 + 2000,
        (BEN.did, "EUR"): 667 + 1000,
        (FUND.did, "EUR"): 1000 + 1000,
    }

    # Ana's statement on A: both distributions, each proven against C's checkpoint.
    statement = (await a.get(f"/api/v1/ledger/agents/{ANA.did}")).json()
    assert statement["money"] == [{"currency": "EUR", "amount": 3333}]
    assert [e["type"] for e in statement["entries"]] == ["ledger.distribution"] * 2
    note = statement["checkpoints"][c.key.did]["note"]
    size, root = checkpoint_root(note)
    for entry in statement["entries"]:
        assert entry["parts"][0]["agent"] == ANA.did
        leaf = json.dumps(entry["envelope"], separators=(",", ":"), sort_keys=True,
                          ensure_ascii=False).encode()  # fmt: skip
        proof = entry["proof"]
        assert proof["tree_size"] == size
        assert verify_inclusion(leaf, entry["index"], size, proof["hashes"], root)
        assert not verify_inclusion(leaf + b" ", entry["index"], size, proof["hashes"], root)


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_contributions_confirmations_and_corrections(node_factory: Any) -> None:
    c = await node_factory("Coop C")
    for member in (CAROL, DAVE):
        await c.admit(member.did)

    def work(hours: str, **extra: Any) -> dict[str, Any]:
        return {
            "action": "work",
            "provider": CAROL.did,
            "receiver": DAVE.did,
            "at": "2025-03-01T09:00:00Z",
            "effort_quantity": {"value": hours, "unit": "hour"},
            **extra,
        }

    first = await append(c, CAROL, "ledger.contribution", work("8"))
    second = await append(c, CAROL, "ledger.contribution", work("2.5", note="sanding"))
    await append(c, DAVE, "ledger.confirm", {"contribution": second, "log": c.key.did})
    # Carol confirming her own entry does not make it confirmed: she is not the receiver.
    await append(c, CAROL, "ledger.confirm", {"contribution": first, "log": c.key.did})
    fix = await append(c, CAROL, "ledger.contribution", work("6", corrects=first))
    # A contribution signed by someone other than its provider never enters.
    with pytest.raises(Unauthorised):
        await append(c, DAVE, "ledger.contribution", work("100"))

    balances = (await c.get("/api/v1/ledger/balances")).json()
    # 8 h reversed by the correction (6 h), plus 2.5 h: 8.5 h.
    assert balances["contributions"] == [
        {"agent": CAROL.did, "action": "work", "kind": "effort", "unit": "hour",
         "quantity": "8.5"},
    ]  # fmt: skip
    statement = (await c.get(f"/api/v1/ledger/agents/{CAROL.did}")).json()
    by_id = {e["id"]: e for e in statement["entries"] if e["type"] == "ledger.contribution"}
    assert by_id[first]["corrected_by"] == fix
    assert by_id[first]["confirmed"] is False
    assert by_id[second]["confirmed"] is True
    assert by_id[fix]["void"] is None
    assert statement["contributions"] == [
        {"action": "work", "kind": "effort", "unit": "hour", "quantity": "8.5"}
    ]
    note = statement["checkpoints"][c.key.did]["note"]
    size, root = checkpoint_root(note)
    for entry in statement["entries"]:
        leaf = leaf_bytes(Envelope.from_dict(entry["envelope"]))
        assert verify_inclusion(leaf, entry["index"], size, entry["proof"]["hashes"], root)
    dave = (await c.get(f"/api/v1/ledger/agents/{DAVE.did}")).json()
    assert {e["type"] for e in dave["entries"]} == {"ledger.contribution", "ledger.confirm"}

    export = await c.get("/api/v1/ledger/export.jsonld")
    assert export.status == 200
    assert export.headers["Content-Type"].startswith("application/ld+json")
    doc = export.json()
    assert doc["@context"]["vf"] == "https://w3id.org/valueflows/ont/vf#"
    events = {n["@id"]: n for n in doc["@graph"]}
    corrected = events["urn:fabcommons:record:" + fix]
    assert corrected["@type"] == "vf:EconomicEvent"
    assert corrected["action"] == "https://w3id.org/valueflows/ont/vf#work"
    assert corrected["corrects"] == "urn:fabcommons:record:" + first
    assert corrected["effortQuantity"]["hasNumericalValue"] == "6"
    assert corrected["effortQuantity"]["hasUnit"].endswith("om-2/hour")


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/ledger/agents/did:key:nope",
        "/api/v1/ledger/agents/" + "did:key:z6Mk" + "1" * 44,
        f"/api/v1/ledger/agents/{key('x').did}?limit=0",
        f"/api/v1/ledger/agents/{key('x').did}?limit=100000",
        f"/api/v1/ledger/agents/{key('x').did}?surprise=1",
        "/api/v1/ledger/distributions?job=12",
        "/api/v1/ledger/distributions?offset=-1",
        "/api/v1/ledger/distributions?limit=abc",
        "/api/v1/ledger/policies?log=nobody",
        "/api/v1/ledger/balances?x=1",
        "/api/v1/ledger/export.jsonld?limit=0",
    ],
    ids=[
        "bad-did",
        "bad-key",
        "zero-limit",
        "huge-limit",
        "unknown-param",
        "bad-job",
        "negative-offset",
        "text-limit",
        "bad-log",
        "balances-param",
        "export-limit",
    ],
)
async def test_bad_parameters_are_problems(
    node_factory: Any, check_problem: Any, path: str
) -> None:
    node = await node_factory()
    check_problem(await node.get(path), 400)


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_an_empty_ledger(node_factory: Any) -> None:
    node = await node_factory()
    assert (await node.get("/api/v1/ledger/balances")).json() == {"money": [], "contributions": []}
    statement = (await node.get(f"/api/v1/ledger/agents/{ANA.did}")).json()
    assert statement["entries"] == []
    assert statement["truncated"] is False
    assert (await node.get("/api/v1/ledger/distributions")).json() == {"distributions": []}


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_cli_statement_verifies_proofs(node_factory: Any, capsys: Any) -> None:
    from node.cli import main

    c = await node_factory("Coop C")
    for member in (CAROL, DAVE):
        await c.admit(member.did)
    body = {
        "action": "deliverService",
        "provider": CAROL.did,
        "receiver": DAVE.did,
        "at": "2025-03-01T09:00:00Z",
        "effort_quantity": {"value": "1.25", "unit": "hour"},
    }
    contribution = await append(c, CAROL, "ledger.contribution", body)
    await append(c, DAVE, "ledger.confirm", {"contribution": contribution, "log": c.key.did})
    url = c.url("").rstrip("/")
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["ledger", "statement", CAROL.did, "--node", url, "--csv"])
    out = capsys.readouterr().out
    assert code == 0
    lines = out.strip().split("\n")
    assert lines[0].startswith("log,index,id,type,action,provider")
    assert len(lines) == 2
    fields = lines[1].split(",")
    assert fields[2] == contribution
    assert fields[4] == "deliverService"
    assert fields[7:9] == ["1.25", "hour"]
    assert fields[12] == "yes"  # confirmed by its receiver
    assert fields[-1] == "verified"  # proof checked against C's signed checkpoint
    code = await asyncio.to_thread(main, ["ledger", "statement", CAROL.did, "--node", url])
    out = capsys.readouterr().out
    assert code == 0
    assert "Ledger statement of" in out
    assert "deliverService" in out
    assert "verified" in out

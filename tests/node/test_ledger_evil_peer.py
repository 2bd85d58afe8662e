"""A peer's log with a ledger entry its own rules refuse is invalid (specs/07-ledger.md §5).

The lying peer (tests/faults/peers/evil_peer.py) serves a log built here
leaf by leaf: members, a workshop, a value-sharing policy adopted by vote,
a completed job, then its distribution. An in-process node follows it.
With the distribution the policy gives, the peer is `ok` and its
distribution is projected; with one cent moved, or with a contribution
signed by someone other than its provider, the peer is `invalid` and
nothing from the bad entry on is stored (the honest prefix, synced first, stays).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from ledgerkit import V1_AMOUNTS, V1_TOTAL, LogBuilder, expected_parts, key, policy, workshop_body

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "faults" / "peers"))

from evil_peer import EvilPeer

ANA, BEN, FUND = key("evil ana"), key("evil ben"), key("evil fund")
DESIGN_A, DESIGN_B = "sha256:" + "a" * 64, "sha256:" + "b" * 64
JOB = "sha256:" + "1" * 64
JOB_LOG = key("evil job log").did
SLUG = "evil-fab"


@pytest.fixture
async def evil() -> AsyncIterator[EvilPeer]:
    peer = EvilPeer(name="Evil Ledger Coop")
    await peer.start()
    try:
        yield peer
    finally:
        await peer.close()


def honest_prefix(peer: EvilPeer) -> tuple[LogBuilder, str, str]:
    """Members, workshop, adopted policy v1 in force, a completed job: (log, policy, complete)."""
    log = LogBuilder(peer.key)
    voters = [peer.member, peer.stranger]
    for voter in voters:
        log.add(peer.key, "member.admit", {"member": voter.did, "role": "member"})
    log.add(peer.key, "workshop.register", workshop_body(SLUG, peer.member))
    policy_body = policy(1, FUND)
    result = log.adopt_policy(voters, policy_body)
    policy_id = log.add(peer.key, "ledger.policy", {**policy_body, "decision": result})
    complete = log.complete_job(peer.member, JOB, JOB_LOG, SLUG, V1_TOTAL)
    return log, policy_id, complete


def distribution(peer: EvilPeer, policy_id: str, complete: str) -> dict[str, Any]:
    return {
        "complete": complete,
        "job": JOB,
        "job_log": JOB_LOG,
        "workshop": SLUG,
        "policy": policy_id,
        "policy_version": 1,
        "total": {"amount": V1_TOTAL, "currency": "EUR"},
        "designers": [
            {"generation": 0, "design": DESIGN_A, "log": JOB_LOG, "agent": ANA.did},
            {"generation": 1, "design": DESIGN_B, "log": JOB_LOG, "agent": BEN.did},
        ],
        "parts": expected_parts(
            1,
            V1_AMOUNTS,
            workshop=peer.key.did,
            gen0=(ANA.did, DESIGN_A),
            gen1=(BEN.did, DESIGN_B),
            fund=FUND.did,
        ),
    }


async def follow_and_sync(node: Any, peer: EvilPeer) -> dict[str, Any]:
    admin = {"Authorization": f"Bearer {node.token}"}
    reply = await node.request("POST", "/api/v1/admin/peers", json={"url": peer.url}, headers=admin)
    assert reply.status in (200, 201), reply.body
    return await sync(node, peer)


async def sync(node: Any, peer: EvilPeer) -> dict[str, Any]:
    admin = {"Authorization": f"Bearer {node.token}"}
    reply = await node.request("POST", f"/api/v1/admin/peers/{peer.key.did}/sync", headers=admin)
    assert reply.status == 200, reply.body
    result: dict[str, Any] = reply.json()
    return result


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_distribution_that_follows_the_policy_is_accepted(
    node_factory: Any, evil: EvilPeer
) -> None:
    log, policy_id, complete = honest_prefix(evil)
    log.add(evil.key, "ledger.distribution", distribution(evil, policy_id, complete))
    evil.serve(log.leaves)
    node = await node_factory()
    peer = await follow_and_sync(node, evil)
    assert (peer["state"], peer["verified_size"]) == ("ok", len(log.leaves)), peer
    shared = (await node.get(f"/api/v1/ledger/distributions?job={JOB}")).json()["distributions"]
    assert [d["parts"][0]["amount"] for d in shared] == [V1_AMOUNTS["workshop"]]
    # This node knows neither the job.request nor the designs: it cannot judge the chain.
    assert shared[0]["agreement"] in ("pending", "unknown")


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("lie", ["cent-moved", "old-policy-version", "contribution-by-another"])
async def test_a_ledger_entry_its_rules_refuse_makes_the_peer_invalid(
    node_factory: Any, evil: EvilPeer, lie: str
) -> None:
    log, policy_id, complete = honest_prefix(evil)
    good = len(log.leaves)
    evil.serve(log.leaves)
    node = await node_factory()
    peer = await follow_and_sync(node, evil)
    assert (peer["state"], peer["verified_size"]) == ("ok", good), peer
    if lie == "contribution-by-another":
        # Signed by the member, naming the other member as its provider.
        log.add_unchecked(
            evil.member,
            "ledger.contribution",
            {
                "action": "work",
                "provider": evil.stranger.did,
                "receiver": evil.key.did,
                "at": "2030-01-06T12:00:00Z",
                "effort_quantity": {"value": "40", "unit": "hour"},
            },
        )
    else:
        body = distribution(evil, policy_id, complete)
        if lie == "cent-moved":
            body["parts"][0]["amount"] += 1
            body["parts"][3]["amount"] -= 1
        else:
            for part in body["parts"]:
                part["policy_version"] = 2
            body["policy_version"] = 2
        log.add_unchecked(evil.key, "ledger.distribution", body)
    # An honest entry after the lie: it must not be stored either.
    log.add(evil.member, "member.profile", {"display_name": "After"})
    evil.serve(log.leaves)
    peer = await sync(node, evil)
    assert (peer["state"], peer["verified_size"]) == ("invalid", good), peer
    assert (await node.get("/api/v1/ledger/distributions")).json() == {"distributions": []}
    assert (await node.get("/api/v1/ledger/balances")).json()["contributions"] == []

"""Governance end to end over HTTP on two federated nodes (issue 7's acceptance).

A and B are real `fabcommons serve` processes. Members of A vote with keys
only the test (their client) holds: over HTTP, and once through the
`fabcommons vote` command. A closes each proposal when its window of a few
seconds ends; B follows A's log, recomputes the tallies from it and agrees;
the test counts the ballots of A's log again by hand and agrees too. The
proposal to admit a member, once adopted, admits them: they can then append.
A ballot forged for another member, replayed after the close, or sent by a
member who left is refused with a clear 4xx and never counted. Every wait is
bounded.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fednet import CLI_TIMEOUT_S, FedNet, FedNode, child_env, cli_argv, federate, wait_for

from node.client import NodeClient
from node.errors import NodeClientError
from protocol.keys import AgentKey, save_key
from protocol.records import Envelope, Record, format_time
from protocol.signing import leaf_bytes, signing_input

pytestmark = pytest.mark.slow

WINDOW_S = 6.0


def at(offset_s: float) -> str:
    return format_time(datetime.now(UTC) + timedelta(seconds=offset_s))


def leaf(key: AgentKey, type_: str, body: dict[str, Any]) -> bytes:
    record = Record(type=type_, author=key.did, created=at(0), body=body)
    return leaf_bytes(Envelope(record=record, sig=key.sign(signing_input(record))))


async def post(node: FedNode, key: AgentKey, path: str, data: bytes) -> tuple[int, Any]:
    """A signed POST; (status, JSON answer or problem)."""
    async with NodeClient(node.url) as client:
        try:
            return await client.signed_post(key, path, data, "application/json")
        except NodeClientError as exc:
            return exc.status, exc.problem


async def propose(node: FedNode, key: AgentKey, **terms: Any) -> str:
    body = {
        "title": terms.pop("title"),
        "text": "Decided by the members of A.",
        "opens": at(-1),
        "closes": at(WINDOW_S),
        "quorum": {"num": 1, "den": 2},
        **terms,
    }
    status, answer = await post(node, key, "/api/v1/proposals", leaf(key, "proposal", body))
    assert status == 201, answer
    pid: str = answer["id"]
    return pid


async def ballot(node: FedNode, key: AgentKey, pid: str, form: dict[str, Any]) -> tuple[int, Any]:
    data = leaf(key, "ballot", {"proposal": pid, **form})
    return await post(node, key, f"/api/v1/proposals/{pid}/ballots", data)


def cli_vote(node: FedNode, key_file: Path, pid: str, choice: str) -> str:
    done = subprocess.run(
        [*cli_argv(), "vote", pid, choice, "--key", str(key_file), "--node", node.url],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=CLI_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def view(node: FedNode, pid: str, log: str) -> dict[str, Any]:
    answer: dict[str, Any] = await node.get_json(f"/api/v1/proposals/{pid}?log={log}")
    return answer


def count_by_hand(leaves: list[bytes], pid: str, electorate: set[str]) -> dict[str, Any]:
    """Majority counts from raw leaves: each member's last ballot before the result."""
    last: dict[str, str] = {}
    for raw in leaves:
        record = json.loads(raw)["record"]
        if record["type"] == "proposal.result" and record["body"]["proposal"] == pid:
            break
        body = record["body"]
        if (
            record["type"] == "ballot"
            and body["proposal"] == pid
            and record["author"] in electorate
        ):
            last[record["author"]] = body["choice"]
    counts = {"yes": 0, "no": 0}
    for choice in last.values():
        counts[choice] += 1
    return counts


async def test_two_nodes_vote_close_agree_and_admit(fednet: FedNet, tmp_path: Path) -> None:
    a, b = fednet.node("A"), fednet.node("B")
    await a.start()
    await b.start()
    await federate([a, b])
    keys = {n: AgentKey.generate() for n in ("ana", "ben", "cat", "leo", "dan", "eve")}
    for name in ("ana", "ben", "cat", "leo"):
        await a.admit(keys[name].did)
    ana_file = tmp_path / "ana.key"
    save_key(keys["ana"], ana_file)
    electorate = {keys[n].did for n in ("ana", "ben", "cat", "leo")}

    admit_dan = {"kind": "member.admit", "params": {"member": keys["dan"].did, "role": "member"}}
    p1 = await propose(
        a,
        keys["ben"],
        title="Admit Dan",
        options=["yes", "no"],
        method="majority",
        action=admit_dan,
    )
    p2 = await propose(
        a, keys["cat"], title="Next machine", options=["laser", "cnc", "printer"], method="ranked"
    )

    # Leo leaves after the proposals were made: his later ballot is refused.
    leave = leaf(keys["leo"], "member.leave", {"member": keys["leo"].did})
    assert (await post(a, keys["leo"], "/api/v1/records", leave))[0] == 201
    status, problem = await ballot(a, keys["leo"], p1, {"choice": "no"})
    assert (status, problem["type"].rsplit("/", 1)[1]) == (403, "not-a-member")

    # Ana votes through the CLI with her key file; Ben changes his mind; Cat votes no.
    assert "ballot sha256:" in cli_vote(a, ana_file, p1, "yes")
    assert (await ballot(a, keys["ben"], p1, {"choice": "no"}))[0] == 201
    assert (await ballot(a, keys["ben"], p1, {"choice": "yes"}))[0] == 201
    assert (await ballot(a, keys["cat"], p1, {"choice": "no"}))[0] == 201
    for name, ranking in [
        ("ana", ["cnc", "laser"]),
        ("ben", ["laser"]),
        ("cat", ["printer", "cnc"]),
    ]:
        assert (await ballot(a, keys[name], p2, {"ranking": ranking}))[0] == 201

    # Eve forges a ballot for Cat: signed with her own key, or sent in her own request.
    record = Record(
        type="ballot", author=keys["cat"].did, created=at(0), body={"proposal": p1, "choice": "yes"}
    )
    forged = leaf_bytes(Envelope(record=record, sig=keys["eve"].sign(signing_input(record))))
    status, problem = await post(a, keys["eve"], f"/api/v1/proposals/{p1}/ballots", forged)
    assert (status, problem["type"].rsplit("/", 1)[1]) == (403, "signer-not-author")
    status, problem = await ballot(a, keys["eve"], p1, {"choice": "yes"})
    assert (status, problem["type"].rsplit("/", 1)[1]) == (403, "not-a-member")
    # A ballot Ben signs now but that only arrives after the close.
    late = leaf(keys["ben"], "ballot", {"proposal": p1, "choice": "no"})

    async def closed(pid: str) -> dict[str, Any] | None:
        v = await view(a, pid, a.did)
        return v if v["status"] == "closed" else None

    v1 = await wait_for(lambda: closed(p1), "proposal 1 closes on A", timeout_s=WINDOW_S + 20)
    v2 = await wait_for(lambda: closed(p2), "proposal 2 closes on A", timeout_s=20)
    status, problem = await post(a, keys["ben"], f"/api/v1/proposals/{p1}/ballots", late)
    assert (status, problem["type"].rsplit("/", 1)[1]) == (409, "proposal-closed")

    # Majority: Ana yes, Ben yes (his last), Cat no; Leo's ballot was refused. 3 of 4 voted.
    t1 = v1["tally"]
    assert (t1["counts"], t1["winner"], t1["adopted"]) == ({"yes": 2, "no": 1}, "yes", True)
    assert (t1["electorate"], t1["voters"], t1["quorum_met"]) == (4, 3, True)
    # Ranked: laser 1, cnc 1, printer 1 tie; printer, then the rest by hash or rounds.
    t2 = v2["tally"]
    assert t2["rounds"][0]["counts"] == {"laser": 1, "cnc": 1, "printer": 1}
    assert sum(t2["rounds"][0]["counts"].values()) == 3

    # The adopted admission is executed: Dan is a member of A and can append.
    v1 = await wait_for(lambda: _executed(a, p1), "the admission of Dan is executed", timeout_s=20)
    profile = leaf(keys["dan"], "member.profile", {"display_name": "Dan"})
    assert (await post(a, keys["dan"], "/api/v1/records", profile))[0] == 201

    # B follows A's log, recomputes both tallies from it and agrees.
    await b.sync(a.did)
    size = (await a.get_json("/healthz"))["log_size"]
    await wait_for(lambda: _verified(b, a.did, size), "B verified A's whole log", timeout_s=20)
    for pid, published in ((p1, t1), (p2, t2)):
        on_b = await view(b, pid, a.did)
        assert on_b["log"] == a.did
        assert on_b["status"] == "closed"
        assert on_b["result"]["agreement"] == "agrees", on_b["result"]
        assert on_b["tally"] == published
    assert (await view(b, p1, a.did))["execution"]["state"] == "executed"

    # And by hand, from the leaves B mirrors: each member's last ballot before the result.
    leaves = await b.leaves(size, a.did)
    assert count_by_hand(leaves, p1, electorate) == t1["counts"]


async def _executed(node: FedNode, pid: str) -> dict[str, Any] | None:
    v = await view(node, pid, node.did)
    return v if (v.get("execution") or {}).get("state") == "executed" else None


async def _verified(follower: FedNode, did: str, size: int) -> bool:
    peer = (await follower.peers())[did]
    return bool(peer["state"] == "ok" and peer["verified_size"] >= size)

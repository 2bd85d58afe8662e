"""Governance over the node's HTTP API, in process (specs/06-governance.md §10).

Members sign proposals and ballots with keys the test holds; the node's
closing task appends the result when the (seconds-long) window ends. Every
refusal is a precise problem+json and leaves the log unchanged; expected
tallies are worked by hand.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from protocol.keys import AgentKey
from protocol.records import Envelope, Record, format_time
from protocol.signing import leaf_bytes, record_id, sign, signing_input

# The rules do not depend on the storage backend; SQLite is enough here.
pytestmark = pytest.mark.parametrize("backend", ["sqlite"])

WINDOW_S = 2.0
WAIT_S = 15.0


def now_text(offset_s: float = 0.0) -> str:
    return format_time(datetime.now(UTC) + timedelta(seconds=offset_s))


def signed(key: AgentKey, type_: str, body: dict[str, Any], created: str | None = None) -> Any:
    record = Record(type=type_, author=key.did, created=created or now_text(), body=body)
    return sign(record, key)


def proposal_body(closes_in_s: float = WINDOW_S, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Buy filament in bulk",
        "text": "Twenty spools of PETG from the co-op down the road.",
        "options": ["yes", "no"],
        "method": "majority",
        "opens": now_text(-1),
        "closes": now_text(closes_in_s),
        "quorum": {"num": 1, "den": 2},
    }
    body.update(extra)
    return body


async def propose(node: Any, key: AgentKey, body: dict[str, Any]) -> tuple[int, Any]:
    envelope = signed(key, "proposal", body)
    reply = await node.signed_post(key, "/api/v1/proposals", leaf_bytes(envelope))
    return reply.status, reply.json()


async def vote(
    node: Any, key: AgentKey, pid: str, choice: Any, *, signer: AgentKey | None = None,
    created: str | None = None, path_id: str | None = None,
) -> Any:  # fmt: skip
    form = choice if isinstance(choice, dict) else {"choice": choice}
    envelope = signed(key, "ballot", {"proposal": pid, **form}, created)
    return await node.signed_post(
        signer or key, f"/api/v1/proposals/{path_id or pid}/ballots", leaf_bytes(envelope)
    )


async def wait_closed(node: Any, pid: str, *, executed: bool = False) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        reply = await node.get(f"/api/v1/proposals/{pid}")
        view: dict[str, Any] = reply.json()
        done = view["status"] == "closed"
        if executed:
            done = done and (view["execution"] or {}).get("state") in ("executed", "failed")
        if done:
            return view
        await asyncio.sleep(0.1)
    raise AssertionError(f"proposal {pid} did not close in {WAIT_S} s: {view}")


@pytest.fixture
async def coop(node_factory: Any, make_key: Any) -> tuple[Any, dict[str, AgentKey]]:
    node = await node_factory()
    keys = {name: make_key(f"proposals/{name}") for name in ("ana", "ben", "cat", "dan", "eve")}
    for name in ("ana", "ben", "cat"):
        await node.admit(keys[name].did)
    return node, keys


async def test_vote_change_close_and_result(coop: Any) -> None:
    node, k = coop
    status, answer = await propose(node, k["ana"], proposal_body())
    assert status == 201, answer
    pid = answer["id"]
    for key, choice in [("ana", "yes"), ("ben", "yes"), ("ben", "no"), ("cat", "yes")]:
        reply = await vote(node, k[key], pid, choice)
        assert reply.status == 201, reply.body
    view = (await node.get(f"/api/v1/proposals/{pid}")).json()
    assert view["status"] == "open"
    assert view["tally"]["counts"] == {"yes": 2, "no": 1}  # Ben's last ballot counts
    assert view["tally"]["final"] is False
    assert view["ballots_cast"] == 4
    assert {b["voter"]: b["choice"] for b in view["ballots"]} == {
        k["ana"].did: "yes",
        k["ben"].did: "no",
        k["cat"].did: "yes",
    }
    closed = await wait_closed(node, pid)
    tally = closed["tally"]
    assert tally["final"] is True
    assert (tally["counts"], tally["winner"], tally["adopted"]) == (
        {"yes": 2, "no": 1},
        "yes",
        True,
    )
    assert (tally["electorate"], tally["voters"], tally["quorum_met"]) == (3, 3, True)
    assert closed["result"]["agreement"] == "agrees"
    record = (await node.get(f"/fed/v1/records/{closed['result']['id']}")).json()
    assert record["envelope"]["record"]["type"] == "proposal.result"
    assert record["envelope"]["record"]["author"] == node.key.did
    assert record["envelope"]["record"]["body"]["tally"] == tally
    listed = (await node.get("/api/v1/proposals", params={"status": "closed"})).json()
    assert [p["id"] for p in listed["proposals"]] == [pid]
    assert (await node.get("/api/v1/proposals", params={"status": "open"})).json()["total"] == 0


async def test_refused_ballots_are_clear_problems_and_never_counted(
    coop: Any, make_key: Any, check_problem: Any
) -> None:
    node, k = coop
    _, answer = await propose(node, k["ana"], proposal_body(closes_in_s=3.0))
    pid = answer["id"]
    await node.admit(k["dan"].did)  # admitted after the proposal
    assert (await vote(node, k["ana"], pid, "yes")).status == 201
    before = await node.state()

    # A ballot "from Ben" that Eve signed with her own key: refused whoever sends it.
    record = Record(
        type="ballot",
        author=k["ben"].did,
        created=now_text(),
        body={"proposal": pid, "choice": "no"},
    )
    forged = leaf_bytes(Envelope(record=record, sig=k["eve"].sign(signing_input(record))))
    path = f"/api/v1/proposals/{pid}/ballots"
    problem = check_problem(await node.signed_post(k["eve"], path, forged), 403)
    assert problem["type"].endswith("/signer-not-author")
    problem = check_problem(await node.signed_post(k["ben"], path, forged), 422)
    assert problem["type"].endswith("/invalid-signature")
    # Ben's genuine ballot, but sent in a request Eve signed.
    problem = check_problem(await vote(node, k["ben"], pid, "no", signer=k["eve"]), 403)
    assert problem["type"].endswith("/signer-not-author")
    cases = [
        (vote(node, k["eve"], pid, "no"), 403, "not-a-member"),
        (vote(node, k["dan"], pid, "no"), 403, "not-in-electorate"),
        (vote(node, k["ben"], pid, "maybe"), 422, "invalid-ballot"),
        (vote(node, k["ben"], pid, {"ranking": ["no"]}), 422, "invalid-ballot"),
        (vote(node, k["ben"], "sha256:" + "1" * 64, "no"), 404, "unknown-proposal"),
        (vote(node, k["ben"], pid, "no", path_id="sha256:" + "1" * 64), 422, "proposal-mismatch"),
        (vote(node, k["ben"], pid, "no", created=now_text(-3600)), 409, "proposal-not-open"),
    ]
    for call, status, slug in cases:
        problem = check_problem(await call, status)
        assert problem["type"].endswith("/" + slug), problem
    # Cat leaves; her ballot afterwards is refused.
    leave = signed(k["cat"], "member.leave", {"member": k["cat"].did})
    assert (await node.post_envelope(leave, k["cat"])).status == 201
    problem = check_problem(await vote(node, k["cat"], pid, "no"), 403)
    assert problem["type"].endswith("/not-a-member")
    size_after_leave = await node.size()
    assert size_after_leave == before[0] + 1

    # Signed before the close, sent after it: refused, and so is a replay of Ana's ballot.
    early = signed(k["ben"], "ballot", {"proposal": pid, "choice": "no"})
    accepted = signed(k["ana"], "ballot", {"proposal": pid, "choice": "no"})
    assert (
        await node.signed_post(k["ana"], f"/api/v1/proposals/{pid}/ballots", leaf_bytes(accepted))
    ).status == 201
    closed = await wait_closed(node, pid)
    for key, envelope in [(k["ben"], early), (k["ana"], accepted)]:
        reply = await node.signed_post(
            key, f"/api/v1/proposals/{pid}/ballots", leaf_bytes(envelope)
        )
        assert check_problem(reply, 409)["type"].endswith("/proposal-closed")
        via_records = await node.post_envelope(envelope, key)
        check_problem(via_records, 409)
    # Only Ana's last ballot counted; the electorate is the three members at the proposal.
    assert closed["tally"]["counts"] == {"yes": 0, "no": 1}
    assert (closed["tally"]["electorate"], closed["tally"]["voters"]) == (3, 1)
    assert closed["tally"]["quorum_met"] is False
    assert closed["tally"]["adopted"] is False
    assert {b["voter"] for b in closed["ballots"]} == {k["ana"].did}
    assert record_id(accepted.record) in {b["record"] for b in closed["ballots"]}


async def test_refused_proposals(coop: Any, check_problem: Any) -> None:
    node, k = coop
    size = await node.size()
    status, problem = await propose(node, k["eve"], proposal_body())
    assert (status, problem["type"].split("/")[-1]) == (403, "not-a-member")
    status, problem = await propose(node, k["ana"], proposal_body(closes_in_s=-1))
    assert (status, problem["field"]) == (422, "body.closes")
    status, problem = await propose(node, k["ana"], proposal_body(options=["only one"]))
    assert (status, problem["type"].split("/")[-1], problem["field"]) == (
        422,
        "invalid-record",
        "body.options",
    )
    ballot = signed(k["ana"], "ballot", {"proposal": "sha256:" + "2" * 64, "choice": "x"})
    reply = await node.signed_post(k["ana"], "/api/v1/proposals", leaf_bytes(ballot))
    assert check_problem(reply, 422)["type"].endswith("/wrong-record-type")
    assert await node.size() == size


async def test_an_adopted_admission_admits_the_member(coop: Any) -> None:
    node, k = coop
    action = {"kind": "member.admit", "params": {"member": k["dan"].did, "role": "operator"}}
    _, answer = await propose(node, k["ana"], proposal_body(action=action))
    pid = answer["id"]
    for name in ("ana", "ben"):
        assert (await vote(node, k[name], pid, "yes")).status == 201
    # Dan is not a member yet: his profile is refused.
    profile = signed(k["dan"], "member.profile", {"display_name": "Dan"})
    assert (await node.post_envelope(profile, k["dan"])).status == 403
    view = await wait_closed(node, pid, executed=True)
    assert view["tally"]["adopted"] is True
    assert view["execution"]["state"] == "executed", view["execution"]
    admit = (await node.get(f"/fed/v1/records/{view['execution']['record']}")).json()
    body = admit["envelope"]["record"]["body"]
    assert body == {"member": k["dan"].did, "role": "operator", "result": view["result"]["id"]}
    members = (await node.get("/api/v1/members")).json()["members"]
    assert {"did": k["dan"].did, "role": "operator", "key": k["dan"].did} in members
    assert (await node.post_envelope(profile, k["dan"])).status == 201


async def test_a_decided_node_parameter_is_what_the_node_reads(coop: Any) -> None:
    node, k = coop
    assert (await node.get("/api/v1/log")).json()["required_cosignatures"] == 0
    action = {"kind": "node.parameter", "params": {"name": "required_cosignatures", "value": 2}}
    body = proposal_body(
        action=action,
        method="consent",
        options=["consent", "stand_aside", "block"],
        quorum={"num": 2, "den": 3},
    )
    _, answer = await propose(node, k["ben"], body)
    pid = answer["id"]
    assert (await vote(node, k["ana"], pid, "consent")).status == 201
    assert (await vote(node, k["ben"], pid, "stand_aside")).status == 201
    view = await wait_closed(node, pid, executed=True)
    assert view["tally"]["counts"] == {"consent": 1, "stand_aside": 1, "block": 0}
    assert view["execution"]["state"] == "executed"
    state = (await node.get("/api/v1/log")).json()
    assert state["required_cosignatures"] == 2
    # Nobody cosigned yet: nothing of the log is final any more.
    assert state["final_size"] == 0


async def test_a_blocked_consent_proposal_is_not_executed(coop: Any) -> None:
    node, k = coop
    action = {"kind": "member.admit", "params": {"member": k["eve"].did, "role": "member"}}
    body = proposal_body(
        action=action, method="consent", options=["consent", "stand_aside", "block"]
    )
    _, answer = await propose(node, k["ana"], body)
    pid = answer["id"]
    for name, choice in [("ana", "consent"), ("ben", "consent"), ("cat", "block")]:
        assert (await vote(node, k[name], pid, choice)).status == 201
    view = await wait_closed(node, pid)
    assert view["tally"]["counts"]["block"] == 1
    assert (view["tally"]["winner"], view["tally"]["adopted"]) == ("block", False)
    assert view["execution"] is None
    await asyncio.sleep(0.3)
    members = {m["did"] for m in (await node.get("/api/v1/members")).json()["members"]}
    assert k["eve"].did not in members


async def test_listing_parameters_are_checked(coop: Any, check_problem: Any) -> None:
    node, _ = coop
    for params in (
        {"status": "maybe"},
        {"limit": "0"},
        {"limit": "x"},
        {"limit": "\u00b2"},  # str.isdigit() says yes, int() says no
        {"offset": "\u0661\u0662"},  # Arabic-Indic 12: decimal ASCII only
        {"log": "me"},
        {"x": "1"},
    ):
        problem = check_problem(await node.get("/api/v1/proposals", params=params), 400)
        assert problem["parameter"] == next(iter(params))
    check_problem(await node.get("/api/v1/proposals/not-an-id"), 400)
    check_problem(await node.get("/api/v1/proposals/sha256:" + "3" * 64), 404)


async def test_delegated_votes_over_http(coop: Any) -> None:
    node, k = coop
    # Cat lends her vote on "tools" to Ben, through the ordinary records endpoint.
    lend = signed(k["cat"], "delegation", {"topic": "tools", "delegate": k["ben"].did})
    assert (await node.post_envelope(lend, k["cat"])).status == 201
    to_stranger = signed(k["ana"], "delegation", {"topic": "tools", "delegate": k["eve"].did})
    reply = await node.post_envelope(to_stranger, k["ana"])
    assert reply.status == 403  # Eve is not a member
    _, answer = await propose(node, k["ana"], proposal_body(delegation="tools"))
    pid = answer["id"]
    assert (await vote(node, k["ana"], pid, "yes")).status == 201
    assert (await vote(node, k["ben"], pid, "no")).status == 201
    view = await wait_closed(node, pid)
    tally = view["tally"]
    # Ben's "no" counts twice: his own and Cat's, who did not vote herself.
    assert (tally["counts"], tally["direct"], tally["delegated"]) == ({"yes": 1, "no": 2}, 2, 1)
    assert (tally["winner"], tally["adopted"]) == ("no", False)
    assert view["result"]["agreement"] == "agrees"


async def test_the_same_envelope_gets_the_same_answer(coop: Any) -> None:
    node, k = coop
    envelope = signed(k["ana"], "proposal", proposal_body(closes_in_s=1.0))
    first = await node.signed_post(k["ana"], "/api/v1/proposals", leaf_bytes(envelope))
    assert first.status == 201
    ballot = signed(k["ben"], "ballot", {"proposal": first.json()["id"], "choice": "no"})
    path = f"/api/v1/proposals/{first.json()['id']}/ballots"
    cast = await node.signed_post(k["ben"], path, leaf_bytes(ballot))
    assert cast.status == 201
    again = await node.signed_post(k["ben"], path, leaf_bytes(ballot))
    assert (again.status, again.json()) == (200, cast.json())
    await wait_closed(node, first.json()["id"])
    # After the close the proposal is still the same record: 200, same id and index.
    later = await node.signed_post(k["ana"], "/api/v1/proposals", leaf_bytes(envelope))
    assert (later.status, later.json()) == (200, first.json())

"""`ledger.*` records and their rules (governance/ledger.py, specs/07-ledger.md §2, §5).

The log's state is built with protocol.authority as a verifier replays a
log. Adopted governance decisions are put in the state in the shape the
governance contract fixes; a job.complete is noted through the ledger's
observer, as the authority does after the jobs rule admits one.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pytest

import governance  # noqa: F401  (registers the record types and rules)
from governance.actions import validate_action
from governance.ledger import (
    LedgerContribution,
    LedgerDistribution,
    LedgerPolicy,
    policy_in_force,
)
from protocol.authority import LogAuthority
from protocol.errors import InvalidRecord, Unauthorised
from protocol.keys import AgentKey
from protocol.records import Record, parse_body
from protocol.signing import record_id, sign

CREATED = "2025-03-04T05:06:07Z"


def key(name: str) -> AgentKey:
    return AgentKey.from_seed(hashlib.sha256(name.encode()).digest())


NODE, ALICE, BOB, STRANGER, FUND, OWNER = (
    key("node C"),
    key("alice"),
    key("bob"),
    key("stranger"),
    key("fund"),
    key("workshop owner"),
)
DESIGN_A = "sha256:" + "a" * 64
DESIGN_B = "sha256:" + "b" * 64
JOB = "sha256:" + "1" * 64
JOB_LOG = key("node A").did


def record(author: AgentKey, type_: str, body: dict[str, Any], created: str = CREATED) -> Record:
    return Record(type=type_, author=author.did, created=created, body=body)


def admit(state: LogAuthority, rec: Record) -> None:
    state.admit_entry(sign(rec, next(k for k in KEYS if k.did == rec.author)))


KEYS = (NODE, ALICE, BOB, STRANGER, FUND, OWNER)


@pytest.fixture
def state() -> LogAuthority:
    s = LogAuthority(node=NODE.did)
    for member in (ALICE, BOB):
        admit(s, record(NODE, "member.admit", {"member": member.did, "role": "member"}))
    place = {"lat": "52.520000", "lon": "13.405000", "country": "DE", "region": "Berlin"}
    workshop = {"workshop": "c-fab", "name": "C Fab", "place": place, "owners": [OWNER.did]}
    admit(s, record(NODE, "workshop.register", workshop))
    return s


def contribution(provider: AgentKey, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "action": "work",
        "provider": provider.did,
        "receiver": NODE.did,
        "at": "2025-03-01T09:00:00Z",
        "effort_quantity": {"value": "7.5", "unit": "hour"},
    }
    body.update(extra)
    return body


POLICY_V1: dict[str, Any] = {
    "version": 1,
    "workshop_bp": 7000,
    "designers_bp": 2000,
    "decay_bp": 5000,
    "max_generations": 3,
    "commons_bp": 1000,
    "commons_fund": FUND.did,
    "named": [],
    "currencies": ["EUR"],
}
POLICY_V2 = {**POLICY_V1, "version": 2, "workshop_bp": 6000, "designers_bp": 3000}


def adopt(state: LogAuthority, decision: str, policy: dict[str, Any]) -> None:
    """What governance's proposal.result effect records (contract: Governance)."""
    adopted = state.extensions.setdefault("governance", {}).setdefault("adopted", {})
    adopted[decision] = {
        "proposal": "sha256:" + "9" * 64,
        "action": {"kind": "ledger.policy", "params": {"policy": copy.deepcopy(policy)}},
        "executed": False,
    }


def put_policy(state: LogAuthority, policy: dict[str, Any], decision_char: str) -> str:
    decision = "sha256:" + decision_char * 64
    adopt(state, decision, policy)
    rec = record(NODE, "ledger.policy", {**policy, "decision": decision})
    admit(state, rec)
    return record_id(rec)


def job_of(n: int) -> str:
    return JOB if n == 0 else "sha256:" + f"{n:064x}"


def complete(state: LogAuthority, amount: int, currency: str = "EUR", n: int = 0) -> str:
    """A job of log A taken by workshop c-fab through to job.complete, signed by its owner."""
    job = job_of(n)
    answer = {"job": job, "job_log": JOB_LOG, "workshop": "c-fab"}
    offer = "sha256:" + "0" * 64
    admit(
        state,
        record(OWNER, "job.accept", {**answer, "offer": offer}, created=f"{CREATED[:-3]}{n:02d}Z"),
    )
    for status in ("in_production", "shipped", "delivered"):
        admit(state, record(OWNER, "job.status", {**answer, "status": status}))
    rec = record(
        OWNER, "job.complete", {**answer, "paid": {"amount": amount, "currency": currency}}
    )
    admit(state, rec)
    return record_id(rec)


def designers() -> list[dict[str, Any]]:
    return [
        {"generation": 0, "design": DESIGN_A, "log": JOB_LOG, "agent": ALICE.did},
        {"generation": 1, "design": DESIGN_B, "log": key("node B").did, "agent": BOB.did},
    ]


def distribution(
    complete_id: str,
    policy_id: str,
    version: int,
    parts: list[dict[str, Any]],
    amount: int = 10001,
    job: str = JOB,
) -> dict[str, Any]:
    return {
        "complete": complete_id,
        "job": job,
        "job_log": JOB_LOG,
        "workshop": "c-fab",
        "policy": policy_id,
        "policy_version": version,
        "total": {"amount": amount, "currency": "EUR"},
        "designers": designers(),
        "parts": parts,
    }


def parts_v1_10001() -> list[dict[str, Any]]:
    # Worked by hand (tests/governance/test_distribution.py): 7001, 1333, 667, 1000.
    return [
        {"agent": NODE.did, "reason": "workshop", "amount": 7001, "policy_version": 1},
        {
            "agent": ALICE.did,
            "reason": "designer",
            "amount": 1333,
            "policy_version": 1,
            "generation": 0,
            "design": DESIGN_A,
        },
        {
            "agent": BOB.did,
            "reason": "designer",
            "amount": 667,
            "policy_version": 1,
            "generation": 1,
            "design": DESIGN_B,
        },
        {"agent": FUND.did, "reason": "commons", "amount": 1000, "policy_version": 1},
    ]


# -- contributions and confirmations ------------------------------------------------------------


def test_contribution_round_trip() -> None:
    body = contribution(
        ALICE,
        resource_quantity={"value": "0.250", "unit": "kilogram"},
        resource="PLA filament",
        fulfils={"id": JOB, "log": JOB_LOG},
        corrects="sha256:" + "c" * 64,
        note="second shift",
    )
    parsed = parse_body(record(ALICE, "ledger.contribution", body))
    assert isinstance(parsed, LedgerContribution)
    assert parsed.to_dict() == body


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"action": "steal"}, "body.action"),
        ({"effort_quantity": {"value": "-1", "unit": "hour"}}, "body.effort_quantity.value"),
        ({"effort_quantity": {"value": "1.5e3", "unit": "hour"}}, "body.effort_quantity.value"),
        ({"effort_quantity": {"value": "01", "unit": "hour"}}, "body.effort_quantity.value"),
        ({"effort_quantity": {"value": 1, "unit": "hour"}}, "body.effort_quantity.value"),
        ({"effort_quantity": {"value": "1", "unit": "h our"}}, "body.effort_quantity.unit"),
        ({"effort_quantity": None}, "body.effort_quantity"),
        ({"at": "yesterday"}, "body.at"),
        ({"fulfils": {"id": JOB}}, "body.fulfils.log"),
        ({"corrects": "sha256:xyz"}, "body.corrects"),
        ({"extra": 1}, "body.extra"),
    ],
    ids=[
        "action",
        "negative",
        "exponent",
        "leading-zero",
        "number",
        "unit",
        "null",
        "time",
        "fulfils",
        "corrects",
        "unknown",
    ],
)
def test_bad_contributions_are_refused(change: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRecord) as caught:
        parse_body(record(ALICE, "ledger.contribution", contribution(ALICE, **change)))
    assert caught.value.field == field


def test_a_contribution_needs_a_quantity() -> None:
    body = contribution(ALICE)
    del body["effort_quantity"]
    with pytest.raises(InvalidRecord):
        parse_body(record(ALICE, "ledger.contribution", body))


def test_a_contribution_is_signed_by_its_provider(state: LogAuthority) -> None:
    admit(state, record(ALICE, "ledger.contribution", contribution(ALICE)))
    with pytest.raises(Unauthorised, match="provider"):
        admit(state, record(BOB, "ledger.contribution", contribution(ALICE)))
    with pytest.raises(Unauthorised, match="not an admitted member"):
        admit(state, record(STRANGER, "ledger.contribution", contribution(STRANGER)))
    with pytest.raises(Unauthorised):
        admit(state, record(NODE, "ledger.contribution", contribution(NODE)))


def test_a_workshop_owner_key_may_record_contributions(state: LogAuthority) -> None:
    admit(state, record(OWNER, "ledger.contribution", contribution(OWNER, action="use")))
    admit(state, record(OWNER, "ledger.confirm", {"contribution": JOB, "log": JOB_LOG}))
    admit(state, record(NODE, "workshop.retire", {"workshop": "c-fab"}))
    with pytest.raises(Unauthorised):
        admit(state, record(OWNER, "ledger.contribution", contribution(OWNER, note="later")))


def test_confirmations_come_from_members_or_the_node(state: LogAuthority) -> None:
    body = {"contribution": "sha256:" + "c" * 64, "log": JOB_LOG}
    admit(state, record(BOB, "ledger.confirm", body))
    admit(state, record(NODE, "ledger.confirm", body))
    with pytest.raises(Unauthorised):
        admit(state, record(STRANGER, "ledger.confirm", body))


# -- policies -----------------------------------------------------------------------------------


def test_a_policy_executes_an_adopted_decision_exactly(state: LogAuthority) -> None:
    decision = "sha256:" + "d" * 64
    body = {**POLICY_V1, "decision": decision}
    with pytest.raises(Unauthorised, match="not an adopted decision"):
        admit(state, record(NODE, "ledger.policy", body))
    adopt(state, decision, {**POLICY_V1, "workshop_bp": 6999, "commons_bp": 1001})
    with pytest.raises(Unauthorised, match="exactly"):
        admit(state, record(NODE, "ledger.policy", body))
    adopt(state, decision, POLICY_V1)
    with pytest.raises(Unauthorised, match="node key"):
        admit(state, record(ALICE, "ledger.policy", body))
    rec = record(NODE, "ledger.policy", body)
    admit(state, rec)
    assert state.extensions["governance"]["adopted"][decision]["executed"] is True
    in_force = policy_in_force(state)
    assert in_force is not None
    assert in_force[0] == record_id(rec)
    assert in_force[1].to_dict() == POLICY_V1
    with pytest.raises(Unauthorised, match="executed already"):
        admit(state, record(NODE, "ledger.policy", body, created="2025-03-05T00:00:00Z"))


def test_policy_versions_only_grow(state: LogAuthority) -> None:
    put_policy(state, POLICY_V2, "d")
    with pytest.raises(Unauthorised, match="does not follow"):
        put_policy(state, POLICY_V1, "e")


def test_a_policy_proposal_is_checked_when_proposed() -> None:
    validate_action("ledger.policy", {"policy": POLICY_V1})
    with pytest.raises(InvalidRecord) as caught:
        validate_action("ledger.policy", {"policy": {**POLICY_V1, "commons_bp": 999}})
    assert caught.value.field == "body.action.params.policy"
    with pytest.raises(InvalidRecord):
        validate_action(
            "ledger.policy", {"policy": {**POLICY_V1, "decision": "sha256:" + "d" * 64}}
        )


def test_policy_record_round_trip() -> None:
    body = {**POLICY_V1, "decision": "sha256:" + "d" * 64}
    parsed = parse_body(record(NODE, "ledger.policy", body))
    assert isinstance(parsed, LedgerPolicy)
    assert parsed.to_dict() == body
    with pytest.raises(InvalidRecord, match="decision"):
        parse_body(record(NODE, "ledger.policy", POLICY_V1))


# -- distributions ------------------------------------------------------------------------------


def test_a_distribution_that_follows_the_policy_is_admitted_once(state: LogAuthority) -> None:
    pid = put_policy(state, POLICY_V1, "d")
    cid = complete(state, 10001)
    body = distribution(cid, pid, 1, parts_v1_10001())
    parsed = parse_body(record(NODE, "ledger.distribution", body))
    assert isinstance(parsed, LedgerDistribution)
    assert parsed.to_dict() == body
    admit(state, record(NODE, "ledger.distribution", body))
    with pytest.raises(Unauthorised, match="awaiting"):
        admit(state, record(NODE, "ledger.distribution", body, created="2025-03-05T00:00:00Z"))


@pytest.mark.parametrize(
    "tamper",
    [
        "move-a-unit",
        "drop-commons",
        "wrong-agent",
        "wrong-version",
        "wrong-total",
        "other-workshop",
        "deep-chain",
        "member-signs",
    ],
)
def test_a_distribution_that_does_not_follow_the_policy_is_refused(
    state: LogAuthority, tamper: str
) -> None:
    pid = put_policy(state, POLICY_V1, "d")
    cid = complete(state, 10001)
    parts = parts_v1_10001()
    body = distribution(cid, pid, 1, parts)
    author = NODE
    if tamper == "move-a-unit":
        parts[0]["amount"] -= 1
        parts[3]["amount"] += 1
    elif tamper == "drop-commons":
        parts[0]["amount"] += parts.pop()["amount"]
    elif tamper == "wrong-agent":
        parts[3]["agent"] = BOB.did
    elif tamper == "wrong-version":
        body["policy_version"] = 2
    elif tamper == "wrong-total":
        body["total"]["amount"] = 10000
    elif tamper == "other-workshop":
        body["workshop"] = "elsewhere"
    elif tamper == "deep-chain":
        body["designers"] = [
            *designers(),
            {"generation": 2, "design": "sha256:" + "e" * 64, "log": JOB_LOG, "agent": BOB.did},
            {"generation": 3, "design": "sha256:" + "f" * 64, "log": JOB_LOG, "agent": BOB.did},
        ]
    elif tamper == "member-signs":
        author = ALICE
    with pytest.raises(Unauthorised):
        admit(state, record(author, "ledger.distribution", body))


def test_the_policy_in_force_at_completion_applies(state: LogAuthority) -> None:
    pid1 = put_policy(state, POLICY_V1, "d")
    first = complete(state, 10001, n=1)
    pid2 = put_policy(state, POLICY_V2, "e")  # adopted before the first job is shared
    second = complete(state, 10000, n=2)
    # The first job keeps version 1 even though version 2 is now in force.
    with pytest.raises(Unauthorised, match="policy in force at completion"):
        admit(
            state,
            record(NODE, "ledger.distribution", distribution(first, pid2, 2, [], job=job_of(1))),
        )
    admit(
        state,
        record(
            NODE,
            "ledger.distribution",
            distribution(first, pid1, 1, parts_v1_10001(), job=job_of(1)),
        ),
    )
    # Version 2 on 10000: workshop 60 % = 6000; designers 30 % = 3000 split 2/3, 1/3
    # = 2000, 1000; commons 1000. All exact.
    parts_v2 = [
        {"agent": NODE.did, "reason": "workshop", "amount": 6000, "policy_version": 2},
        {
            "agent": ALICE.did,
            "reason": "designer",
            "amount": 2000,
            "policy_version": 2,
            "generation": 0,
            "design": DESIGN_A,
        },
        {
            "agent": BOB.did,
            "reason": "designer",
            "amount": 1000,
            "policy_version": 2,
            "generation": 1,
            "design": DESIGN_B,
        },
        {"agent": FUND.did, "reason": "commons", "amount": 1000, "policy_version": 2},
    ]
    with pytest.raises(Unauthorised):
        admit(
            state,
            record(
                NODE,
                "ledger.distribution",
                distribution(second, pid1, 1, parts_v1_10001(), amount=10000, job=job_of(2)),
            ),
        )
    admit(
        state,
        record(
            NODE,
            "ledger.distribution",
            distribution(second, pid2, 2, parts_v2, amount=10000, job=job_of(2)),
        ),
    )


def test_no_policy_or_foreign_currency_means_no_distribution(state: LogAuthority) -> None:
    before = complete(state, 10001, n=1)  # no policy in force yet
    pid = put_policy(state, POLICY_V1, "d")
    foreign = complete(state, 10001, currency="CHF", n=2)
    for cid, n in ((before, 1), (foreign, 2)):
        body = distribution(cid, pid, 1, parts_v1_10001(), job=job_of(n))
        with pytest.raises(Unauthorised, match="awaiting"):
            admit(state, record(NODE, "ledger.distribution", body))


def test_the_state_survives_a_json_round_trip(state: LogAuthority) -> None:
    pid = put_policy(state, POLICY_V1, "d")
    cid = complete(state, 10001)
    restored = LogAuthority.from_dict(state.to_dict())
    admit(
        restored, record(NODE, "ledger.distribution", distribution(cid, pid, 1, parts_v1_10001()))
    )

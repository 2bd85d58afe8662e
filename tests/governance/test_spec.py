"""specs/06-governance.md checked: examples, schemas against the code, citations, index.

The examples are checked against governance/ and against an independent
computation (hashlib; the published Tennessee counts). The JSON Schemas of
the governance types must agree with the record classes on a table of
bodies, and must accept every body the classes accept (a schema is a
necessary condition, 01-records §7.1). Every `specs/06-governance.md §N`
cited in the code must be a heading, and so must every § the spec names.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import governance  # noqa: F401  (registers the governance types)
from governance.tally import Vote, tally
from governance.terms import Choice, Terms
from protocol.did import Did
from protocol.errors import InvalidRecord
from protocol.records import Record, parse_body

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"
SPEC = "06-governance.md"
TYPES = ("proposal", "ballot", "proposal.result", "delegation", "node.parameter")
NODE_DID = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp"

_FENCE = re.compile(
    r"^```(?P<kind>[a-z0-9]+) example=(?P<name>[a-z0-9.-]+)\n(?P<body>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)
_HEADING = re.compile(r"^#{2,4} §(\d+(?:\.\d+)*)\.", re.MULTILINE)


def _text(spec: str) -> str:
    return (SPECS / spec).read_text(encoding="utf-8")


def _examples() -> dict[str, str]:
    return {m["name"]: m["body"][:-1] for m in _FENCE.finditer(_text(SPEC))}


def _headings(spec: str) -> set[str]:
    return set(_HEADING.findall(_text(spec)))


def _schema(record_type: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SPECS / "schemas" / f"{record_type}.json").read_text())
    return schema


def _schema_ok(record_type: str, body: Any) -> bool:
    return jsonschema.Draft202012Validator(_schema(record_type)).is_valid(body)


def _code_ok(record_type: str, body: Any) -> bool:
    record = Record(type=record_type, author=NODE_DID, created="2025-01-15T09:00:00Z", body={})
    object.__setattr__(record, "body", body)
    try:
        parse_body(record)
    except InvalidRecord:
        return False
    return True


# ------------------------------------------------------------------------------------ examples


def test_every_example_is_checked() -> None:
    assert set(_examples()) == {"tie-break-1", "tennessee-rounds"}


def test_tie_break_example() -> None:
    pid = "sha256:" + "5" * 64
    lines = dict(line.split(" ") for line in _examples()["tie-break-1"].split("\n"))
    for option in ("P", "Q"):
        assert lines[option] == hashlib.sha256(f"{pid}\n{option}".encode()).hexdigest()
    # The spec's conclusion: Q's hash is the smaller, so Q goes and P wins.
    terms = Terms.from_dict(
        {
            "options": ["P", "Q"],
            "method": "ranked",
            "opens": "2025-01-01T00:00:00Z",
            "closes": "2025-01-02T00:00:00Z",
            "quorum": {"num": 0, "den": 1},
        }
    )
    votes = [
        Vote(
            voter=Did(f"v{n}"),
            choice=Choice(ranking=("P", "Q") if n < 5 else ("Q", "P")),
            created=terms.opens_at,
        )
        for n in range(10)
    ]
    result = tally(terms, votes, proposal_id=pid, electorate=[v.voter for v in votes],
                   now=terms.closes_at)  # fmt: skip
    assert result.rounds is not None
    assert (result.rounds[0].eliminated, result.winner) == ("Q", "P")
    assert dict(result.rounds[1].counts) == {"P": 10}


def test_tennessee_example() -> None:
    rounds = json.loads(_examples()["tennessee-rounds"])
    # The published figures (Wikipedia, "Instant-runoff voting"), transcribed by hand.
    assert [r["counts"] for r in rounds] == [
        {"Memphis": 42, "Nashville": 26, "Chattanooga": 15, "Knoxville": 17},
        {"Memphis": 42, "Nashville": 26, "Knoxville": 32},
        {"Memphis": 42, "Knoxville": 58},
    ]
    m, n, c, k = "Memphis", "Nashville", "Chattanooga", "Knoxville"
    groups = [(42, [m, n, c, k]), (26, [n, c, k, m]), (15, [c, k, n, m]), (17, [k, c, n, m])]
    terms = Terms.from_dict(
        {
            "options": [m, n, c, k],
            "method": "ranked",
            "opens": "2025-01-01T00:00:00Z",
            "closes": "2025-01-02T00:00:00Z",
            "quorum": {"num": 0, "den": 1},
        }
    )
    votes = []
    for count, ranking in groups:
        for _ in range(count):
            votes.append(
                Vote(
                    voter=Did(f"v{len(votes)}"),
                    choice=Choice(ranking=tuple(ranking)),
                    created=terms.opens_at,
                )
            )
    result = tally(
        terms,
        votes,
        proposal_id="sha256:" + "0" * 64,
        electorate=[v.voter for v in votes],
        now=terms.closes_at,
    )
    assert result.to_dict()["rounds"] == rounds


# ------------------------------------------------------------------------------------- schemas


def test_schemas_are_the_governance_types() -> None:
    spec = _text(SPEC)
    for record_type in TYPES:
        schema = _schema(record_type)
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["title"] == record_type
        assert schema["additionalProperties"] is False
        assert f"(schemas/{record_type}.json)" in spec


_DID = "did:key:z6Mkon3Necd6NkkyfoGoHxid2znGc59LU3K7mubaRcFbLfLX"
_RID = "sha256:" + "ab" * 32
_T1, _T2 = "2025-06-01T10:00:00Z", "2025-06-08T10:00:00Z"
_P = {
    "title": "t",
    "text": "x",
    "options": ["yes", "no"],
    "method": "majority",
    "opens": _T1,
    "closes": _T2,
    "quorum": {"num": 1, "den": 2},
}
_TALLY = {
    "method": "majority", "final": True, "electorate": 3, "voters": 2, "direct": 2,
    "delegated": 0, "abstained": 0, "quorum_met": True, "counts": {"yes": 2, "no": 0},
    "adopted": True, "winner": "yes",
}  # fmt: skip


def _act(kind: str, **params: Any) -> dict[str, Any]:
    return {**_P, "action": {"kind": kind, "params": params}}


_CONSENT = ["consent", "stand_aside", "block"]
_RC = "required_cosignatures"
_ROUND = {"counts": {"a": 1}, "exhausted": 0}

# (type, body, schema accepts, code accepts)
CASES: list[tuple[str, Any, bool, bool]] = [
    ("proposal", _P, True, True),
    ("proposal", {**_P, "options": ["yes"]}, False, False),
    ("proposal", {**_P, "options": ["a", "a"]}, False, False),
    ("proposal", {**_P, "options": ["a"] * 0 + [f"o{i}" for i in range(21)]}, False, False),
    ("proposal", {**_P, "options": ["", "b"]}, False, False),
    ("proposal", {**_P, "method": "borda"}, False, False),
    ("proposal", {**_P, "opens": "2025-06-01 10:00:00Z"}, False, False),
    ("proposal", {**_P, "quorum": {"num": 1}}, False, False),
    ("proposal", {**_P, "quorum": {"num": 1, "den": 0}}, False, False),
    ("proposal", {**_P, "quorum": {"num": 3, "den": 2}}, True, False),  # num <= den: code only
    ("proposal", {**_P, "method": "supermajority"}, False, False),
    ("proposal", {**_P, "method": "supermajority", "threshold": {"num": 2, "den": 3}}, True, True),
    ("proposal", {**_P, "threshold": {"num": 2, "den": 3}}, False, False),
    ("proposal", {**_P, "method": "score", "max_score": 5}, True, True),
    ("proposal", {**_P, "method": "score", "max_score": 101}, False, False),
    ("proposal", {**_P, "max_score": 5}, False, False),
    ("proposal", {**_P, "method": "consent"}, False, False),
    ("proposal", {**_P, "method": "consent", "options": _CONSENT}, True, True),
    ("proposal", {**_P, "delegation": "tools.laser"}, True, True),
    ("proposal", {**_P, "delegation": "Tools"}, False, False),
    ("proposal", _act("member.admit", member=_DID, role="member"), True, True),
    ("proposal", _act("member.admit", member=_DID), False, False),
    ("proposal", _act("member.admit", member=_DID, role="member", x=1), False, False),
    ("proposal", _act("member.leave", member=_DID, reason="moved away"), True, True),
    ("proposal", _act("coffee"), False, False),
    ("proposal", _act("peer.block", did=_DID, reason="r"), True, True),
    ("proposal", _act("peer.federate", did=_DID, url="https://b.example"), True, True),
    ("proposal", _act("peer.federate", did=_DID, url="ftp://x"), False, False),
    ("proposal", _act("node.parameter", name=_RC, value=3), True, True),
    ("proposal", _act("node.parameter", name=_RC, value=65), False, False),
    ("proposal", _act("node.parameter", name=_RC, value=True), False, False),
    ("proposal", _act("node.parameter", name="colour", value=1), False, False),
    ("proposal", _act("ledger.policy"), False, False),
    ("proposal", {**_P, "extra": 1}, False, False),
    ("ballot", {"proposal": _RID, "choice": "yes"}, True, True),
    ("ballot", {"proposal": _RID}, False, False),
    ("ballot", {"proposal": _RID, "choice": "yes", "abstain": True}, False, False),
    ("ballot", {"proposal": _RID, "abstain": True}, True, True),
    ("ballot", {"proposal": _RID, "abstain": False}, False, False),
    ("ballot", {"proposal": _RID, "approve": []}, True, True),
    ("ballot", {"proposal": _RID, "approve": ["a", "a"]}, False, False),
    ("ballot", {"proposal": _RID, "ranking": []}, False, False),
    ("ballot", {"proposal": _RID, "ranking": ["a", "b"]}, True, True),
    ("ballot", {"proposal": _RID, "scores": {"a": 3}}, True, True),
    ("ballot", {"proposal": _RID, "scores": {"a": 101}}, False, False),
    ("ballot", {"proposal": _RID, "scores": {"a": -1}}, False, False),
    ("ballot", {"proposal": _RID, "scores": {}}, False, False),
    ("ballot", {"proposal": _RID.upper(), "choice": "yes"}, False, False),
    ("ballot", {"proposal": _RID, "choice": "y" * 101}, False, False),
    ("delegation", {"topic": "budget"}, True, True),
    ("delegation", {"topic": "budget", "delegate": _DID}, True, True),
    ("delegation", {"topic": "", "delegate": _DID}, False, False),
    ("delegation", {"delegate": _DID}, False, False),
    ("node.parameter", {"name": "required_cosignatures", "value": 2, "result": _RID}, True, True),
    ("node.parameter", {"name": "required_cosignatures", "value": 2}, False, False),
    ("node.parameter", {"name": "colour", "value": 2, "result": _RID}, False, False),
    ("node.parameter", {"name": _RC, "value": "2", "result": _RID}, False, False),
    ("proposal.result", {"proposal": _RID, "tally": _TALLY}, True, True),
    ("proposal.result", {"proposal": _RID, "tally": {**_TALLY, "final": 1}}, False, False),
    ("proposal.result", {"proposal": _RID, "tally": {**_TALLY, "voters": -1}}, False, False),
    ("proposal.result", {"proposal": _RID, "tally": {**_TALLY, "extra": 0}}, False, False),
    ("proposal.result", {"proposal": _RID, "tally": {**_TALLY, "rounds": [_ROUND]}}, True, True),
    ("proposal.result", {"proposal": _RID, "tally": {**_TALLY, "rounds": [{}]}}, False, False),
    ("proposal.result", {"proposal": _RID, "tally": {**_TALLY, "tied": ["a"]}}, False, False),
    ("proposal.result", {"proposal": _RID}, False, False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("record_type", "body", "schema_ok", "code_ok"),
    CASES,
    ids=[f"{t}-{i}" for i, (t, *_rest) in enumerate(CASES)],
)
def test_schema_and_code_decide_alike(
    record_type: str, body: Any, schema_ok: bool, code_ok: bool
) -> None:
    assert _schema_ok(record_type, body) is schema_ok
    assert _code_ok(record_type, body) is code_ok


_VALUES = st.sampled_from(
    [_DID, _RID, _T1, _T2, "yes", "no", "", "x" * 101, 0, 1, 2, 101, -1, True, None, [], {},
     ["yes", "no"], ["yes"], ["a", "b", "c"], {"num": 1, "den": 2}, {"num": 2, "den": 3},
     {"num": 5, "den": 2}, "majority", "ranked", "score", "consent", "supermajority",
     {"yes": 1, "no": 0}, {"kind": "peer.block", "params": {"did": _DID, "reason": "r"}}]
)  # fmt: skip
_VALID = {
    "proposal": {**_P, "max_score": 5, "threshold": {"num": 2, "den": 3}, "delegation": "t",
                 "action": {"kind": "peer.block", "params": {"did": _DID, "reason": "r"}}},
    "ballot": {"proposal": _RID, "choice": "yes", "approve": ["yes"], "ranking": ["yes"],
               "scores": {"yes": 1}, "abstain": True},
    "delegation": {"topic": "t", "delegate": _DID},
    "node.parameter": {"name": "required_cosignatures", "value": 1, "result": _RID},
    "proposal.result": {"proposal": _RID, "tally": _TALLY},
}  # fmt: skip


@st.composite
def _bodies(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    record_type = draw(st.sampled_from(TYPES))
    schema = _schema(record_type)
    keys = set(schema["required"])
    keys |= set(draw(st.lists(st.sampled_from(sorted(schema["properties"])), unique=True)))
    if draw(st.integers(0, 9)) == 0:
        keys.discard(draw(st.sampled_from(sorted(keys))))
    valid = _VALID[record_type]
    return record_type, {
        key: draw(st.one_of(st.just(valid.get(key, "x")), _VALUES)) for key in sorted(keys)
    }


@settings(max_examples=400, deadline=None, derandomize=True)
@given(case=_bodies())
def test_the_schema_accepts_every_body_the_code_accepts(case: tuple[str, dict[str, Any]]) -> None:
    record_type, body = case
    if _code_ok(record_type, body):
        assert _schema_ok(record_type, body), body


# ---------------------------------------------------------------------------------- citations

_CITATION = re.compile(r"specs/06-governance\.md §(?P<section>\d+(?:\.\d+)*)")
_OTHER = {"01-records": "01-records.md", "02-log": "02-log.md",
          "03-federation": "03-federation.md", "08-node-api": "08-node-api.md"}  # fmt: skip


def _citations() -> list[tuple[str, str]]:
    found = []
    for package in ("governance", "node", "protocol", "bench"):
        for path in sorted((ROOT / package).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            for match in _CITATION.finditer(text):
                found.append((f"{path.relative_to(ROOT)}", match["section"]))
    return found


CITATIONS = _citations()


def test_the_code_cites_the_spec() -> None:
    assert {s for _, s in CITATIONS} >= {"3", "4", "5.4", "6.5", "8", "9", "10", "11"}


@pytest.mark.parametrize(("where", "section"), CITATIONS, ids=[f"{w} §{s}" for w, s in CITATIONS])
def test_cited_section_exists(where: str, section: str) -> None:
    assert section in _headings(SPEC), f"{where} cites §{section}, a missing heading"


def test_sections_are_numbered_in_order() -> None:
    numbers = [tuple(int(p) for p in h.split(".")) for h in _HEADING.findall(_text(SPEC))]
    assert numbers == sorted(numbers)
    assert len(numbers) == len(set(numbers))
    top = [n[0] for n in numbers if len(n) == 1]
    assert top == list(range(1, len(top) + 1))


def test_references_in_the_spec_exist() -> None:
    text = _text(SPEC)
    own = _headings(SPEC)
    for match in re.finditer(r"(?:(?P<before>[\w.`-]+)\s+)?§(?P<section>\d+(?:\.\d+)*)", text):
        before = (match["before"] or "").strip("`")
        section = match["section"]
        if before in _OTHER:
            assert section in _headings(_OTHER[before]), f"{before} §{section}"
        elif before in ("DESIGN.md", "07-ledger") or before.isdigit():
            continue
        else:
            assert section in own, f"§{section} (after {before!r}) is not a heading"


def test_the_index_lists_the_spec() -> None:
    assert f"[{SPEC}]({SPEC})" in _text("README.md")

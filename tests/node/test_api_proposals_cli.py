"""The argument handling of `fabcommons proposal create` and `fabcommons vote` (no node needed).

The commands themselves run against real nodes in test_api_proposals_fednet.py.
"""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from governance.proposals import Proposal
from node.cli import build_parser
from node.commands.governance import GovernanceCommandError, ballot_form, proposal_body


@pytest.mark.parametrize(
    ("method", "choice", "expected"),
    [
        ("majority", "yes", {"choice": "yes"}),
        ("consent", "block", {"choice": "block"}),
        ("approval", "a, b", {"approve": ["a", "b"]}),
        ("ranked", "cnc,laser,printer", {"ranking": ["cnc", "laser", "printer"]}),
        ("score", "a=5,b=0", {"scores": {"a": 5, "b": 0}}),
    ],
    ids=["majority", "consent", "approval", "ranked", "score"],
)
def test_ballot_forms(method: str, choice: str, expected: dict[str, Any]) -> None:
    assert ballot_form(method, choice, abstain=False) == expected


def test_abstain_and_bad_choices() -> None:
    assert ballot_form("ranked", None, abstain=True) == {"abstain": True}
    with pytest.raises(GovernanceCommandError):
        ballot_form("majority", None, abstain=False)
    with pytest.raises(GovernanceCommandError):
        ballot_form("score", "a=high", abstain=False)
    with pytest.raises(GovernanceCommandError):
        ballot_form("score", "a=\u00b2", abstain=False)  # isdigit() yes, int() no


def _args(*argv: str) -> argparse.Namespace:
    base = ["proposal", "create", "--key", "k.pem", "--node", "http://127.0.0.1:1"]
    return build_parser().parse_args([*base, *argv])


def test_proposal_create_builds_a_valid_body() -> None:
    args = _args(
        "--title", "Admit Dan", "--text", "He runs the laser.", "--option", "yes",
        "--option", "no", "--opens", "2025-06-01T10:00:00Z", "--duration", "2h",
        "--quorum", "2/3", "--action", '{"kind": "peer.block", "params": {"did": '
        '"did:key:z6Mkon3Necd6NkkyfoGoHxid2znGc59LU3K7mubaRcFbLfLX", "reason": "spam"}}',
    )  # fmt: skip
    body = proposal_body(args)
    assert body["closes"] == "2025-06-01T12:00:00Z"
    assert body["quorum"] == {"num": 2, "den": 3}
    assert Proposal.from_dict(body).terms.action is not None


def test_consent_gets_its_fixed_options_and_bad_input_is_refused() -> None:
    body = proposal_body(_args("--title", "t", "--text", "x", "--method", "consent"))
    assert body["options"] == ["consent", "stand_aside", "block"]
    for bad in (["--quorum", "half"], ["--duration", "3 weeks"], ["--action", "{"]):
        with pytest.raises(GovernanceCommandError):
            proposal_body(_args("--title", "t", "--text", "x", "--option", "a", *bad))

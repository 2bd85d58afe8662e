"""Why a governance record is refused at its position (specs/06-governance.md §11).

`GovernanceRefused` is an `Unauthorised`: the log machinery treats it like
any other refusal, and the node maps its `reason` to a precise problem.
"""

from __future__ import annotations

from protocol.errors import Unauthorised

__all__ = ["REASONS", "GovernanceRefused"]

# specs/06-governance.md §11: the reasons, stable names the node's API reuses as slugs.
REASONS = frozenset(
    {
        "unknown-proposal",
        "proposal-closed",
        "proposal-not-open",
        "not-a-member",
        "not-in-electorate",
        "invalid-ballot",
        "invalid-proposal",
        "too-many-open-proposals",
        "result-too-early",
        "tally-mismatch",
        "not-adopted",
        "already-executed",
        "decision-mismatch",
        "invalid-delegation",
    }
)


class GovernanceRefused(Unauthorised):
    """A governance record that may not enter the log here; `reason` names the rule broken."""

    def __init__(self, reason: str, detail: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown refusal reason {reason!r}")
        super().__init__(detail)
        self.reason = reason
        self.detail = detail

"""Who may append what to a log, decided entry by entry (DESIGN.md §4).

`LogAuthority` is the state a verifier builds by replaying one log from its
first entry: the node's key, the admitted members with their roles, and each
identity's current key. `admit_entry` verifies an envelope, checks that its
author may sign it at this position, and applies its effect. Other packages
add rules for their record types with `register_rule`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from protocol.did import Did
from protocol.errors import InvalidKey, InvalidSignature, Unauthorised
from protocol.keys import verify_did_signature
from protocol.membership import (
    KeyRotate,
    MemberAdmit,
    MemberLeave,
    MemberProfile,
    NodeProfile,
    rotation_statement,
)
from protocol.records import Envelope, Record, RecordBody, parse_body
from protocol.signing import verify

__all__ = [
    "AuthorisedEntry",
    "LogAuthority",
    "Rule",
    "register_check",
    "register_observer",
    "register_rule",
]

Check = Callable[["LogAuthority", Record, Any], None]
Effect = Callable[["LogAuthority", Record, Any], None]


@dataclass(frozen=True, slots=True)
class Rule:
    """How one record type is authorised (`check` raises Unauthorised) and what it changes."""

    check: Check
    effect: Effect | None = None


_RULES: dict[str, Rule] = {}
_OBSERVERS: dict[str, list[Effect]] = {}
_CHECKS: dict[str, list[Check]] = {}


def register_rule(record_type: str, check: Check, effect: Effect | None = None) -> None:
    """Declare who may sign `record_type` and its effect on the log's state."""
    if record_type in _RULES:
        raise ValueError(f"a rule for {record_type} is registered already")
    _RULES[record_type] = Rule(check, effect)


def register_observer(record_type: str, effect: Effect) -> None:
    """Run `effect` too, after the rule's own, whenever a `record_type` entry is admitted.

    For state kept about records another package owns (the ledger notes each
    job.complete with the policy then in force, specs/07-ledger.md §5). An
    observer must not raise: the entry is already authorised.
    """
    _OBSERVERS.setdefault(record_type, []).append(effect)


def register_check(record_type: str, check: Check) -> None:
    """Run `check` too, after the rule's own, before a `record_type` entry is admitted.

    For a field whose meaning another package owns: governance checks that a
    member.admit or peer.block citing a `result` executes an adopted decision
    exactly (specs/06-governance.md §9). It raises Unauthorised to refuse.
    """
    _CHECKS.setdefault(record_type, []).append(check)


@dataclass(frozen=True, slots=True)
class AuthorisedEntry:
    """An entry that passed every check: the record, its typed body, the author's identity."""

    record: Record
    body: RecordBody
    identity: Did


@dataclass(slots=True)
class LogAuthority:
    """The authorisation state of one log at one position."""

    node: Did
    members: dict[Did, str] = field(default_factory=dict)  # identity -> role
    current_key: dict[Did, Did] = field(default_factory=dict)  # identity -> key
    identity_of_key: dict[Did, Did] = field(default_factory=dict)  # every key ever used
    extensions: dict[str, Any] = field(default_factory=dict)  # state of other packages' rules

    def copy(self) -> LogAuthority:
        return copy.deepcopy(self)

    def identity(self, key: Did) -> Did:
        """The identity a key speaks for; a never-rotated key is its own identity."""
        return self.identity_of_key.get(key, key)

    def is_current_key(self, key: Did) -> bool:
        identity = self.identity(key)
        return self.current_key.get(identity, identity) == key

    def require_node(self, record: Record) -> None:
        if record.author != self.node:
            raise Unauthorised(f"only the node key may sign {record.type}")

    def require_member(self, record: Record) -> Did:
        """Return the author's identity if it is an admitted member using its current key."""
        identity = self.identity(record.author)
        if identity not in self.members:
            raise Unauthorised(f"{record.author} is not an admitted member of this log")
        if not self.is_current_key(record.author):
            raise Unauthorised(f"{record.author} is a retired key of {identity}")
        return identity

    def check(self, record: Record, body: RecordBody) -> None:
        """Raise Unauthorised unless record's author may sign it at this position."""
        rule = _RULES.get(record.type)
        if rule is None:
            raise Unauthorised(f"no authorisation rule for {record.type}")
        rule.check(self, record, body)
        for extra in _CHECKS.get(record.type, ()):
            extra(self, record, body)

    def apply(self, record: Record, body: RecordBody) -> None:
        rule = _RULES[record.type]
        if rule.effect is not None:
            rule.effect(self, record, body)
        for observer in _OBSERVERS.get(record.type, ()):
            observer(self, record, body)

    def admit_entry(self, envelope: Envelope) -> AuthorisedEntry:
        """Verify, parse, authorise and apply one entry. The state changes only on success.

        Raises InvalidSignature, InvalidRecord or Unauthorised.
        """
        record = verify(envelope)
        return self.admit_verified(record, parse_body(record))

    def admit_verified(self, record: Record, body: RecordBody) -> AuthorisedEntry:
        """Authorise and apply a record whose signature the caller has verified.

        Raises Unauthorised; the state changes only on success.
        """
        self.check(record, body)
        self.apply(record, body)
        return AuthorisedEntry(record, body, self.identity(record.author))

    def to_dict(self) -> dict[str, Any]:
        """A JSON form for storage (extensions must hold JSON values)."""
        return {
            "node": self.node,
            "members": dict(self.members),
            "current_key": dict(self.current_key),
            "identity_of_key": dict(self.identity_of_key),
            "extensions": copy.deepcopy(self.extensions),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LogAuthority:
        return cls(
            node=Did(data["node"]),
            members={Did(k): v for k, v in data["members"].items()},
            current_key={Did(k): Did(v) for k, v in data["current_key"].items()},
            identity_of_key={Did(k): Did(v) for k, v in data["identity_of_key"].items()},
            extensions=copy.deepcopy(data.get("extensions", {})),
        )


def _check_node_only(state: LogAuthority, record: Record, body: Any) -> None:
    state.require_node(record)


def _check_admit(state: LogAuthority, record: Record, body: MemberAdmit) -> None:
    state.require_node(record)
    if body.member == state.node:
        raise Unauthorised("the node key cannot be admitted as a member")
    if body.member in state.members:
        raise Unauthorised(f"{body.member} is a member already")
    if body.member in state.identity_of_key and state.identity(body.member) != body.member:
        raise Unauthorised(f"{body.member} is a key of another identity")


def _apply_admit(state: LogAuthority, record: Record, body: MemberAdmit) -> None:
    state.members[body.member] = body.role
    state.identity_of_key.setdefault(body.member, body.member)


def _check_leave(state: LogAuthority, record: Record, body: MemberLeave) -> None:
    if body.member not in state.members:
        raise Unauthorised(f"{body.member} is not a member")
    if record.author == state.node:
        return
    if state.require_member(record) != body.member:
        raise Unauthorised("a member may only sign their own member.leave")


def _apply_leave(state: LogAuthority, record: Record, body: MemberLeave) -> None:
    del state.members[body.member]


def _check_profile(state: LogAuthority, record: Record, body: MemberProfile) -> None:
    state.require_member(record)


def _check_rotate(state: LogAuthority, record: Record, body: KeyRotate) -> None:
    identity = state.require_member(record)
    if body.identity != identity:
        raise Unauthorised("key.rotate must name the author's own identity")
    if body.new_key == state.node or body.new_key in state.identity_of_key:
        raise Unauthorised("the new key is already in use in this log")
    try:
        verify_did_signature(
            body.new_key,
            rotation_statement(body.identity, record.author, body.new_key),
            body.new_key_sig,
        )
    except (InvalidSignature, InvalidKey) as exc:
        raise Unauthorised("the new key did not sign the rotation statement") from exc


def _apply_rotate(state: LogAuthority, record: Record, body: KeyRotate) -> None:
    state.current_key[body.identity] = body.new_key
    state.identity_of_key[body.new_key] = body.identity


register_rule(NodeProfile.TYPE, _check_node_only)
register_rule(MemberAdmit.TYPE, _check_admit, _apply_admit)
register_rule(MemberLeave.TYPE, _check_leave, _apply_leave)
register_rule(MemberProfile.TYPE, _check_profile)
register_rule(KeyRotate.TYPE, _check_rotate, _apply_rotate)

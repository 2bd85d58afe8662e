"""protocol.authority: who may append what, entry by entry (DESIGN.md §4).

The rules tested are DESIGN.md §4 and §5 ("Keys"): the node signs node.profile
and admissions; a member leaves by their own signature or is removed by the
node; members describe themselves; key.rotate is signed by the current key and
co-signed by the new key, which must be unused; every other type is refused
until a rule for it exists. A refused entry changes nothing.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from typing import Any

import pytest
import rfc8785
from hypothesis import event, given, settings
from hypothesis import strategies as st

from protocol.authority import LogAuthority
from protocol.did import Did
from protocol.errors import InvalidRecord, InvalidSignature, ProtocolError, Unauthorised
from protocol.keys import AgentKey
from protocol.membership import rotation_statement, sign_rotation
from protocol.records import Envelope, Record, b64url_encode
from protocol.signing import sign


def _key(name: str) -> AgentKey:
    return AgentKey.from_seed(hashlib.sha256(name.encode()).digest())


NODE = _key("authority/node")
ALICE = _key("authority/alice")
BOB = _key("authority/bob")
CAROL = _key("authority/carol")
ALICE2 = _key("authority/alice-2")
ALICE3 = _key("authority/alice-3")
OUTSIDER = _key("authority/outsider")
_CREATED = "2025-06-01T12:00:00Z"


def _entry(key: AgentKey, type_: str, body: dict[str, Any]) -> Envelope:
    return sign(Record(type=type_, author=key.did, created=_CREATED, body=body), key)


def _admit(member: AgentKey | str, role: str = "member", by: AgentKey = NODE) -> Envelope:
    did = member if isinstance(member, str) else member.did
    return _entry(by, "member.admit", {"member": did, "role": role})


def _leave(member: AgentKey | str, by: AgentKey) -> Envelope:
    did = member if isinstance(member, str) else member.did
    return _entry(by, "member.leave", {"member": did})


def _profile(by: AgentKey, name: str = "Someone") -> Envelope:
    return _entry(by, "member.profile", {"display_name": name})


def _rotate(
    by: AgentKey,
    new: AgentKey,
    *,
    identity: str | None = None,
    cosigner: AgentKey | None = None,
    previous: str | None = None,
) -> Envelope:
    identity = identity if identity is not None else by.did
    cosigner = cosigner if cosigner is not None else new
    statement = rotation_statement(
        Did(identity), Did(previous if previous is not None else by.did), new.did
    )
    body = {
        "identity": identity,
        "new_key": new.did,
        "new_key_sig": b64url_encode(cosigner.sign(statement)),
    }
    return _entry(by, "key.rotate", body)


def _state(authority: LogAuthority) -> tuple[Any, ...]:
    return (
        authority.node,
        copy.deepcopy(authority.members),
        copy.deepcopy(authority.current_key),
        copy.deepcopy(authority.identity_of_key),
        copy.deepcopy(authority.extensions),
    )


def _refused(authority: LogAuthority, envelope: Envelope, error: type[Exception]) -> None:
    before = _state(authority)
    with pytest.raises(error):
        authority.admit_entry(envelope)
    assert _state(authority) == before


@pytest.fixture
def log() -> LogAuthority:
    """A log whose node has admitted Alice and Bob."""
    authority = LogAuthority(node=NODE.did)
    authority.admit_entry(_admit(ALICE))
    authority.admit_entry(_admit(BOB, role="operator"))
    return authority


def test_rotation_statement_bytes() -> None:
    # specs/01-records.md §7.5, as protocol/membership.py cites it: a domain
    # prefix, then JCS of {identity, new_key, previous_key}.
    expected = b"fabcommons-key-rotate-v1\n" + rfc8785.dumps(
        {"identity": ALICE.did, "previous_key": ALICE.did, "new_key": ALICE2.did}
    )
    assert rotation_statement(ALICE.did, ALICE.did, ALICE2.did) == expected
    assert sign_rotation(ALICE.did, ALICE.did, ALICE2) == b64url_encode(ALICE2.sign(expected))


# --- node.profile -------------------------------------------------------------


def test_node_profile_by_node(log: LogAuthority) -> None:
    entry = log.admit_entry(_entry(NODE, "node.profile", {"name": "Nord", "origin": "n.example"}))
    assert entry.identity == NODE.did
    assert entry.record.type == "node.profile"


@pytest.mark.parametrize("by", [ALICE, OUTSIDER], ids=["member", "outsider"])
def test_node_profile_by_others_refused(log: LogAuthority, by: AgentKey) -> None:
    _refused(log, _entry(by, "node.profile", {"name": "Nord", "origin": "n.example"}), Unauthorised)


# --- member.admit ---------------------------------------------------------------


def test_admit_by_node(log: LogAuthority) -> None:
    entry = log.admit_entry(_admit(CAROL))
    assert log.members[CAROL.did] == "member"
    assert log.members[BOB.did] == "operator"
    assert entry.identity == NODE.did


@pytest.mark.parametrize(
    ("envelope", "error"),
    [
        (_admit(CAROL, by=ALICE), Unauthorised),
        (_admit(CAROL, by=BOB), Unauthorised),
        (_admit(CAROL, by=OUTSIDER), Unauthorised),
        (_admit(CAROL, by=CAROL), Unauthorised),
        (_admit(ALICE), Unauthorised),
        (_admit(NODE), Unauthorised),
        (_admit(CAROL, role="admin"), InvalidRecord),
        (_entry(NODE, "member.admit", {"member": "did:web:x", "role": "member"}), InvalidRecord),
        (_entry(NODE, "member.admit", {"member": CAROL.did}), InvalidRecord),
        (
            _entry(NODE, "member.admit", {"member": CAROL.did, "role": "member", "x": 1}),
            InvalidRecord,
        ),
    ],
    ids=[
        "by-member",
        "by-operator",
        "by-outsider",
        "by-self",
        "already-member",
        "node-itself",
        "unknown-role",
        "bad-did",
        "missing-role",
        "unknown-field",
    ],
)
def test_admit_refused(log: LogAuthority, envelope: Envelope, error: type[Exception]) -> None:
    _refused(log, envelope, error)


def test_admit_refuses_a_key_of_another_identity(log: LogAuthority) -> None:
    log.admit_entry(_rotate(ALICE, ALICE2))
    _refused(log, _admit(ALICE2), Unauthorised)


# --- member.leave ---------------------------------------------------------------


def test_leave_by_self(log: LogAuthority) -> None:
    entry = log.admit_entry(_leave(ALICE, by=ALICE))
    assert ALICE.did not in log.members
    assert entry.identity == ALICE.did
    _refused(log, _profile(ALICE), Unauthorised)


def test_leave_by_node(log: LogAuthority) -> None:
    log.admit_entry(_leave(BOB, by=NODE))
    assert BOB.did not in log.members
    _refused(log, _profile(BOB), Unauthorised)
    # Readmission is the node's to sign again.
    log.admit_entry(_admit(BOB))
    log.admit_entry(_profile(BOB))


@pytest.mark.parametrize(
    "envelope",
    [
        _leave(ALICE, by=BOB),
        _leave(BOB, by=ALICE),
        _leave(ALICE, by=OUTSIDER),
        _leave(CAROL, by=NODE),
        _leave(CAROL, by=CAROL),
        _leave(OUTSIDER, by=OUTSIDER),
    ],
    ids=[
        "operator-removes-member",
        "member-removes-operator",
        "outsider",
        "node-removes-non-member",
        "non-member-self",
        "outsider-self",
    ],
)
def test_leave_refused(log: LogAuthority, envelope: Envelope) -> None:
    _refused(log, envelope, Unauthorised)


def test_leave_by_retired_key_refused(log: LogAuthority) -> None:
    log.admit_entry(_rotate(ALICE, ALICE2))
    _refused(log, _leave(ALICE, by=ALICE), Unauthorised)
    log.admit_entry(_leave(ALICE, by=ALICE2))
    assert ALICE.did not in log.members


# --- member.profile ---------------------------------------------------------------


def test_profile_by_member(log: LogAuthority) -> None:
    entry = log.admit_entry(_profile(ALICE, "Alice"))
    assert entry.identity == ALICE.did
    assert entry.body.display_name == "Alice"  # type: ignore[attr-defined]


@pytest.mark.parametrize("by", [NODE, CAROL, OUTSIDER], ids=["node", "non-member", "outsider"])
def test_profile_by_non_members_refused(log: LogAuthority, by: AgentKey) -> None:
    _refused(log, _profile(by), Unauthorised)


def test_profile_with_unknown_field_refused(log: LogAuthority) -> None:
    _refused(log, _entry(ALICE, "member.profile", {"display_name": "A", "x": 1}), InvalidRecord)


# --- key.rotate ---------------------------------------------------------------------


def test_rotate(log: LogAuthority) -> None:
    entry = log.admit_entry(_rotate(ALICE, ALICE2))
    assert entry.identity == ALICE.did
    assert log.current_key[ALICE.did] == ALICE2.did
    # The old key is retired; the new key speaks for the same identity.
    _refused(log, _profile(ALICE), Unauthorised)
    assert log.admit_entry(_profile(ALICE2)).identity == ALICE.did
    # A second rotation is signed by the current key and names it as the previous one.
    _refused(log, _rotate(ALICE, ALICE3, identity=ALICE.did), Unauthorised)
    log.admit_entry(_rotate(ALICE2, ALICE3, identity=ALICE.did))
    _refused(log, _profile(ALICE2), Unauthorised)
    assert log.admit_entry(_profile(ALICE3)).identity == ALICE.did
    assert log.members == {ALICE.did: "member", BOB.did: "operator"}


@pytest.mark.parametrize(
    "envelope",
    [
        _rotate(ALICE, ALICE2, cosigner=ALICE),
        _rotate(ALICE, ALICE2, cosigner=ALICE3),
        _rotate(ALICE, ALICE2, previous=BOB.did),
        _rotate(ALICE, ALICE2, identity=BOB.did),
        _rotate(ALICE, BOB),
        _rotate(ALICE, NODE),
        _rotate(ALICE, ALICE),
        _rotate(CAROL, ALICE2),
        _rotate(OUTSIDER, ALICE2),
        _rotate(NODE, ALICE2),
    ],
    ids=[
        "signed-by-old-key-only",
        "cosigned-by-third-key",
        "statement-names-other-previous-key",
        "identity-not-authors",
        "new-key-is-a-member",
        "new-key-is-the-node",
        "new-key-is-current-key",
        "by-non-member",
        "by-outsider",
        "by-node",
    ],
)
def test_rotate_refused(log: LogAuthority, envelope: Envelope) -> None:
    _refused(log, envelope, Unauthorised)


def test_rotate_to_a_retired_key_refused(log: LogAuthority) -> None:
    log.admit_entry(_rotate(ALICE, ALICE2))
    _refused(log, _rotate(ALICE2, ALICE, identity=ALICE.did), Unauthorised)
    # Bob may not take Alice's retired or current key either.
    _refused(log, _rotate(BOB, ALICE), Unauthorised)
    _refused(log, _rotate(BOB, ALICE2), Unauthorised)


def test_rotate_with_malformed_cosignature_refused(log: LogAuthority) -> None:
    body = {"identity": ALICE.did, "new_key": ALICE2.did, "new_key_sig": "AAAA"}
    _refused(log, _entry(ALICE, "key.rotate", body), InvalidRecord)


# --- anything else ------------------------------------------------------------------


@pytest.mark.parametrize("type_", ["design.widget", "member.promote", "node.shutdown", "x"])
def test_unknown_types_refused(log: LogAuthority, type_: str) -> None:
    before = _state(log)
    for by in (NODE, ALICE):
        with pytest.raises(ProtocolError):
            log.admit_entry(_entry(by, type_, {}))
    assert _state(log) == before


def test_check_refuses_types_without_a_rule(log: LogAuthority) -> None:
    record = Record(type="no.such.rule", author=NODE.did, created=_CREATED, body={})
    with pytest.raises(Unauthorised):
        log.check(record, object())  # type: ignore[arg-type]


def test_bad_signature_refused_without_effect(log: LogAuthority) -> None:
    good = _admit(CAROL)
    forged = Envelope(record=good.record, sig=ALICE.sign(b"anything"))
    _refused(log, forged, InvalidSignature)
    assert CAROL.did not in log.members


def test_copy_is_independent(log: LogAuthority) -> None:
    snapshot = log.copy()
    log.admit_entry(_admit(CAROL))
    log.admit_entry(_rotate(ALICE, ALICE2))
    assert CAROL.did not in snapshot.members
    assert ALICE.did not in snapshot.current_key


# --- a model ----------------------------------------------------------------------

POOL = [NODE] + [_key(f"authority/pool-{i}") for i in range(6)]


@dataclass
class Model:
    """The rules above, restated as simply as possible, for comparison."""

    node: str
    members: set[str] = field(default_factory=set)
    current: dict[str, str] = field(default_factory=dict)  # identity -> key
    owner: dict[str, str] = field(default_factory=dict)  # key -> identity, keys ever in use

    def identity(self, key: str) -> str:
        return self.owner.get(key, key)

    def speaks_as_member(self, key: str) -> bool:
        identity = self.identity(key)
        return identity in self.members and self.current.get(identity, identity) == key

    def admit(self, by: str, member: str) -> bool:
        if by != self.node or member == self.node or member in self.members:
            return False
        if self.identity(member) != member:
            return False
        self.members.add(member)
        self.owner.setdefault(member, member)
        return True

    def leave(self, by: str, member: str) -> bool:
        if member not in self.members:
            return False
        if by != self.node and not (self.speaks_as_member(by) and self.identity(by) == member):
            return False
        self.members.discard(member)
        return True

    def profile(self, by: str) -> bool:
        return self.speaks_as_member(by)

    def node_profile(self, by: str) -> bool:
        return by == self.node

    def rotate(self, by: str, identity: str, new: str, cosigned: bool) -> bool:
        if not self.speaks_as_member(by) or self.identity(by) != identity:
            return False
        if new == self.node or new in self.owner or not cosigned:
            return False
        self.current[identity] = new
        self.owner[new] = identity
        return True


_index = st.integers(0, len(POOL) - 1)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("admit"), _index, _index),
        st.tuples(st.just("admit"), st.just(0), _index),
        st.tuples(st.just("leave"), _index, _index),
        st.tuples(st.just("profile"), _index),
        st.tuples(st.just("node_profile"), _index),
        # A rotation names the signer's own identity (None) or any key's.
        st.tuples(st.just("rotate"), _index, st.none() | _index, _index, st.booleans()),
    ),
    min_size=1,
    max_size=30,
)
# Every sequence starts with the node admitting three members, so that the
# random operations meet members, rotations and retired keys often.
_PREFIX = [("admit", 0, 1), ("admit", 0, 2), ("admit", 0, 3)]


@settings(max_examples=150, deadline=None)
@given(operations)
def test_accepted_iff_the_model_accepts(ops: list[tuple[Any, ...]]) -> None:
    log = LogAuthority(node=NODE.did)
    model = Model(node=NODE.did)
    for op in _PREFIX + ops:
        kind, signer = op[0], POOL[op[1]]
        if kind == "admit":
            target = POOL[op[2]].did
            envelope = _admit(target, by=signer)
            expected = model.admit(signer.did, target)
        elif kind == "leave":
            target = POOL[op[2]].did
            envelope = _leave(target, by=signer)
            expected = model.leave(signer.did, target)
        elif kind == "profile":
            envelope = _profile(signer)
            expected = model.profile(signer.did)
        elif kind == "node_profile":
            envelope = _entry(signer, "node.profile", {"name": "n", "origin": "n.example"})
            expected = model.node_profile(signer.did)
        else:
            identity = model.identity(signer.did) if op[2] is None else POOL[op[2]].did
            new = POOL[op[3]]
            cosigned = op[4]
            envelope = _rotate(signer, new, identity=identity, cosigner=new if cosigned else signer)
            # The author's own signature over the statement is never the new key's
            # unless the new key is the author, which is refused as a key in use.
            expected = model.rotate(signer.did, identity, new.did, cosigned or new == signer)
        before = _state(log)
        try:
            log.admit_entry(envelope)
            accepted = True
        except Unauthorised:
            accepted = False
            assert _state(log) == before
        assert accepted == expected, (op, model)
        event(f"{kind} {'accepted' if accepted else 'refused'}")
        assert set(log.members) == model.members
        for identity in model.members:
            assert log.current_key.get(identity, identity) == model.current.get(identity, identity)

"""Replaying a log from its first entry: the check every verifier and follower runs.

`LogReplay` holds what a verifier needs to extend a verified prefix of a
log: the authorisation state, the Merkle frontier, and the ids seen. It is
pure; the node's sync and the `fabcommons log verify` command drive it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from protocol.authority import AuthorisedEntry, LogAuthority
from protocol.did import Did
from protocol.errors import InvalidProof, InvalidRecord
from protocol.merkle import Frontier, leaf_hash
from protocol.records import RecordId, parse_body
from protocol.signing import open_leaf

__all__ = ["LogReplay", "ReplayedEntry"]


@dataclass(frozen=True, slots=True)
class ReplayedEntry:
    index: int
    record_id: RecordId
    leaf: bytes
    entry: AuthorisedEntry


@dataclass(slots=True)
class LogReplay:
    """A verified prefix of one log."""

    authority: LogAuthority
    frontier: Frontier = field(default_factory=Frontier)
    seen_ids: set[str] = field(default_factory=set)

    @classmethod
    def start(cls, node: Did) -> LogReplay:
        return cls(authority=LogAuthority(node=node))

    @property
    def size(self) -> int:
        return self.frontier.size

    def add(self, leaf: bytes) -> ReplayedEntry:
        """Verify the next leaf (canonical, signed, authorised, new) and extend the tree.

        Raises ProtocolError; on error nothing changes.
        """
        opened = open_leaf(leaf)
        rid = opened.record_id
        if rid in self.seen_ids:
            raise InvalidRecord("record", f"{rid} appears twice in the log")
        record = opened.envelope.record
        # admit_verified changes the authority only when every check passes.
        admitted = self.authority.admit_verified(record, parse_body(record))
        index = self.frontier.size
        self.frontier.append(leaf_hash(leaf))
        self.seen_ids.add(rid)
        return ReplayedEntry(index=index, record_id=rid, leaf=leaf, entry=admitted)

    def check_root(self, size: int, root_hash: bytes) -> None:
        """Raise InvalidProof unless the replayed tree has this size and root."""
        if self.frontier.size != size:
            raise InvalidProof(f"replayed {self.frontier.size} entries, checkpoint says {size}")
        if self.frontier.root() != root_hash:
            raise InvalidProof("the entries do not hash to the checkpoint's root")

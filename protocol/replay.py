"""Replaying a log from its first entry: the check every verifier and follower runs.

`LogReplay` holds what a verifier needs to extend a verified prefix of a
log: the authorisation state, the Merkle frontier, and the record ids seen
with their indices (a record is appended to a log at most once,
specs/01-records.md §6, check 6). It is pure; the node's sync and the
`fabcommons log verify` command drive it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from protocol.authority import AuthorisedEntry, LogAuthority
from protocol.did import Did
from protocol.errors import InvalidProof, InvalidRecord
from protocol.merkle import Frontier, leaf_hash
from protocol.records import RecordId, parse_body
from protocol.signing import open_leaf

__all__ = ["LogReplay", "RepeatedRecord", "ReplayedEntry"]


class RepeatedRecord(InvalidRecord):
    """An entry whose record an earlier entry of its log holds (specs/01-records.md §6 check 6)."""

    def __init__(self, index: int, record_id: str, first: int) -> None:
        super().__init__("record", f"entry {index} repeats record {record_id} of entry {first}")
        self.index = index
        self.record_id = record_id
        self.first = first


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
    # record id -> index of its entry, for the entries replayed here (a
    # follower resuming from a stored head looks the stored ones up instead).
    seen_ids: dict[str, int] = field(default_factory=dict)

    @classmethod
    def start(cls, node: Did) -> LogReplay:
        return cls(authority=LogAuthority(node=node))

    @property
    def size(self) -> int:
        return self.frontier.size

    def add(self, leaf: bytes) -> ReplayedEntry:
        """Verify the next leaf (canonical, signed, authorised, new) and extend the tree.

        Raises ProtocolError (RepeatedRecord for a record the log holds already);
        on error nothing changes.
        """
        opened = open_leaf(leaf)
        rid = opened.record_id
        index = self.frontier.size
        if rid in self.seen_ids:
            raise RepeatedRecord(index, rid, self.seen_ids[rid])
        record = opened.envelope.record
        # admit_verified changes the authority only when every check passes.
        admitted = self.authority.admit_verified(record, parse_body(record))
        self.frontier.append(leaf_hash(leaf))
        self.seen_ids[rid] = index
        return ReplayedEntry(index=index, record_id=rid, leaf=leaf, entry=admitted)

    def check_root(self, size: int, root_hash: bytes) -> None:
        """Raise InvalidProof unless the replayed tree has this size and root."""
        if self.frontier.size != size:
            raise InvalidProof(f"replayed {self.frontier.size} entries, checkpoint says {size}")
        if self.frontier.root() != root_hash:
            raise InvalidProof("the entries do not hash to the checkpoint's root")

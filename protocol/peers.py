"""The peer.* record types: whom a cooperative federates with, and whom it blocks.

Both are signed by the node key (specs/03-federation.md §2). They are the
log's public statement of the node's federation policy; the node's peer
table follows them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from protocol.authority import LogAuthority, register_rule
from protocol.checkpoint import ALG_ED25519, NoteVerifier
from protocol.did import Did, public_key_from_did
from protocol.errors import InvalidKey, InvalidRecord, Unauthorised
from protocol.fields import check_keys, did_field, optional_record_id, str_field
from protocol.records import Record, RecordId, register_record_type

__all__ = ["PeerBlock", "PeerFederate"]


def _url_field(data: Mapping[str, Any], key: str) -> str:
    url = str_field(data, key, max_len=2000)
    if not url.startswith(("http://", "https://")):
        raise InvalidRecord(f"body.{key}", "must be an http(s) URL")
    return url


@register_record_type
@dataclass(frozen=True, slots=True, kw_only=True)
class PeerFederate:
    """peer.federate: this cooperative follows the log of `peer`, pinned to its log key."""

    TYPE: ClassVar[str] = "peer.federate"
    peer: Did
    url: str
    vkey: str
    result: RecordId | None = None

    def __post_init__(self) -> None:
        try:
            verifier = NoteVerifier.from_vkey(self.vkey)
        except InvalidKey as exc:
            raise InvalidRecord("body.vkey", str(exc)) from exc
        if verifier.alg != ALG_ED25519:
            raise InvalidRecord("body.vkey", "a log key has signature type 0x01 (Ed25519)")
        if verifier.public_key != public_key_from_did(self.peer):
            raise InvalidRecord("body.vkey", "is not the log key of body.peer")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        check_keys(data, ("peer", "url", "vkey"), ("result",))
        return cls(
            peer=did_field(data, "peer"),
            url=_url_field(data, "url"),
            vkey=str_field(data, "vkey", max_len=400),
            result=optional_record_id(data, "result"),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"peer": self.peer, "url": self.url, "vkey": self.vkey}
        if self.result is not None:
            out["result"] = self.result
        return out


@register_record_type
@dataclass(frozen=True, slots=True, kw_only=True)
class PeerBlock:
    """peer.block: this cooperative stops all traffic with `peer`, saying why."""

    TYPE: ClassVar[str] = "peer.block"
    peer: Did
    reason: str
    result: RecordId | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        check_keys(data, ("peer", "reason"), ("result",))
        return cls(
            peer=did_field(data, "peer"),
            reason=str_field(data, "reason", max_len=2000),
            result=optional_record_id(data, "result"),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"peer": self.peer, "reason": self.reason}
        if self.result is not None:
            out["result"] = self.result
        return out


def _check_peer_record(state: LogAuthority, record: Record, body: PeerFederate | PeerBlock) -> None:
    state.require_node(record)
    if body.peer == state.node:
        raise Unauthorised("a node does not federate with or block itself")


register_rule(PeerFederate.TYPE, _check_peer_record)
register_rule(PeerBlock.TYPE, _check_peer_record)

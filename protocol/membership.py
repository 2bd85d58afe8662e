"""The record types of this package: node.profile, member.*, key.rotate.

specs/01-records.md §7 gives their schemas; protocol/authority.py says who
may sign them. Unknown body fields are refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from protocol.canonical import canonicalize
from protocol.did import Did
from protocol.errors import InvalidRecord
from protocol.fields import (
    check_keys,
    did_field,
    enum_field,
    optional_record_id,
    optional_str,
    str_field,
)
from protocol.keys import AgentKey
from protocol.records import RecordId, b64url_decode, b64url_encode, register_record_type

__all__ = [
    "ROLES",
    "KeyRotate",
    "MemberAdmit",
    "MemberLeave",
    "MemberProfile",
    "NodeProfile",
    "rotation_statement",
    "sign_rotation",
]

ROLES = frozenset({"member", "operator"})
ROTATION_PREFIX = b"fabcommons-key-rotate-v1\n"


@register_record_type
@dataclass(frozen=True, slots=True, kw_only=True)
class NodeProfile:
    """node.profile: the node describes itself (signed by the node key)."""

    TYPE: ClassVar[str] = "node.profile"
    name: str
    origin: str
    url: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        check_keys(data, ("name", "origin"), ("url",))
        return cls(
            name=str_field(data, "name", max_len=200),
            origin=str_field(data, "origin", max_len=200),
            url=optional_str(data, "url", max_len=2000),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "origin": self.origin}
        if self.url is not None:
            out["url"] = self.url
        return out


@register_record_type
@dataclass(frozen=True, slots=True, kw_only=True)
class MemberAdmit:
    """member.admit: the node admits an identity, optionally citing the decision."""

    TYPE: ClassVar[str] = "member.admit"
    member: Did
    role: str = "member"
    result: RecordId | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        check_keys(data, ("member", "role"), ("result",))
        return cls(
            member=did_field(data, "member"),
            role=enum_field(data, "role", ROLES),
            result=optional_record_id(data, "result"),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"member": self.member, "role": self.role}
        if self.result is not None:
            out["result"] = self.result
        return out


@register_record_type
@dataclass(frozen=True, slots=True, kw_only=True)
class MemberLeave:
    """member.leave: the member leaves, or the node removes them."""

    TYPE: ClassVar[str] = "member.leave"
    member: Did
    reason: str | None = None
    result: RecordId | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        check_keys(data, ("member",), ("reason", "result"))
        return cls(
            member=did_field(data, "member"),
            reason=optional_str(data, "reason", max_len=2000),
            result=optional_record_id(data, "result"),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"member": self.member}
        if self.reason is not None:
            out["reason"] = self.reason
        if self.result is not None:
            out["result"] = self.result
        return out


@register_record_type
@dataclass(frozen=True, slots=True, kw_only=True)
class MemberProfile:
    """member.profile: a member describes themself (the author is the subject)."""

    TYPE: ClassVar[str] = "member.profile"
    display_name: str
    contact: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        check_keys(data, ("display_name",), ("contact",))
        return cls(
            display_name=str_field(data, "display_name", max_len=200),
            contact=optional_str(data, "contact", max_len=500),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"display_name": self.display_name}
        if self.contact is not None:
            out["contact"] = self.contact
        return out


def rotation_statement(identity: Did, previous_key: Did, new_key: Did) -> bytes:
    """The bytes the new key signs to accept an identity (specs/01-records.md §7.5)."""
    body = {"identity": identity, "new_key": new_key, "previous_key": previous_key}
    return ROTATION_PREFIX + canonicalize(body)


def sign_rotation(identity: Did, previous_key: Did, new_key: AgentKey) -> str:
    """The new key's base64url signature of its rotation statement."""
    return b64url_encode(new_key.sign(rotation_statement(identity, previous_key, new_key.did)))


@register_record_type
@dataclass(frozen=True, slots=True, kw_only=True)
class KeyRotate:
    """key.rotate: the current key moves `identity` to `new_key`, which co-signs."""

    TYPE: ClassVar[str] = "key.rotate"
    identity: Did
    new_key: Did
    new_key_sig: bytes

    def __post_init__(self) -> None:
        if len(self.new_key_sig) != 64:
            raise InvalidRecord("body.new_key_sig", "must be a 64-byte signature")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        check_keys(data, ("identity", "new_key", "new_key_sig"))
        try:
            sig = b64url_decode(data["new_key_sig"])
        except ValueError as exc:
            raise InvalidRecord("body.new_key_sig", str(exc)) from exc
        return cls(
            identity=did_field(data, "identity"),
            new_key=did_field(data, "new_key"),
            new_key_sig=sig,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "identity": self.identity,
            "new_key": self.new_key,
            "new_key_sig": b64url_encode(self.new_key_sig),
        }

"""Records and envelopes as DESIGN.md §3 pins them, and the record-type registry.

A record is the JSON object {"v", "type", "author", "created", "body"}; an
envelope is {"record", "sig"}. These classes only validate shape; signing,
ids and leaf bytes live in protocol/signing.py, and who may sign what in
protocol/authority.py.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, NewType, Protocol, Self, TypeVar

from protocol.did import Did, public_key_from_did
from protocol.errors import InvalidKey, InvalidRecord

__all__ = [
    "MAX_LEAF_BYTES",
    "RECORD_TYPES",
    "Envelope",
    "Record",
    "RecordBody",
    "RecordId",
    "b64url_decode",
    "b64url_encode",
    "format_time",
    "is_record_id",
    "parse_body",
    "parse_time",
    "register_record_type",
]

RecordId = NewType("RecordId", str)

RECORD_VERSION = 1
# specs/01-records.md §4: the leaf (JCS of the envelope) may not exceed this.
MAX_LEAF_BYTES = 128 * 1024

_TYPE_RE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")
_TIME_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,6}))?Z"
)
_ID_RE = re.compile(r"sha256:[0-9a-f]{64}")
_B64URL_RE = re.compile(r"[A-Za-z0-9_-]*")
_B64URL_VALUE = {
    ch: i for i, ch in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
}
_UNUSED_BITS = {2: 0x0F, 3: 0x03}
_URL_TO_STD = bytes.maketrans(b"-_", b"+/")
_PADDING = {0: b"", 2: b"==", 3: b"="}
_RECORD_KEYS = frozenset({"v", "type", "author", "created", "body"})
_ENVELOPE_KEYS = frozenset({"record", "sig"})


def b64url_encode(data: bytes) -> str:
    """base64url without padding (RFC 4648 §5)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url, refusing padding and non-canonical trailing bits."""
    if not isinstance(text, str) or _B64URL_RE.fullmatch(text) is None:
        raise ValueError("not unpadded base64url")
    tail = len(text) % 4
    if tail == 1:
        raise ValueError("not base64url")
    # The last character of a 2- or 3-character tail carries 4 or 2 bits that
    # encode nothing; canonical base64url (RFC 4648 §3.5) has them zero.
    if tail and _B64URL_VALUE[text[-1]] & _UNUSED_BITS[tail]:
        raise ValueError("base64url is not canonical")
    # Every sync'd leaf's signature passes here: the table-driven translation
    # and binascii are several times faster than base64.urlsafe_b64decode plus
    # a re-encoding, and refuse exactly the same inputs.
    return binascii.a2b_base64(text.encode("ascii").translate(_URL_TO_STD) + _PADDING[tail])


def parse_time(text: str) -> datetime:
    """Parse the profile's RFC 3339 UTC form (…T…Z, up to 6 fraction digits)."""
    if not isinstance(text, str) or _TIME_RE.fullmatch(text) is None:
        raise ValueError("not RFC 3339 UTC of the form YYYY-MM-DDTHH:MM:SS[.ffffff]Z")
    # The strict pattern admits only a subset of what fromisoformat reads
    # (Python 3.11: "Z", 1 to 6 fraction digits), and fromisoformat refuses
    # out-of-range fields as datetime() does; it is 20 times faster than
    # building the datetime from the groups.
    return datetime.fromisoformat(text)


def format_time(moment: datetime) -> str:
    """Format an aware datetime in the profile's RFC 3339 UTC form."""
    if moment.tzinfo is None:
        raise ValueError("datetime must be timezone-aware")
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """One signed statement. `body` is the JSON object exactly as signed."""

    v: int = RECORD_VERSION
    type: str
    author: Did
    created: str
    body: Mapping[str, Any]

    def __post_init__(self) -> None:
        if type(self.v) is not int or self.v != RECORD_VERSION:
            raise InvalidRecord("v", f"must be {RECORD_VERSION}")
        if (
            not isinstance(self.type, str)
            or len(self.type) > 64
            or not _TYPE_RE.fullmatch(self.type)
        ):
            raise InvalidRecord("type", "must be a dotted lowercase name of at most 64 chars")
        try:
            public_key_from_did(self.author)
        except InvalidKey as exc:
            raise InvalidRecord("author", str(exc)) from exc
        try:
            parse_time(self.created)
        except ValueError as exc:
            raise InvalidRecord("created", str(exc)) from exc
        if not isinstance(self.body, dict):
            raise InvalidRecord("body", "must be an object")

    @property
    def created_at(self) -> datetime:
        return parse_time(self.created)

    @classmethod
    def prevalidated(
        cls, record_type: str, author: Did, created: str, body: Mapping[str, Any]
    ) -> Self:
        """A record of v 1 from fields that already passed this class's checks, unchecked.

        Only for the fields of a record validated elsewhere: a sync worker
        process opens each leaf (open_leaf builds and checks the Record) and
        hands back its fields, which the main process must not pay to check
        again. Anything else must use the constructor or `from_dict`.
        """
        record = object.__new__(cls)
        init = object.__setattr__  # the class is frozen
        init(record, "v", RECORD_VERSION)
        init(record, "type", record_type)
        init(record, "author", author)
        init(record, "created", created)
        init(record, "body", body)
        return record

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        """Validate the shape of a record object. Raises InvalidRecord."""
        if not isinstance(data, dict):
            raise InvalidRecord("record", "must be an object")
        keys = set(data)
        if keys != _RECORD_KEYS:
            missing = sorted(_RECORD_KEYS - keys)
            extra = sorted(keys - _RECORD_KEYS)
            raise InvalidRecord("record", f"missing {missing}, unknown {extra}")
        return cls(
            v=data["v"],
            type=data["type"],
            author=data["author"],
            created=data["created"],
            body=data["body"],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": self.v,
            "type": self.type,
            "author": self.author,
            "created": self.created,
            "body": self.body,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Envelope:
    """A record with the author's 64-byte Ed25519 signature beside it."""

    record: Record
    sig: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.sig, bytes) or len(self.sig) != 64:
            raise InvalidRecord("sig", "must be a 64-byte Ed25519 signature")

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        """Validate the shape of an envelope object. Raises InvalidRecord."""
        if not isinstance(data, dict):
            raise InvalidRecord("envelope", "must be an object")
        keys = set(data)
        if keys != _ENVELOPE_KEYS:
            raise InvalidRecord(
                "envelope",
                f"missing {sorted(_ENVELOPE_KEYS - keys)}, unknown {sorted(keys - _ENVELOPE_KEYS)}",
            )
        try:
            sig = b64url_decode(data["sig"])
        except ValueError as exc:
            raise InvalidRecord("sig", str(exc)) from exc
        return cls(record=Record.from_dict(data["record"]), sig=sig)

    def to_dict(self) -> dict[str, Any]:
        return {"record": self.record.to_dict(), "sig": b64url_encode(self.sig)}


class RecordBody(Protocol):
    """A typed record body. Implementations are frozen dataclasses."""

    TYPE: ClassVar[str]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self: ...

    def to_dict(self) -> dict[str, Any]: ...


RECORD_TYPES: dict[str, type[RecordBody]] = {}
_T = TypeVar("_T", bound=type[RecordBody])


def register_record_type(cls: _T) -> _T:
    """Class decorator: make `cls` the body class of its TYPE."""
    existing = RECORD_TYPES.get(cls.TYPE)
    if existing is not None and existing is not cls:
        raise ValueError(f"record type {cls.TYPE} is registered twice")
    RECORD_TYPES[cls.TYPE] = cls
    return cls


def parse_body(record: Record) -> RecordBody:
    """Return the typed body of a record. Raises InvalidRecord for unknown types or bodies."""
    cls = RECORD_TYPES.get(record.type)
    if cls is None:
        raise InvalidRecord("type", f"unknown record type {record.type!r}")
    return cls.from_dict(record.body)


def is_record_id(text: object) -> bool:
    return isinstance(text, str) and _ID_RE.fullmatch(text) is not None

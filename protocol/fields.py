"""Field validators shared by record body classes: each raises InvalidRecord naming the field."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from protocol.did import Did, public_key_from_did
from protocol.errors import InvalidKey, InvalidRecord
from protocol.records import RecordId, is_record_id

__all__ = [
    "check_keys",
    "did_field",
    "enum_field",
    "int_field",
    "optional_record_id",
    "optional_str",
    "record_id_field",
    "str_field",
]


def check_keys(
    data: Mapping[str, Any], required: Collection[str], optional: Collection[str] = ()
) -> None:
    """Refuse a body that is not an object, lacks a required key or has an unknown one."""
    if not isinstance(data, Mapping):
        raise InvalidRecord("body", "must be an object")
    for key in required:
        if key not in data:
            raise InvalidRecord(f"body.{key}", "is required")
    allowed = set(required) | set(optional)
    for key in data:
        if key not in allowed:
            raise InvalidRecord(f"body.{key}", "is not a known field")


def str_field(data: Mapping[str, Any], key: str, *, max_len: int, min_len: int = 1) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise InvalidRecord(f"body.{key}", "must be a string")
    if not min_len <= len(value) <= max_len:
        raise InvalidRecord(f"body.{key}", f"must be {min_len} to {max_len} characters")
    return value


def optional_str(data: Mapping[str, Any], key: str, *, max_len: int) -> str | None:
    if key not in data:
        return None
    return str_field(data, key, max_len=max_len)


def int_field(data: Mapping[str, Any], key: str, *, minimum: int, maximum: int) -> int:
    value = data.get(key)
    if type(value) is not int or not minimum <= value <= maximum:
        raise InvalidRecord(f"body.{key}", f"must be an integer from {minimum} to {maximum}")
    return value


def did_field(data: Mapping[str, Any], key: str) -> Did:
    value = data.get(key)
    try:
        public_key_from_did(value)  # type: ignore[arg-type]
    except InvalidKey as exc:
        raise InvalidRecord(f"body.{key}", str(exc)) from exc
    return Did(value)  # type: ignore[arg-type]


def enum_field(data: Mapping[str, Any], key: str, allowed: Collection[str]) -> str:
    value = data.get(key)
    if not isinstance(value, str) or value not in allowed:
        raise InvalidRecord(f"body.{key}", f"must be one of {sorted(allowed)}")
    return str(value)


def record_id_field(data: Mapping[str, Any], key: str) -> RecordId:
    value = data.get(key)
    if not is_record_id(value):
        raise InvalidRecord(f"body.{key}", "must be a record id sha256:<64 lowercase hex>")
    return RecordId(value)  # type: ignore[arg-type]


def optional_record_id(data: Mapping[str, Any], key: str) -> RecordId | None:
    if key not in data:
        return None
    return record_id_field(data, key)

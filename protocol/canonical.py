"""Strict I-JSON parsing and RFC 8785 (JCS) canonical serialisation.

The profile (specs/01-records.md §2): objects with string keys, arrays,
strings without lone surrogates, integers within ±(2^53−1), true, false,
null. No floats at all, so JCS number formatting reduces to integer
formatting. This module does not know about records or signatures.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
import rfc8785

from protocol.errors import InvalidJSON

__all__ = [
    "MAX_DEPTH",
    "MAX_SAFE_INTEGER",
    "canonicalize",
    "canonicalize_reference",
    "parse",
    "parse_canonical",
]

MAX_SAFE_INTEGER = 2**53 - 1
# specs/01-records.md §2: nesting deeper than this is refused, so that no
# input can exhaust the interpreter's stack.
MAX_DEPTH = 32


def _reject_constant(name: str) -> Any:
    raise InvalidJSON(f"{name} is not JSON")


def _reject_float(text: str) -> Any:
    raise InvalidJSON(f"number {text[:40]} is not an integer; floats are not allowed")


def _parse_int(text: str) -> int:
    # Checked on the text first so that a 10^6-digit number costs nothing.
    if len(text) > 17:
        raise InvalidJSON(f"integer {text[:40]}… is outside ±(2^53−1)")
    value = int(text)
    if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        raise InvalidJSON(f"integer {text} is outside ±(2^53−1)")
    return value


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise InvalidJSON(f"duplicate key {key!r}")
            seen.add(key)
    return obj


def _check(value: Any, depth: int) -> bool:
    """Validate one value of the profile; return True if some key is outside the BMP.

    Written for speed: every leaf a node appends or syncs passes through here.
    """
    kind = type(value)
    if kind is str:
        if not value.isascii():
            _check_string(value)
        return False
    if kind is int:
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise InvalidJSON(f"integer {value} is outside ±(2^53−1)")
        return False
    if value is None or kind is bool:
        return False
    if depth >= MAX_DEPTH:
        raise InvalidJSON(f"nesting deeper than {MAX_DEPTH}")
    astral = False
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise InvalidJSON(f"object key {key!r} is not a string")
            if not key.isascii():
                _check_string(key)
                if not astral and any(ord(ch) > 0xFFFF for ch in key):
                    astral = True
            if type(item) is str:
                if not item.isascii():
                    _check_string(item)
            elif _check(item, depth + 1):
                astral = True
        return astral
    if kind is list or kind is tuple:
        for item in value:
            if type(item) is str:
                if not item.isascii():
                    _check_string(item)
            elif _check(item, depth + 1):
                astral = True
        return astral
    return _check_subclass(value, depth)


def _check_subclass(value: Any, depth: int) -> bool:
    """The slow path for subclasses of the JSON types (e.g. str-based enums)."""
    if isinstance(value, float):
        raise InvalidJSON("floats are not allowed")
    if isinstance(value, bool):
        return False
    if isinstance(value, str):
        return _check(str(value), depth)
    if isinstance(value, int):
        return _check(int(value), depth)
    if isinstance(value, dict):
        return _check(dict(value), depth)
    if isinstance(value, list | tuple):
        return _check(list(value), depth)
    raise InvalidJSON(f"{type(value).__name__} is not a JSON value")


# I-JSON (RFC 7493 §2.1) forbids Unicode noncharacters as well as surrogates.
_NONCHARACTER = re.compile(
    "[\ufdd0-\ufdef\ufffe\uffff"
    + "".join(
        f"{chr(plane * 0x10000 + 0xFFFE)}{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(1, 17)
    )
    + "]"
)


def _check_string(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidJSON("string contains a lone surrogate") from exc
    if _NONCHARACTER.search(text):
        raise InvalidJSON("string contains a Unicode noncharacter (RFC 7493 §2.1)")


def canonicalize(value: Any) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of a value of the profile.

    Raises InvalidJSON for anything outside the profile.
    """
    astral_keys = _check(value, 0)
    if astral_keys:
        # RFC 8785 §3.2.3 sorts keys by UTF-16 code units; orjson sorts by
        # code points. The two orders differ only for keys outside the BMP.
        return canonicalize_reference(value)
    # For strings and integers of the profile, orjson's escaping and number
    # form equal JCS's (tests/protocol/test_canonical.py proves it by property).
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def canonicalize_reference(value: Any) -> bytes:
    """RFC 8785 by the reference implementation, for the cases the fast path leaves."""
    _check(value, 0)
    return rfc8785.dumps(value)


def parse(data: bytes | str) -> Any:
    """Parse JSON text strictly into the profile.

    Refuses invalid UTF-8, duplicate keys, floats, NaN/Infinity, integers
    outside ±(2^53−1), lone surrogates and nesting beyond MAX_DEPTH.
    Raises InvalidJSON.
    """
    if isinstance(data, bytes | bytearray | memoryview):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidJSON(f"not UTF-8 at byte {exc.start}") from exc
    else:
        text = data
    try:
        value = json.loads(
            text,
            object_pairs_hook=_object_without_duplicates,
            parse_float=_reject_float,
            parse_int=_parse_int,
            parse_constant=_reject_constant,
        )
    except InvalidJSON:
        raise
    except RecursionError as exc:
        raise InvalidJSON("nesting too deep") from exc
    except ValueError as exc:
        raise InvalidJSON(f"not JSON: {exc}") from exc
    _check(value, 0)
    return value


def parse_canonical(data: bytes) -> Any:
    """Parse bytes that must already be canonical (a log leaf) and return the value.

    A fast path: any duplicate key, float, odd spacing or escaping makes the
    re-canonicalised bytes differ from the input, so equality is the whole test.
    Raises InvalidJSON.
    """
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidJSON(f"not JSON: {exc}") from exc
    if canonicalize(value) != bytes(data):
        raise InvalidJSON("bytes are not in RFC 8785 canonical form")
    return value

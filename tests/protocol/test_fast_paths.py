"""The fast paths a follower's sync runs per leaf, against what they replace.

`parse_time` and `b64url_decode` were rewritten for speed (fromisoformat after
the strict pattern; a table-driven base64url check). The implementations
they replaced are kept here, verbatim, as the reference: on valid and
invalid inputs alike, the new ones must return the same value or raise the
same error with the same message. `check_leaves` is checked against an
independent computation (json, rfc8785, hashlib, PyNaCl) and against
`open_leaf`; `Record.prevalidated` against the checking constructor.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import string
from datetime import UTC, datetime
from typing import Any

import nacl.signing
import pytest
import rfc8785
from hypothesis import example, given, settings
from hypothesis import strategies as st

from protocol.errors import InvalidRecord
from protocol.keys import AgentKey
from protocol.records import Record, b64url_decode, parse_time
from protocol.signing import check_leaves, leaf_bytes, open_leaf, sign

# --- the implementations replaced (protocol/records.py before the change) -------------

_OLD_TIME_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,6}))?Z"
)


def old_parse_time(text: str) -> datetime:
    match = _OLD_TIME_RE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError("not RFC 3339 UTC of the form YYYY-MM-DDTHH:MM:SS[.ffffff]Z")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction = match.group(7) or ""
    micro = int(fraction.ljust(6, "0")) if fraction else 0
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def _old_b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def old_b64url_decode(text: str) -> bytes:
    if not isinstance(text, str) or "=" in text or not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not unpadded base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ValueError("not base64url") from exc
    if _old_b64url_encode(data) != text:
        raise ValueError("base64url is not canonical")
    return data


def outcome(fn: Any, value: Any) -> tuple[str, Any]:
    try:
        return ("value", fn(value))
    except Exception as exc:
        return (type(exc).__name__, str(exc))


# --- parse_time ----------------------------------------------------------------------------

_DIGITS = st.text(alphabet="0123456789", min_size=1, max_size=3)


@st.composite
def time_like(draw: st.DrawFn) -> str:
    """Strings of the profile's shape with any digits (out-of-range fields included)."""
    year = draw(st.integers(0, 9999))
    month, day, hour, minute, second = (draw(st.integers(0, 99)) for _ in range(5))
    text = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
    if draw(st.booleans()):
        text += "." + draw(st.text(alphabet="0123456789", min_size=0, max_size=8))
    return text + draw(st.sampled_from(["Z", "z", "", "+00:00", "Z\n", " Z"]))


@st.composite
def mutated_time(draw: st.DrawFn) -> str:
    """A valid time with one character replaced, inserted or deleted."""
    moment = draw(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)))
    text = moment.strftime("%Y-%m-%dT%H:%M:%S") + (
        f".{moment.microsecond:06d}".rstrip("0") if moment.microsecond else ""
    )
    text += "Z"
    at = draw(st.integers(0, len(text)))
    junk = draw(st.sampled_from(list("0123456789-:T.Z tz+\u0660\uff10")))
    action = draw(st.sampled_from(["replace", "insert", "delete"]))
    if action == "replace" and at < len(text):
        return text[:at] + junk + text[at + 1 :]
    if action == "delete" and at < len(text):
        return text[:at] + text[at + 1 :]
    return text[:at] + junk + text[at:]


@settings(max_examples=3000, deadline=None)
@given(st.one_of(time_like(), mutated_time(), st.text(max_size=40)))
@example("2026-01-01T24:00:00Z")
@example("2024-02-29T23:59:59.999999Z")
@example("2023-02-29T00:00:00Z")
@example("0000-01-01T00:00:00Z")
@example("2026-01-01T00:00:60Z")
@example("2026-01-01T00:00:00.Z")
@example("2026-01-01T00:00:00.1234567Z")
@example("2026-01-01 00:00:00Z")
@example("2026-01-01T00:00:00+00:00")
@example("\u0662026-01-01T00:00:00Z")
@example("2026-01-01T00:00:00.000000Z")
def test_parse_time_is_the_old_parse_time(text: str) -> None:
    assert outcome(parse_time, text) == outcome(old_parse_time, text)


@pytest.mark.parametrize("value", [None, 20260101, b"2026-01-01T00:00:00Z", ["x"]])
def test_parse_time_refuses_non_strings_like_the_old(value: Any) -> None:
    assert outcome(parse_time, value) == outcome(old_parse_time, value)
    assert outcome(parse_time, value)[0] == "ValueError"


def test_parse_time_values() -> None:
    # Hand-worked: the fraction is right-padded to microseconds; the zone is UTC.
    assert parse_time("2025-01-02T03:04:05.5Z") == datetime(2025, 1, 2, 3, 4, 5, 500000, UTC)
    assert parse_time("2025-01-02T03:04:05.000001Z").microsecond == 1
    assert parse_time("2025-01-02T03:04:05Z").tzinfo is UTC


# --- b64url_decode -------------------------------------------------------------------------


@st.composite
def b64url_like(draw: st.DrawFn) -> str:
    """Encodings of random bytes, then perhaps damaged: padded, truncated, a bit flipped."""
    text = _old_b64url_encode(draw(st.binary(max_size=80)))
    damage = draw(st.sampled_from(["none", "pad", "cut", "char", "std", "last"]))
    if damage == "pad":
        text += draw(st.sampled_from(["=", "==", "==="]))
    elif damage == "cut" and text:
        text = text[: draw(st.integers(0, len(text) - 1))]
    elif damage == "char" and text:
        at = draw(st.integers(0, len(text) - 1))
        text = text[:at] + draw(st.sampled_from(list("+/=. \n\u00e9A_-"))) + text[at + 1 :]
    elif damage == "std":
        text = text.replace("-", "+").replace("_", "/")
    elif damage == "last" and text:
        # Any final character: a non-canonical one sets bits that encode nothing.
        text = text[:-1] + draw(st.sampled_from(string.ascii_letters + string.digits + "-_"))
    return text


@settings(max_examples=3000, deadline=None)
@given(st.one_of(b64url_like(), st.text(alphabet=string.printable + "\u00e9", max_size=12)))
@example("")
@example("A")
@example("AB")
@example("AQ")
@example("AR")
@example("AQI")
@example("AQJ")
@example("AQ==")
@example("AQ=")
@example("A===")
@example("\uff21\uff21\uff21\uff21")
def test_b64url_decode_is_the_old_b64url_decode(text: str) -> None:
    assert outcome(b64url_decode, text) == outcome(old_b64url_decode, text)


@pytest.mark.parametrize("value", [None, b"AAAA", 12])
def test_b64url_decode_refuses_non_strings_like_the_old(value: Any) -> None:
    assert outcome(b64url_decode, value) == outcome(old_b64url_decode, value)


def test_b64url_decode_values() -> None:
    # RFC 4648 §10 test vectors, in the URL alphabet without padding.
    for data, text in [
        (b"", ""),
        (b"f", "Zg"),
        (b"fo", "Zm8"),
        (b"foo", "Zm9v"),
        (b"foob", "Zm9vYg"),
    ]:
        assert b64url_decode(text) == data
    assert b64url_decode("-_-_") == bytes([0xFB, 0xFF, 0xBF])
    with pytest.raises(ValueError, match="not canonical"):
        b64url_decode("Zh")  # "f" with a low bit set


# --- check_leaves and Record.prevalidated ----------------------------------------------------

KEY = AgentKey.from_seed(hashlib.sha256(b"fast-paths/author").digest())


def _leaf(name: str) -> bytes:
    record = Record(
        type="member.profile",
        author=KEY.did,
        created="2025-01-02T03:04:05.25Z",
        body={"display_name": name},
    )
    return leaf_bytes(sign(record, KEY))


def test_check_leaves_matches_an_independent_opening() -> None:
    good = [_leaf(f"Ada {i}") for i in range(3)]
    forged = good[1].replace(b"Ada 1", b"Ada 7")
    not_canonical = good[2].replace(b'{"record":', b'{ "record":')
    leaves = [good[0], forged, good[1], not_canonical, good[2]]
    results = check_leaves(leaves)
    assert results[1] is None
    assert results[3] is None
    verify_key = nacl.signing.VerifyKey(KEY.public_key)
    for leaf, result in zip(leaves, results, strict=True):
        if result is None:
            continue
        envelope = json.loads(leaf)
        record = envelope["record"]
        jcs = rfc8785.dumps(record)
        signature = base64.urlsafe_b64decode(envelope["sig"] + "==")
        verify_key.verify(b"fabcommons-record-v1\n" + jcs, signature)
        assert result == (
            "sha256:" + hashlib.sha256(jcs).hexdigest(),
            record["type"],
            record["author"],
            record["created"],
            record["body"],
            hashlib.sha256(b"\x00" + leaf).digest(),
        )
        opened = open_leaf(leaf)
        assert result[0] == opened.record_id


def test_prevalidated_equals_the_checked_record() -> None:
    for leaf in [_leaf("Grace"), _leaf("Émilie")]:
        result = check_leaves([leaf])[0]
        assert result is not None
        rebuilt = Record.prevalidated(*result[1:5])
        assert rebuilt == open_leaf(leaf).envelope.record
        assert rebuilt.v == 1
        assert rebuilt.to_dict() == json.loads(leaf)["record"]
        with pytest.raises(AttributeError):
            rebuilt.type = "x"  # type: ignore[misc]


def test_prevalidated_checks_nothing_which_is_why_only_checked_fields_may_go_in() -> None:
    # The constructor refuses this record; prevalidated does not look.
    with pytest.raises(InvalidRecord):
        Record(type="Bad Type", author=KEY.did, created="never", body={})
    unchecked = Record.prevalidated("Bad Type", KEY.did, "never", {})
    assert unchecked.type == "Bad Type"

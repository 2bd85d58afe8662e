"""protocol.canonical: the strict I-JSON parser and RFC 8785 (JCS) serialisation.

Published vectors (RFC 8785 and the cyberphone/json-canonicalization test
data) are transcribed byte for byte with their source. Where a published
vector holds floats, which our profile refuses, the test checks that the
parser refuses it and then applies a documented edit that drops only the
floats; the rest of the published output must still match exactly.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.canonical import (
    MAX_DEPTH,
    MAX_SAFE_INTEGER,
    canonicalize,
    parse,
    parse_canonical,
)
from protocol.errors import InvalidJSON

# --- RFC 8785 -----------------------------------------------------------------

# RFC 8785 §3.2.2 (the main example) and §3.2.4 (its UTF-8 output in hex).
RFC8785_MAIN_INPUT = (
    b"{\n"
    b'  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],\n'
    rb'  "string": "\u20ac$\u000F\u000aA'
    rb"'\u0042\u0022\u005c\\\"\/"
    b'",\n'
    b'  "literals": [null, true, false]\n'
    b"}"
)
RFC8785_MAIN_OUTPUT_HEX = (
    "7b 22 6c 69 74 65 72 61 6c 73 22 3a 5b 6e 75 6c 6c 2c 74 72"
    " 75 65 2c 66 61 6c 73 65 5d 2c 22 6e 75 6d 62 65 72 73 22 3a"
    " 5b 33 33 33 33 33 33 33 33 33 2e 33 33 33 33 33 33 33 2c 31"
    " 65 2b 33 30 2c 34 2e 35 2c 30 2e 30 30 32 2c 31 65 2d 32 37"
    " 5d 2c 22 73 74 72 69 6e 67 22 3a 22 e2 82 ac 24 5c 75 30 30"
    " 30 66 5c 6e 41 27 42 5c 22 5c 5c 5c 5c 5c 22 2f 22 7d"
)
# The edit that takes the example into our profile: drop the "numbers" member.
RFC8785_NUMBERS_IN = (
    b'  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],\n'
)
RFC8785_NUMBERS_OUT = b'"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'

# RFC 8785 §3.2.3: property sorting by UTF-16 code units. All values are
# strings, so the example is inside the profile as published.
RFC8785_SORTING_INPUT = (
    b"{\n"
    rb'  "\u20ac": "Euro Sign",'
    b"\n"
    rb'  "\r": "Carriage Return",'
    b"\n"
    rb'  "\ufb33": "Hebrew Letter Dalet With Dagesh",'
    b"\n"
    rb'  "1": "One",'
    b"\n"
    rb'  "\ud83d\ude00": "Emoji: Grinning Face",'
    b"\n"
    rb'  "\u0080": "Control",'
    b"\n"
    rb'  "\u00f6": "Latin Small Letter O With Diaeresis"'
    b"\n"
    b"}"
)
# RFC 8785 §3.2.3: "the expected order" of the property names.
RFC8785_SORTED_KEYS = ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_rfc8785_main_example_is_refused_for_its_floats() -> None:
    # The transcription is right: the reference implementation agrees with §3.2.4.
    assert rfc8785.dumps(json.loads(RFC8785_MAIN_INPUT)) == bytes.fromhex(RFC8785_MAIN_OUTPUT_HEX)
    with pytest.raises(InvalidJSON):
        parse(RFC8785_MAIN_INPUT)


def test_rfc8785_main_example_without_numbers() -> None:
    assert RFC8785_MAIN_INPUT.count(RFC8785_NUMBERS_IN) == 1
    published = bytes.fromhex(RFC8785_MAIN_OUTPUT_HEX)
    assert published.count(RFC8785_NUMBERS_OUT) == 1
    text = RFC8785_MAIN_INPUT.replace(RFC8785_NUMBERS_IN, b"")
    expected = published.replace(RFC8785_NUMBERS_OUT, b"")
    value = parse(text)
    assert canonicalize(value) == expected
    assert parse_canonical(expected) == value


def test_rfc8785_property_sorting_example() -> None:
    value = parse(RFC8785_SORTING_INPUT)
    out = canonicalize(value)
    keys = [k for k, _ in json.loads(out, object_pairs_hook=lambda pairs: pairs)]
    assert keys == RFC8785_SORTED_KEYS
    assert out == (
        '{"\\r":"Carriage Return","1":"One","\u0080":"Control",'
        '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
        '"\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
    ).encode("utf-8")
    assert parse_canonical(out) == value


# RFC 8785 §3.2.2.2 (strings): the two-character escapes \b \t \n \f \r \" \\,
# \u00xx in lowercase hex for the other controls below U+0020, and every other
# character as itself in UTF-8 (so "/", U+007F, U+2028 and astral characters
# are not escaped).
STRING_CASES = [
    ("\x00", b'"\\u0000"'),
    ("\x01", b'"\\u0001"'),
    ("\x08", b'"\\b"'),
    ("\t", b'"\\t"'),
    ("\n", b'"\\n"'),
    ("\x0b", b'"\\u000b"'),
    ("\x0c", b'"\\f"'),
    ("\r", b'"\\r"'),
    ("\x0f", b'"\\u000f"'),
    ("\x1f", b'"\\u001f"'),
    ('"', b'"\\""'),
    ("\\", b'"\\\\"'),
    ("/", b'"/"'),
    ("\x7f", b'"\x7f"'),
    ("\u0080", b'"\xc2\x80"'),
    ("\u00e9", b'"\xc3\xa9"'),
    ("\u2028\u2029", b'"\xe2\x80\xa8\xe2\x80\xa9"'),
    ("\ufeff", b'"\xef\xbb\xbf"'),
    ("\U0001f600", b'"\xf0\x9f\x98\x80"'),
    ("\U0010fffd", b'"\xf4\x8f\xbf\xbd"'),
    ("</script>", b'"</script>"'),
]


@pytest.mark.parametrize(
    ("text", "expected"), STRING_CASES, ids=[f"U+{ord(t[0]):04X}" for t, _ in STRING_CASES]
)
def test_rfc8785_string_escaping(text: str, expected: bytes) -> None:
    assert canonicalize(text) == expected
    assert canonicalize({text: text}) == b"{" + expected + b":" + expected + b"}"
    assert canonicalize([text]) == b"[" + expected + b"]"
    assert parse_canonical(expected) == text


# --- cyberphone/json-canonicalization testdata ---------------------------------
# (name, input bytes, expected output bytes), each from testdata/input/<name>
# and testdata/output/<name> of github.com/cyberphone/json-canonicalization.

CYBERPHONE_IN_PROFILE = [
    (
        # testdata/input/french.json, testdata/output/french.json
        "french",
        (
            "{\n"
            '  "peach": "This sorting order",\n'
            '  "p\u00e9ch\u00e9": "is wrong according to French",\n'
            '  "p\u00eache": "but canonicalization MUST",\n'
            '  "sin":   "ingnore locale"\n'
            "}\n"
        ).encode("utf-8"),
        (
            '{"peach":"This sorting order","p\u00e9ch\u00e9":"is wrong according to French",'
            '"p\u00eache":"but canonicalization MUST","sin":"ingnore locale"}'
        ).encode("utf-8"),
    ),
    (
        # testdata/input/unicode.json, testdata/output/unicode.json
        "unicode",
        b'{\n  "Unnormalized Unicode":"\\u1e0d\\u0307"\n}\n',
        '{"Unnormalized Unicode":"\u1e0d\u0307"}'.encode(),
    ),
    (
        # testdata/input/weird.json, testdata/output/weird.json
        "weird",
        (
            b"{\n"
            rb'  "\u20ac": "Euro Sign",'
            b"\n"
            rb'  "1": "One",'
            b"\n"
            rb'  "\u0080": "Control\u007f",'
            b"\n"
            rb'  "\ud83d\ude02": "Smiley",'
            b"\n"
            rb'  "\u00f6": "Latin Small Letter O With Diaeresis",'
            b"\n"
            rb'  "\ufb33": "Hebrew Letter Dalet With Dagesh",'
            b"\n"
            rb'  "</script>": "Browser Challenge"'
            b"\n"
            b"}\n"
        ),
        (
            '{"1":"One","</script>":"Browser Challenge","\u0080":"Control\u007f",'
            '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
            '"\U0001f602":"Smiley","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
        ).encode("utf-8"),
    ),
    (
        # testdata/input/simpleString.json, testdata/output/simpleString.json;
        # testdata/outhex/simpleString.txt gives the same bytes in hex.
        "simpleString",
        b'    "this is a test string 1235"',
        bytes.fromhex(
            "22 74 68 69 73 20 69 73 20 61 20 74 65 73 74 20 73 74 72 69 6E 67 20 31 32 33 35 22"
        ),
    ),
]


@pytest.mark.parametrize(
    ("source", "expected"),
    [(c[1], c[2]) for c in CYBERPHONE_IN_PROFILE],
    ids=[c[0] for c in CYBERPHONE_IN_PROFILE],
)
def test_cyberphone_vectors(source: bytes, expected: bytes) -> None:
    value = parse(source)
    assert canonicalize(value) == expected
    assert rfc8785.dumps(value) == expected
    assert parse_canonical(expected) == value


# testdata/input/structures.json and testdata/output/structures.json: one
# member holds the float 56.0. The edit 56.0 -> 56 takes it into the profile
# and leaves the published output unchanged (JCS writes 56.0 as 56).
CYBERPHONE_STRUCTURES_IN = (
    b"{\n"
    b'  "1": {"f": {"f": "hi","F": 5} ,"\\n": 56.0},\n'
    b'  "10": { },\n'
    b'  "": "empty",\n'
    b'  "a": { },\n'
    b'  "111": [ { } ],\n'
    b'  "A": { }\n'
    b"}"
)
CYBERPHONE_STRUCTURES_OUT = (
    b'{"":"empty","1":{"\\n":56,"f":{"F":5,"f":"hi"}},"10":{},"111":[{}],"A":{},"a":{}}'
)

# testdata/input/values.json and testdata/output/values.json: its "numbers"
# member is floats; dropping it keeps the escaping and literals cases.
CYBERPHONE_VALUES_IN = (
    b"{\n"
    b'  "numbers": [1E30, 4.50, 333333333.33333329, 2e-3, 0.000000000000000000000000001],\n'
    rb'  "escaping": "\u20ac$\u000F\u000aA'
    rb"'\u0042\u0022\u005c\\\"\/"
    b'",\n'
    b'  "literals": [null, true, false]\n'
    b"}"
)
CYBERPHONE_VALUES_OUT = (
    '{"escaping":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/","literals":[null,true,false],'
    '"numbers":[1e+30,4.5,333333333.3333333,0.002,1e-27]}'
).encode("utf-8")


def test_cyberphone_structures() -> None:
    assert rfc8785.dumps(json.loads(CYBERPHONE_STRUCTURES_IN)) == CYBERPHONE_STRUCTURES_OUT
    with pytest.raises(InvalidJSON):
        parse(CYBERPHONE_STRUCTURES_IN)
    assert CYBERPHONE_STRUCTURES_IN.count(b"56.0") == 1
    value = parse(CYBERPHONE_STRUCTURES_IN.replace(b"56.0", b"56"))
    assert canonicalize(value) == CYBERPHONE_STRUCTURES_OUT
    assert parse_canonical(CYBERPHONE_STRUCTURES_OUT) == value


def test_cyberphone_values_without_numbers() -> None:
    assert rfc8785.dumps(json.loads(CYBERPHONE_VALUES_IN)) == CYBERPHONE_VALUES_OUT
    with pytest.raises(InvalidJSON):
        parse(CYBERPHONE_VALUES_IN)
    numbers_in = (
        b'  "numbers": [1E30, 4.50, 333333333.33333329, 2e-3, 0.000000000000000000000000001],\n'
    )
    numbers_out = b',"numbers":[1e+30,4.5,333333333.3333333,0.002,1e-27]'
    assert CYBERPHONE_VALUES_IN.count(numbers_in) == 1
    assert CYBERPHONE_VALUES_OUT.count(numbers_out) == 1
    value = parse(CYBERPHONE_VALUES_IN.replace(numbers_in, b""))
    assert canonicalize(value) == CYBERPHONE_VALUES_OUT.replace(numbers_out, b"")


# --- properties -----------------------------------------------------------------


def _is_noncharacter(ch: str) -> bool:
    """specs/01-records.md §2.1: U+FDD0–U+FDEF and U+nFFFE, U+nFFFF are not in the profile."""
    code = ord(ch)
    return 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE


# Characters that matter to JCS: controls, quote, backslash, slash, DEL, the
# line/paragraph separators, BOM, the neighbours of the noncharacters, the end
# of the BMP and astral characters (whose UTF-16 order differs from their code
# point order).
_SPECIAL = (
    '\x00\x01\x08\t\n\x0b\x0c\r\x1f"\\/\x7f\u0080\u2028\u2029\ufeff\ue000\ufb33\ufdcf\ufdf0\ufffd'
)
_ASTRAL = "\U00010000\U0001f600\U0001f602\U0001fffd\U0010fffd"
_chars = st.one_of(
    st.characters(exclude_categories=("Cs",)).filter(lambda ch: not _is_noncharacter(ch)),
    st.sampled_from(_SPECIAL + _ASTRAL),
)
_text = st.text(_chars, max_size=12)
# Keys from a small alphabet collide often and mix BMP and astral characters,
# so the UTF-16 ordering of RFC 8785 §3.2.3 is exercised.
_keys = st.one_of(_text, st.text(st.sampled_from("aA1\u00f6\ufb33\ufffd" + _ASTRAL), max_size=3))
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER),
    st.sampled_from([0, -1, MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER]),
    _text,
)
json_values = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(_keys, children, max_size=6),
    ),
    max_leaves=25,
)

_PROPERTY_SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@_PROPERTY_SETTINGS
@given(json_values)
def test_canonicalize_equals_reference(value: Any) -> None:
    assert canonicalize(value) == rfc8785.dumps(value)


_bmp_keys = st.text(
    st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs",)).filter(
        lambda ch: not _is_noncharacter(ch)
    ),
    max_size=6,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_bmp_keys, _scalars | st.lists(_scalars, max_size=4), max_size=8))
def test_fast_path_equals_reference_for_bmp_keys(value: dict[str, Any]) -> None:
    # Objects whose keys are all in the BMP take the orjson fast path.
    assert canonicalize(value) == rfc8785.dumps(value)


@_PROPERTY_SETTINGS
@given(json_values)
def test_canonical_idempotence(value: Any) -> None:
    data = canonicalize(value)
    assert parse(data) == value
    assert canonicalize(parse(data)) == data
    assert parse_canonical(data) == value


@settings(max_examples=100, deadline=None)
@given(json_values)
def test_parse_accepts_any_spelling(value: Any) -> None:
    # Python's own serialiser, with ASCII escapes and spaces, is a non-canonical spelling.
    spelled = json.dumps(value, ensure_ascii=True, indent=1)
    assert canonicalize(parse(spelled)) == canonicalize(value)
    assert canonicalize(parse(spelled.encode("utf-8"))) == canonicalize(value)


# --- limits and refusals ------------------------------------------------------------


def _nested(depth: int, leaf: Any) -> Any:
    """`depth` arrays around leaf, built without recursion."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


PARSE_REFUSALS = [
    ("duplicate-key", b'{"a":1,"a":2}'),
    ("duplicate-key-same-value", b'{"a":1,"a":1}'),
    ("duplicate-key-nested", b'{"x":{"b":true,"b":false}}'),
    ("duplicate-key-in-array", b'[{"k":null,"k":null}]'),
    ("duplicate-key-by-escape", b'{"a":1,"\\u0061":2}'),
    ("float-1.0", b"1.0"),
    ("float-1e3", b"1e3"),
    ("float-1E3", b"1E3"),
    ("float-minus-zero", b"-0.0"),
    ("float-in-object", b'{"x":0.5}'),
    ("nan", b"NaN"),
    ("infinity", b"Infinity"),
    ("minus-infinity", b"[-Infinity]"),
    ("int-2^53", b"9007199254740992"),
    ("int-minus-2^53", b"-9007199254740992"),
    ("int-2^64", b"18446744073709551616"),
    ("int-in-object", b'{"n":9007199254740992}'),
    ("lone-high-surrogate", b'"\\ud800"'),
    ("lone-low-surrogate", b'"\\udc00"'),
    ("reversed-surrogates", b'"\\udc00\\ud800"'),
    ("lone-surrogate-key", b'{"\\udbff":1}'),
    ("invalid-utf8-ff", b'"\xff"'),
    ("invalid-utf8-truncated", b'"\xc3"'),
    ("invalid-utf8-overlong", b'"\xc0\xaf"'),
    ("invalid-utf8-encoded-surrogate", b'"\xed\xa0\x80"'),
    ("bom", b"\xef\xbb\xbf{}"),
    ("deeper-than-max-depth", b"[" * (MAX_DEPTH + 2) + b"]" * (MAX_DEPTH + 2)),
    ("very-deep", b"[" * 100_000 + b"]" * 100_000),
    ("very-deep-objects", b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
    ("empty", b""),
    ("trailing-garbage", b"{} x"),
    ("single-quotes", b"{'a':1}"),
    ("trailing-comma", b"[1,]"),
    ("leading-zero", b"01"),
]


@pytest.mark.parametrize("data", [c[1] for c in PARSE_REFUSALS], ids=[c[0] for c in PARSE_REFUSALS])
def test_parse_refuses(data: bytes) -> None:
    with pytest.raises(InvalidJSON):
        parse(data)


def test_parse_refuses_a_million_digit_number_fast() -> None:
    for data in (b"1" * 1_000_000, b"-" + b"9" * 1_000_000, b'{"n":' + b"7" * 1_000_000 + b"}"):
        start = time.perf_counter()
        with pytest.raises(InvalidJSON):
            parse(data)
        assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    ("data", "value"),
    [
        (b"9007199254740991", MAX_SAFE_INTEGER),
        (b"-9007199254740991", -MAX_SAFE_INTEGER),
        (
            b'{"max":9007199254740991,"min":-9007199254740991}',
            {"max": 2**53 - 1, "min": -(2**53 - 1)},
        ),
        (b"-0", 0),
        (b'"\\ud83d\\ude00"', "\U0001f600"),
        (b'"\\u2028"', "\u2028"),
        (b' \t\r\n[ 1 , {"a" : null} ]\n', [1, {"a": None}]),
    ],
    ids=[
        "max",
        "min",
        "max-min-in-object",
        "minus-zero-int",
        "surrogate-pair",
        "u2028",
        "whitespace",
    ],
)
def test_parse_accepts(data: bytes, value: Any) -> None:
    assert parse(data) == value
    assert parse(data.decode("utf-8")) == value


def test_limits_exactly_at_max_safe_integer() -> None:
    assert MAX_SAFE_INTEGER == 2**53 - 1
    assert canonicalize(2**53 - 1) == b"9007199254740991"
    assert canonicalize(-(2**53 - 1)) == b"-9007199254740991"
    assert canonicalize([2**53 - 1, -(2**53 - 1)]) == b"[9007199254740991,-9007199254740991]"


# specs/01-records.md §2.3: a scalar has depth 0, an array or object one more
# than its deepest element ([] has depth 1); depth above 32 is refused.
DEPTH_ACCEPTED = [
    ("32-arrays-around-a-scalar", _nested(MAX_DEPTH, 0)),
    ("32-arrays", _nested(MAX_DEPTH - 1, [])),
    ("31-arrays-around-an-object", _nested(MAX_DEPTH - 1, {})),
]
DEPTH_REFUSED = [
    ("33-arrays-around-a-scalar", _nested(MAX_DEPTH + 1, 0)),
    ("33-arrays", _nested(MAX_DEPTH, [])),
    ("32-arrays-around-an-object", _nested(MAX_DEPTH, {})),
    ("100000-arrays", _nested(100_000, 1)),
]


def test_max_depth_is_32() -> None:
    assert MAX_DEPTH == 32


@pytest.mark.parametrize(
    "value", [c[1] for c in DEPTH_ACCEPTED], ids=[c[0] for c in DEPTH_ACCEPTED]
)
def test_depth_accepted(value: Any) -> None:
    text = canonicalize(value)
    assert text == rfc8785.dumps(value)
    assert parse(text) == value
    assert parse_canonical(text) == value


@pytest.mark.parametrize("value", [c[1] for c in DEPTH_REFUSED], ids=[c[0] for c in DEPTH_REFUSED])
def test_depth_refused(value: Any) -> None:
    with pytest.raises(InvalidJSON):
        canonicalize(value)
    if len(DEPTH_REFUSED) and value is not DEPTH_REFUSED[-1][1]:
        text = rfc8785.dumps(value)
        with pytest.raises(InvalidJSON):
            parse(text)
        with pytest.raises(InvalidJSON):
            parse_canonical(text)


def test_depth_refused_for_objects() -> None:
    deep: dict[str, Any] = {"a": 1}
    for _ in range(MAX_DEPTH):
        deep = {"a": deep}
    with pytest.raises(InvalidJSON):
        canonicalize(deep)
    with pytest.raises(InvalidJSON):
        parse(rfc8785.dumps(deep))


# specs/01-records.md §2.1 and §2.2 item 6: noncharacters are outside the profile.
NONCHARACTERS = [
    "\ufdd0",
    "\ufdef",
    "\ufffe",
    "\uffff",
    "\U0001fffe",
    "\U0001ffff",
    "\U0010fffe",
    "\U0010ffff",
]


@pytest.mark.parametrize("ch", NONCHARACTERS, ids=[f"U+{ord(c):04X}" for c in NONCHARACTERS])
def test_noncharacters_refused(ch: str) -> None:
    for value in (ch, "a" + ch, {ch: 1}, [ch]):
        with pytest.raises(InvalidJSON):
            canonicalize(value)
    escaped = json.dumps(ch).encode()  # "\\uffff" or a surrogate pair
    raw = json.dumps(ch, ensure_ascii=False).encode()
    for data in (escaped, raw, b'{"k":' + raw + b"}", b"{" + raw + b":1}"):
        with pytest.raises(InvalidJSON):
            parse(data)
    with pytest.raises(InvalidJSON):
        parse_canonical(raw)


CANONICALIZE_REFUSALS = [
    ("float", 1.0),
    ("float-in-list", [1, 2.5]),
    ("nan", float("nan")),
    ("inf", float("inf")),
    ("minus-zero-float", -0.0),
    ("bytes", b"abc"),
    ("bytearray", bytearray(b"abc")),
    ("set", {1, 2}),
    ("frozenset", frozenset()),
    ("int-key", {1: "a"}),
    ("none-key", {None: "a"}),
    ("tuple-key", {(1, 2): "a"}),
    ("bytes-key", {b"a": 1}),
    ("bool-key", {True: 1}),
    ("object", object()),
    ("int-2^53", 2**53),
    ("int-minus-2^53", -(2**53)),
    ("nested-int-2^53", {"a": [2**53]}),
    ("lone-surrogate", "\ud800"),
    ("lone-surrogate-key", {"\udc00": 1}),
    ("complex", 1j),
]


@pytest.mark.parametrize(
    "value", [c[1] for c in CANONICALIZE_REFUSALS], ids=[c[0] for c in CANONICALIZE_REFUSALS]
)
def test_canonicalize_refuses(value: Any) -> None:
    with pytest.raises(InvalidJSON):
        canonicalize(value)


PARSE_CANONICAL_REFUSALS = [
    ("space-after-colon", b'{"a": 1}'),
    ("space-after-comma", b"[1, 2]"),
    ("leading-space", b" {}"),
    ("trailing-newline", b"{}\n"),
    ("unsorted-keys", b'{"b":1,"a":2}'),
    ("code-point-order-of-astral-key", '{"\ufb33":1,"\U0001f600":2}'.encode()),
    ("escaped-slash", b'"\\/"'),
    ("escaped-A", b'"\\u0041"'),
    ("escaped-e-acute", b'"\\u00e9"'),
    ("escaped-u2028", b'"\\u2028"'),
    ("surrogate-pair-escape", b'"\\ud83d\\ude00"'),
    ("uppercase-hex-escape", b'"\\u001F"'),
    ("long-escape-for-newline", b'"\\u000a"'),
    ("raw-control", b'"\x01"'),
    ("duplicate-key", b'{"a":1,"a":1}'),
    ("float", b"1.0"),
    ("exponent", b"1e3"),
    ("minus-zero", b"-0"),
    ("int-2^53", b"9007199254740992"),
    ("lone-surrogate", b'"\\ud800"'),
    ("invalid-utf8", b'"\xff"'),
    ("bom", b"\xef\xbb\xbf{}"),
    ("not-json", b"{"),
]


@pytest.mark.parametrize(
    "data", [c[1] for c in PARSE_CANONICAL_REFUSALS], ids=[c[0] for c in PARSE_CANONICAL_REFUSALS]
)
def test_parse_canonical_refuses(data: bytes) -> None:
    with pytest.raises(InvalidJSON):
        parse_canonical(data)

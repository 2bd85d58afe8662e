"""Fuzzing every record parser: whatever bytes a peer or client sends, a parser
either returns a value that round-trips or raises the protocol's own error.

Guarantee: no record body, record or envelope parser can be driven into an
unexpected exception (which the node would turn into a 500, or which would
abort a peer's sync with the wrong blame) by any input. Every registered
record type is covered, including those later packages add: the list comes
from the registry after importing `node`, which registers every family.

Inputs come from three generators: arbitrary JSON values; bodies generated
from the type's own JSON Schema in specs/schemas/ (so they reach deep into
the parser); and those schema-shaped bodies with one field replaced by an
arbitrary value or removed.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

import node  # noqa: F401  (registers every record family)
from protocol.errors import ProtocolError
from protocol.records import RECORD_TYPES, Envelope, Record
from protocol.signing import envelope_from_json, open_leaf

SCHEMAS = Path(__file__).resolve().parents[2] / "specs" / "schemas"
SAFE_INT = 2**53 - 1

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-SAFE_INT, max_value=SAFE_INT)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=25,
)

FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def _schema(record_type: str) -> dict[str, Any]:
    path = SCHEMAS / f"{record_type}.json"
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


def from_schema(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> Any:
    """Values shaped by a JSON Schema (the subset specs/schemas uses), roughly valid.

    Not a validator's mirror: keywords it does not know are ignored, so some
    values break the schema, which suits a fuzzer. `$ref` to `#/$defs/…` is
    followed; anything else unknown becomes an arbitrary JSON value.
    """
    defs = schema.get("$defs", {}) if defs is None else defs
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        return st.deferred(lambda: from_schema(defs.get(name, {}), defs))
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    for combinator in ("oneOf", "anyOf"):
        if combinator in schema:
            return st.one_of([from_schema(s, defs) for s in schema[combinator]])
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of([from_schema({**schema, "type": k}, defs) for k in kind])
    if kind == "object":
        properties = schema.get("properties", {})
        required = set(schema.get("required", ()))
        fixed = {k: from_schema(v, defs) for k, v in properties.items() if k in required}
        optional = {k: from_schema(v, defs) for k, v in properties.items() if k not in required}
        return st.fixed_dictionaries(fixed, optional=optional)
    if kind == "array":
        items = from_schema(schema.get("items", {}), defs)
        low = schema.get("minItems", 0)
        return st.lists(items, min_size=low, max_size=max(low, min(schema.get("maxItems", 4), 4)))
    if kind == "string":
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True)
        low = schema.get("minLength", 0)
        return st.text(min_size=low, max_size=max(low, min(schema.get("maxLength", 30), 30)))
    if kind == "integer":
        return st.integers(
            min_value=schema.get("minimum", -SAFE_INT), max_value=schema.get("maximum", SAFE_INT)
        )
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    return json_values


def _parse_or_refuse(record_type: str, data: Any) -> None:
    cls = RECORD_TYPES[record_type]
    try:
        body = cls.from_dict(data)
    except ProtocolError:
        return
    again = cls.from_dict(body.to_dict())
    assert again == body, f"{record_type}: to_dict/from_dict does not round-trip"


def test_every_record_type_has_a_schema() -> None:
    missing = sorted(t for t in RECORD_TYPES if not (SCHEMAS / f"{t}.json").is_file())
    assert not missing, f"record types without specs/schemas/<type>.json: {missing}"


@pytest.mark.parametrize("record_type", sorted(RECORD_TYPES))
@FUZZ
@given(data=json_values)
def test_arbitrary_json_is_parsed_or_refused(record_type: str, data: Any) -> None:
    _parse_or_refuse(record_type, data)


@pytest.mark.parametrize("record_type", sorted(RECORD_TYPES))
@FUZZ
@given(data=st.data())
def test_schema_shaped_bodies_are_parsed_or_refused(record_type: str, data: st.DataObject) -> None:
    schema = _schema(record_type)
    body = data.draw(from_schema(schema), label="body")
    _parse_or_refuse(record_type, body)
    if isinstance(body, dict) and body:
        key = data.draw(st.sampled_from(sorted(body)), label="field")
        mutated = dict(body)
        if data.draw(st.booleans(), label="remove"):
            del mutated[key]
        else:
            mutated[key] = data.draw(json_values, label="value")
        _parse_or_refuse(record_type, mutated)


# Types whose bodies carry a cross-field constraint a schema cannot state, so
# that a schema-shaped body essentially never parses; the reason is the constraint.
CROSS_FIELD = {
    "peer.federate": "vkey must be the log key of the peer's did",
    "ledger.policy": "the shares in basis points must sum to 10,000",
    "ledger.contribution": "a resource or an effort quantity, with a unit that fits the action",
    "node.parameter": "the value's type and range depend on the parameter's name",
    "proposal": "closes after opens; options unique and fitting the method",
}


@pytest.mark.parametrize("record_type", sorted(RECORD_TYPES))
def test_the_schema_and_the_parser_agree(record_type: str) -> None:
    """The schema is necessary (whatever parses validates) and not void (some body parses)."""
    cls = RECORD_TYPES[record_type]
    schema = _schema(record_type)
    validator = jsonschema.Draft202012Validator(schema)

    def parses(body: Any) -> bool:
        try:
            cls.from_dict(body)
        except ProtocolError:
            return False
        errors = [e.message for e in validator.iter_errors(body)]
        assert not errors, f"{record_type}: parsed, yet its schema refuses it: {errors}"
        return True

    if record_type in CROSS_FIELD:
        # Rarely met by chance; whatever does parse must still validate.
        with contextlib.suppress(NoSuchExample):
            find(from_schema(schema), parses, settings=_find_settings(50))
    else:
        find(from_schema(schema), parses, settings=_find_settings(150))


def _find_settings(examples: int) -> settings:
    # Any example will do, so no shrinking: shrinking a deep schema-shaped body to a
    # minimal one can take many minutes, and says nothing more about the parser.
    return settings(
        max_examples=examples,
        phases=(Phase.generate,),
        deadline=None,
        database=None,
        derandomize=True,
    )


@FUZZ
@given(data=json_values)
def test_arbitrary_json_records_and_envelopes_are_parsed_or_refused(data: Any) -> None:
    for cls in (Record, Envelope):
        with contextlib.suppress(ProtocolError):
            cls.from_dict(data)


@FUZZ
@given(data=st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_arbitrary_bytes_as_envelope_or_leaf_are_refused_cleanly(data: bytes) -> None:
    for parse in (envelope_from_json, open_leaf):
        with contextlib.suppress(ProtocolError):
            parse(data)

"""specs/07-ledger.md and specs/schemas/ledger.*.json against governance/.

The spec's examples (`json example=<name>` blocks) are checked against the
code and the schemas; the schemas accept what the code accepts and refuse
a table of bodies the code refuses; every `specs/07-ledger.md §N` cited in
the code is a heading of the spec.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

import governance  # noqa: F401  (registers the record types)
from governance.distribution import Designer, Policy, distribute
from protocol.errors import InvalidRecord
from protocol.records import Record, parse_body

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "specs" / "07-ledger.md"
SCHEMAS = ROOT / "specs" / "schemas"
TYPES = ("ledger.contribution", "ledger.confirm", "ledger.policy", "ledger.distribution")
AUTHOR = "did:key:z6MkvDqGT54cXesYGvABpF1UapVNwjCqRcafi4Px6Thv5T3Z"


def examples() -> dict[str, Any]:
    text = SPEC.read_text("utf-8")
    found = re.findall(r"```json example=([a-z-]+)\n(.*?)\n```", text, re.DOTALL)
    return {name: json.loads(body) for name, body in found}


def validator(record_type: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{record_type}.json").read_text("utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def parses(record_type: str, body: dict[str, Any]) -> bool:
    record = Record(type=record_type, author=AUTHOR, created="2030-01-01T00:00:00Z", body=body)
    try:
        parse_body(record)
    except InvalidRecord:
        return False
    return True


def test_the_split_example_is_what_the_code_computes() -> None:
    example = examples()["split"]
    policy = Policy.from_dict(example["policy"])
    designers = [Designer.from_dict(d, i) for i, d in enumerate(example["designers"])]
    parts = distribute(policy, example["total"], workshop=example["workshop"], designers=designers)
    assert [p.to_dict() for p in parts] == example["parts"]
    assert sum(p["amount"] for p in example["parts"]) == example["total"]


def _distribution(example: dict[str, Any]) -> dict[str, Any]:
    return {
        "complete": "sha256:" + "c" * 64,
        "job": "sha256:" + "1" * 64,
        "job_log": example["workshop"],
        "workshop": "c-fab",
        "policy": "sha256:" + "2" * 64,
        "policy_version": 1,
        "total": {"amount": example["total"], "currency": "EUR"},
        "designers": example["designers"],
        "parts": example["parts"],
    }


def valid_bodies() -> dict[str, dict[str, Any]]:
    ex = examples()
    return {
        "ledger.contribution": ex["contribution"],
        "ledger.confirm": {"contribution": "sha256:" + "c" * 64, "log": AUTHOR},
        "ledger.policy": {**ex["split"]["policy"], "decision": "sha256:" + "d" * 64},
        "ledger.distribution": _distribution(ex["split"]),
    }


@pytest.mark.parametrize("record_type", TYPES)
def test_schemas_and_code_accept_the_examples(record_type: str) -> None:
    body = valid_bodies()[record_type]
    assert list(validator(record_type).iter_errors(body)) == []
    assert parses(record_type, body)
    assert f"(schemas/{record_type}.json)" in SPEC.read_text("utf-8")


def _set(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(body)
    target: Any = out
    keys = path.split(".")
    for k in keys[:-1]:
        target = target[int(k)] if isinstance(target, list) else target[k]
    last = keys[-1]
    if value is _DELETE:
        del target[last]
    else:
        target[int(last) if isinstance(target, list) else last] = value
    return out


_DELETE = object()

REFUSED = [
    ("ledger.contribution", "action", "steal"),
    ("ledger.contribution", "effort_quantity", _DELETE),
    ("ledger.contribution", "effort_quantity.value", "-1"),
    ("ledger.contribution", "effort_quantity.value", "1e3"),
    ("ledger.contribution", "effort_quantity.unit", "two words"),
    ("ledger.contribution", "provider", "did:key:abc"),
    ("ledger.contribution", "at", "2030-01-06 09:00"),
    ("ledger.contribution", "extra", 1),
    ("ledger.confirm", "contribution", "sha256:ABC"),
    ("ledger.policy", "workshop_bp", 10001),
    ("ledger.policy", "max_generations", 17),
    ("ledger.policy", "currencies", []),
    ("ledger.policy", "currencies", ["eur"]),
    ("ledger.policy", "decision", _DELETE),
    ("ledger.policy", "named", [{"agent": AUTHOR, "bp": 0, "label": "x"}]),
    ("ledger.distribution", "total.amount", -1),
    ("ledger.distribution", "total.currency", "euro"),
    ("ledger.distribution", "workshop", "Bad Slug"),
    ("ledger.distribution", "parts.0.reason", "bonus"),
    ("ledger.distribution", "parts.0.amount", 1.5),
    ("ledger.distribution", "designers.0.generation", -1),
    ("ledger.distribution", "designers", "none"),
]


@pytest.mark.parametrize(
    ("record_type", "path", "value"), REFUSED, ids=[f"{t}:{p}" for t, p, _ in REFUSED]
)
def test_schemas_and_code_refuse_the_same_bodies(record_type: str, path: str, value: Any) -> None:
    body = _set(valid_bodies()[record_type], path, value)
    assert list(validator(record_type).iter_errors(body)), "the schema accepts it"
    assert not parses(record_type, body), "the code accepts it"


def test_every_cited_section_exists() -> None:
    headings = set(re.findall(r"^#+ (§[0-9.]+)\.", SPEC.read_text("utf-8"), re.MULTILINE))
    cited: set[str] = set()
    for path in [*ROOT.glob("governance/*.py"), *ROOT.glob("node/**/*.py")]:
        cited.update(re.findall(r"specs/07-ledger\.md (§[0-9]+(?:\.[0-9]+)*)", path.read_text()))
    assert cited
    assert cited <= headings, sorted(cited - headings)

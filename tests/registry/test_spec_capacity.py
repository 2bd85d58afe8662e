"""specs/05-capacity-and-jobs.md against the code: its examples, its schemas, its sections.

- The `json example=offer` block parses and validates against its schema; the
  `json example=estimate` block's values (worked out by hand in the spec)
  are what routing computes.
- Every schema is valid draft 2020-12, names exactly the members the parser
  takes, and accepts full example bodies of every type.
- Every `specs/05-capacity-and-jobs.md §N` cited in the code is a heading.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from jobkit import key, machine_body, offer_body, request_body, workshop_body

from protocol.records import RECORD_TYPES, parse_time
from registry.capacity import Machine, Offer, WorkshopRegister
from registry.jobs import JobRequest
from registry.routing import Candidate, PartFigures, route

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "specs" / "05-capacity-and-jobs.md"
SCHEMAS = ROOT / "specs" / "schemas"
RID = "sha256:" + "a" * 64
DID = key("x").did
MONEY = {"amount": 1234, "currency": "EUR"}
PREVIOUS = {"offer": RID, "outcome": "declined", "answer": RID}
ESTIMATE = {
    "price": MONEY,
    "hours": "1.500",
    "distance_m": 10,
    "completion": "2030-01-10T00:00:00Z",
}
ANSWER = {"job": RID, "job_log": DID, "workshop": "w1"}

# Every type with every optional member present.
FULL: dict[str, dict[str, Any]] = {
    "workshop.register": {
        **workshop_body("w1", [DID]),
        "description": "d",
        "url": "https://w1.example",
    },
    "workshop.retire": {"workshop": "w1", "reason": "r"},
    "machine": {
        **machine_body("w1", active=False),
        "name": "n",
        "make": "m",
        "model": "x",
    },
    "offer": {
        **offer_body(
            "w1",
            serves={
                "countries": ["DE"],
                "regions": [{"country": "AT", "region": "Wien"}],
                "radius_km": 10,
            },
        ),
        "note": "n",
    },
    "offer.withdraw": {"workshop": "w1", "offer": "o", "reason": "r"},
    "job.request": {**request_body(), "note": "n"},
    "job.offer": {
        "job": RID,
        "workshop_log": DID,
        "workshop": "w1",
        "machine": "m",
        "offer": RID,
        "estimate": ESTIMATE,
        "rank": 2,
        "respond_by": "2030-01-07T00:00:00Z",
        "previous": PREVIOUS,
    },
    "job.assign": {"job": RID, "offer": RID, "accept": RID, "workshop_log": DID, "workshop": "w1"},
    "job.cancel": {"job": RID, "reason": "r", "previous": {"offer": RID, "outcome": "lapsed"}},
    "job.accept": {**ANSWER, "offer": RID, "note": "n"},
    "job.decline": {**ANSWER, "offer": RID, "reason": "r"},
    "job.status": {**ANSWER, "status": "shipped", "note": "n"},
    "job.complete": {**ANSWER, "paid": MONEY, "note": "n"},
}


def schema(record_type: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SCHEMAS / f"{record_type}.json").read_text())
    return data


def examples() -> dict[str, str]:
    text = SPEC.read_text(encoding="utf-8")
    return dict(re.findall(r"```json example=([a-z]+)\n(.*?)```", text, re.DOTALL))


@pytest.mark.parametrize("record_type", sorted(FULL))
def test_schemas_match_the_parsers(record_type: str) -> None:
    document = schema(record_type)
    jsonschema.Draft202012Validator.check_schema(document)
    body = FULL[record_type]
    jsonschema.validate(body, document, cls=jsonschema.Draft202012Validator)
    parsed = RECORD_TYPES[record_type].from_dict(body)
    assert parsed.to_dict() == body
    assert set(document["properties"]) == set(body), "the schema names the parser's members"
    # Dropping any required member breaks both.
    for member in document["required"]:
        smaller = {k: v for k, v in body.items() if k != member}
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(smaller, document, cls=jsonschema.Draft202012Validator)


def test_every_capacity_and_job_type_has_a_schema() -> None:
    types = {t for t in RECORD_TYPES if t.split(".")[0] in ("workshop", "machine", "offer", "job")}
    assert types == set(FULL)


def test_the_offer_example() -> None:
    body = json.loads(examples()["offer"])
    jsonschema.validate(body, schema("offer"), cls=jsonschema.Draft202012Validator)
    assert Offer.from_dict(body).to_dict() == body


def test_the_worked_estimate() -> None:
    example = json.loads(examples()["estimate"])
    offer = Offer.from_dict(json.loads(examples()["offer"]))
    candidate = Candidate(
        log=DID,
        offer_id=RID,
        offer=offer,
        workshop=WorkshopRegister.from_dict(workshop_body("c1", [key("o").did])),
        machine=Machine.from_dict(machine_body("c1")),
    )
    request = JobRequest.from_dict(request_body(quantity=example["quantity"]))
    part = PartFigures(
        volume_mm3=example["volume_mm3"],
        aabb_mm=("10.000", "10.000", "10.000"),
        obb_mm=("10.000", "10.000", "10.000"),
    )
    now: datetime = parse_time(example["now"])
    ranked = route(request, part, [candidate], now=now).ranking[0]
    assert ranked.price.amount == example["price"]
    assert ranked.estimate()["hours"] == example["hours"]
    assert ranked.completion == example["completion"]


def _headings() -> set[str]:
    found = set()
    for line in SPEC.read_text(encoding="utf-8").splitlines():
        match = re.match(r"#+ (§[0-9.]+?)\.? ", line)
        if match:
            found.add(match.group(1).rstrip("."))
    return found


def test_every_cited_section_exists() -> None:
    headings = _headings()
    cited: set[str] = set()
    for folder in ("registry", "node", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            for match in re.finditer(r"specs/05-capacity-and-jobs\.md (§[0-9.]*[0-9])", text):
                cited.add(match.group(1))
    assert cited, "the code cites the spec"
    assert cited <= headings, sorted(cited - headings)

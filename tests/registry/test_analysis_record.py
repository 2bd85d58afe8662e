"""The design.analysis record: schema and code agree, the rule, and the agreement tolerance."""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from protocol.authority import LogAuthority
from protocol.canonical import canonicalize
from protocol.errors import InvalidRecord, Unauthorised
from protocol.keys import AgentKey
from protocol.records import Record, parse_body
from protocol.signing import sign
from registry.analysis import DesignAnalysis, Tolerance, figures_agree, figures_disagreements
from registry.figures import MeshFigures, UnitsVerdict

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "specs" / "schemas" / "design.analysis.json").read_text("utf-8"))
NODE = AgentKey.from_seed(hashlib.sha256(b"analysis node").digest())
MEMBER = AgentKey.from_seed(hashlib.sha256(b"analysis member").digest())
DESIGN_ID = "sha256:" + "ab" * 32
FILE = "cd" * 32
CREATED = "2025-06-01T12:00:00Z"

FIGURES = {
    "triangles": 3792,
    "vertices": 1896,
    "bodies": 2,
    "degenerate_faces": 0,
    "watertight": True,
    "units": "mm",
    "volume_mm3": "45424.489",
    "area_mm2": "18639.783",
    "aabb_mm": ["88.884", "88.892", "29.234"],
    "obb_mm": ["88.892", "88.884", "29.234"],
    "units_verdict": {
        "plausible": True,
        "suggested": None,
        "reason": "the largest extent 88.892 mm is within 2 to 5000 mm",
    },
}
BODY = {
    "design": DESIGN_ID,
    "file": FILE,
    "analyser": {"name": "fabcommons", "trimesh": "5.2.0"},
    "figures": FIGURES,
    "thumbnail": "ef" * 32,
}


def changed(path: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(BODY)
    *parents, last = path.split(".")
    target = body
    for key in parents:
        target = target[key]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return body


def code_accepts(body: dict[str, Any]) -> bool:
    record = Record(type="design.analysis", author=NODE.did, created=CREATED, body=body)
    try:
        parse_body(record)
    except InvalidRecord:
        return False
    return True


CASES = [
    ("valid", BODY, True),
    ("no thumbnail", changed("thumbnail", None), True),
    ("thumbnail left out", changed("thumbnail", KeyError), False),
    ("unknown field", {**BODY, "note": "x"}, False),
    ("design not an id", changed("design", "ab" * 32), False),
    ("file upper-case", changed("file", "CD" * 32), False),
    ("analyser extra key", changed("analyser.version", "1"), False),
    ("analyser of another name", changed("analyser.name", "meshlab"), False),
    ("volume a float", changed("figures.volume_mm3", 45424.489), False),
    ("volume two decimals", changed("figures.volume_mm3", "45424.49"), False),
    ("volume negative", changed("figures.volume_mm3", "-1.500"), True),
    ("volume minus zero", changed("figures.volume_mm3", "-0.000"), False),
    ("area negative", changed("figures.area_mm2", "-1.000"), False),
    ("leading zero", changed("figures.area_mm2", "01.000"), False),
    ("triangles negative", changed("figures.triangles", -1), False),
    ("triangles a bool", changed("figures.watertight", 1), False),
    ("units cm", changed("figures.units", "cm"), False),
    ("aabb of two", changed("figures.aabb_mm", ["1.000", "2.000"]), False),
    ("verdict extra key", changed("figures.units_verdict.scale", 25.4), False),
    ("verdict suggests cm", changed("figures.units_verdict.suggested", "cm"), False),
    ("figures extra key", changed("figures.mass_g", "1.000"), False),
]


@pytest.mark.parametrize(("body", "valid"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_schema_and_code_agree(body: dict[str, Any], valid: bool) -> None:
    assert jsonschema.Draft202012Validator(SCHEMA).is_valid(body) is valid
    assert code_accepts(body) is valid


def test_obb_must_be_sorted_in_code() -> None:
    assert not code_accepts(changed("figures.obb_mm", ["29.234", "88.884", "88.892"]))


def test_body_round_trips_and_canonicalises() -> None:
    body = DesignAnalysis.from_dict(BODY)
    assert body.to_dict() == BODY
    assert json.loads(canonicalize(body.to_dict())) == BODY


def state_with_design() -> LogAuthority:
    state = LogAuthority(node=NODE.did)
    state.extensions["design"] = {DESIGN_ID: {"license": "CC-BY-SA-4.0", "authors": []}}
    state.members[MEMBER.did] = "member"
    return state


def test_the_node_key_may_sign_an_analysis_of_a_design_in_its_log() -> None:
    record = Record(type="design.analysis", author=NODE.did, created=CREATED, body=BODY)
    state_with_design().admit_entry(sign(record, NODE))


def test_a_member_may_not_sign_an_analysis() -> None:
    record = Record(type="design.analysis", author=MEMBER.did, created=CREATED, body=BODY)
    with pytest.raises(Unauthorised, match="node key"):
        state_with_design().admit_entry(sign(record, MEMBER))


def test_an_analysis_of_a_design_not_in_the_log_is_refused() -> None:
    record = Record(type="design.analysis", author=NODE.did, created=CREATED, body=BODY)
    with pytest.raises(Unauthorised, match="not in this log"):
        LogAuthority(node=NODE.did).admit_entry(sign(record, NODE))


BASE = MeshFigures.from_dict(FIGURES)
OTHER_VERDICT = UnitsVerdict(plausible=False, suggested="m", reason="x")

AGREEMENT = [
    ("identical", {}, True),
    (
        "verdict differs",
        {"units_verdict": UnitsVerdict(plausible=False, suggested="m", reason="x")},
        True,
    ),
    ("volume off by the last digit", {"volume_mm3": "45424.490"}, True),
    # 1e-6 of 45424.489 is 0.045: within, then just beyond.
    ("volume 0.045 off", {"volume_mm3": "45424.534"}, True),
    ("volume 0.047 off", {"volume_mm3": "45424.536"}, False),
    ("area 0.019 off", {"area_mm2": "18639.802"}, False),
    ("aabb 0.001 off", {"aabb_mm": ("88.885", "88.892", "29.234")}, True),
    ("aabb 0.002 off", {"aabb_mm": ("88.884", "88.892", "29.236")}, False),
    # 1e-3 of 88.892 is 0.0889.
    ("obb 0.088 off", {"obb_mm": ("88.980", "88.884", "29.234")}, True),
    ("obb 0.09 off", {"obb_mm": ("88.982", "88.884", "29.234")}, False),
    ("one more triangle", {"triangles": 3793}, False),
    ("one vertex fewer", {"vertices": 1895}, False),
    ("not watertight", {"watertight": False}, False),
    ("other bodies", {"bodies": 1}, False),
    ("other units", {"units": "inch"}, False),
]


@pytest.mark.parametrize(
    ("changes", "agree"), [c[1:] for c in AGREEMENT], ids=[c[0] for c in AGREEMENT]
)
def test_figures_agree_within_the_tolerance(changes: dict[str, Any], agree: bool) -> None:
    other = replace(BASE, **changes)
    assert figures_agree(BASE, other) is agree
    assert figures_agree(other, BASE) is agree
    differences = figures_disagreements(BASE, other)
    assert (differences == []) is agree
    for name in changes:
        if not agree:
            assert any(d.startswith(name) for d in differences), differences


def test_a_stricter_tolerance_can_be_asked_for() -> None:
    other = replace(BASE, obb_mm=("88.980", "88.884", "29.234"))
    assert not figures_agree(BASE, other, Tolerance(obb_relative=Decimal(0)))

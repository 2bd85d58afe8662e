"""Open Know-Where import and export, on the corpus templates (/work/shared/corpus/okw/).

The templates come from helpfulengineering/open-knowledge-framework
(templates/samples/okw/, Apache-2.0): every field present, almost all
empty. An export must have exactly the template's shape (same keys at
every level), and a file must survive import -> records -> export ->
import unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jobkit import key, machine_body, workshop_body

from registry.capacity import Machine, WorkshopRegister
from registry.okw import OkwError, export_okw, import_records, parse_okw, slugify

CORPUS = Path("/work/shared/corpus/okw")
FILES = {"json": CORPUS / "okw-template.json", "yaml": CORPUS / "okw-template.yaml"}
OWNER = key("okw owner").did


def load(flavour: str) -> Any:
    text = FILES[flavour].read_text(encoding="utf-8")
    return json.loads(text) if flavour == "json" else yaml.safe_load(text)


def shape(value: Any) -> Any:
    """The keys at every level of mappings; anything else (the templates' lists are empty or
    null, their scalars empty) is a leaf."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    return None


def _strip(value: Any) -> Any:
    """The export's shape without the fabcommons blocks, which OKW readers ignore."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k != "fabcommons"}
    return value


@pytest.mark.parametrize("flavour", ["json", "yaml"])
def test_the_export_has_exactly_the_templates_shape(flavour: str) -> None:
    template = load(flavour)
    workshop = WorkshopRegister.from_dict(workshop_body("w1", [OWNER]))
    machine = Machine.from_dict(machine_body("w1"))
    exported = export_okw(workshop, [machine], flavour=flavour)
    assert shape(_strip(exported)) == shape(template)
    # The JSON template spells it "logitude" (the reference tooling's struct tag).
    gps = exported["location"]["gps"]
    assert ("logitude" in gps) == (flavour == "json")


@pytest.mark.parametrize("flavour", ["json", "yaml"])
def test_the_template_alone_lacks_what_a_workshop_needs(flavour: str) -> None:
    facility = parse_okw(load(flavour))
    assert facility.name == ""
    assert (facility.latitude, facility.longitude) == ("0.000000", "0.000000")
    with pytest.raises(OkwError) as caught:
        import_records(facility)
    text = " ".join(caught.value.problems)
    for needed in ("no name", "owner", "country", "slug"):
        assert needed in text


@pytest.mark.parametrize("flavour", ["json", "yaml"])
def test_corpus_round_trip_through_records(flavour: str) -> None:
    facility = parse_okw(load(flavour))
    first = import_records(
        facility,
        workshop="fablab-x",
        owners=[OWNER],
        name="Fablab X",
        country="de",
        region="Berlin",
        build_volume_mm=("200.000", "200.000", "180.000"),
    )
    # The template's one (empty) equipment entry becomes one machine, given a volume and a
    # process: it has none, so it is skipped with the reason.
    assert first.machines == ()
    assert len(first.skipped) == 1
    assert "no manufacturing process" in first.skipped[0]
    assert first.workshop.to_dict() == {
        "workshop": "fablab-x",
        "name": "Fablab X",
        "place": {"lat": "0.000000", "lon": "0.000000", "country": "DE", "region": "Berlin"},
        "owners": [OWNER],
        "url": "https://example.com",  # the template's contact website
    }
    for out_flavour in ("json", "yaml"):
        exported = export_okw(first.workshop, first.machines, flavour=out_flavour)
        text = json.dumps(exported) if out_flavour == "json" else yaml.safe_dump(exported)
        reread = json.loads(text) if out_flavour == "json" else yaml.safe_load(text)
        again = import_records(parse_okw(reread))
        assert again.workshop == first.workshop
        assert again.machines == first.machines


def test_records_round_trip_with_machines_and_the_fabcommons_block() -> None:
    workshop = WorkshopRegister.from_dict(
        {
            **workshop_body("w1", [OWNER, key("second owner").did], name="Werkstatt Eins"),
            "description": "Printers and a laser",
            "url": "https://w1.example",
        }
    )
    machines = [
        Machine.from_dict({**machine_body("w1"), "make": "Prusa", "model": "MK4", "name": "P1"}),
        Machine.from_dict(
            machine_body(
                "w1",
                "laser",
                volume=("600.000", "400.000", "10.000"),
                processes=("laser-cutting",),
                materials=("plywood",),
                kind="laser-cutter",
                active=False,
            )
        ),
    ]
    for flavour in ("json", "yaml"):
        exported = export_okw(workshop, machines, flavour=flavour)
        assert isinstance(exported["equipment"], list)
        assert exported["manufacturing_processes"] == "fdm, laser-cutting"
        again = import_records(parse_okw(yaml.safe_load(yaml.safe_dump(exported))))
        assert again.workshop == workshop
        assert again.machines == tuple(machines)
        assert again.skipped == ()


def test_plain_okw_equipment_maps_with_aliases() -> None:
    data = load("yaml")
    data["name"] = "Makerspace"
    data["location"]["address"]["country"] = "NL"
    data["location"]["gps"] = {"latitude": 52.3676, "longitude": 4.9041}
    data["equipment"] = [
        {
            "equipment_type": "https://en.wikipedia.org/wiki/3D_printing",
            "manufacturing_process": "https://en.wikipedia.org/wiki/Fused_filament_fabrication",
            "make": "Ultimaker",
            "model": "S5",
        },
        {"equipment_type": "Laser Cutter", "manufacturing_process": "Laser cutting"},
    ]
    data["typical_materials"] = ["PLA", {"material_type": "Plywood 3mm"}]
    result = import_records(
        parse_okw(data), owners=[OWNER], build_volume_mm=("330.000", "240.000", "300.000")
    )
    assert result.workshop.workshop == "makerspace"
    assert result.workshop.place.to_dict() == {
        "lat": "52.367600",
        "lon": "4.904100",
        "country": "NL",
        "region": "",
    }
    assert [(m.machine, m.kind, m.processes) for m in result.machines] == [
        ("ultimaker-s5", "3d_printing", ("fdm",)),
        ("laser-cutter", "laser-cutter", ("laser-cutting",)),
    ]
    assert result.machines[0].materials == ("pla", "plywood-3mm")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ([], "one facility"),
        ({"name": 5.5j}, "name: expected text"),
        ({"location": {"gps": {"latitude": 91}}}, "latitude: out of range"),
        ({"location": {"gps": {"latitude": "north"}}}, "latitude: expected a number"),
        ({"equipment": "printer"}, "equipment: expected"),
        ({"equipment": [1]}, "equipment[0]: expected a mapping"),
        ({"typical_materials": "PLA"}, "typical_materials: expected a list"),
    ],
    ids=["not a mapping", "name", "lat range", "lat text", "equipment", "item", "materials"],
)
def test_bad_files_are_refused_with_the_place(data: Any, problem: str) -> None:
    with pytest.raises(OkwError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        parse_okw(data)


def test_slugify() -> None:
    assert slugify("https://en.wikipedia.org/wiki/Stereolithography") == "sla"
    assert slugify("  CNC  Router ") == "cnc-router"
    assert slugify("PETG (transparent)") == "petg-transparent"
    assert slugify("***") == ""

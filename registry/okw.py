"""Open Know-Where (OKW) facility files to and from workshop and machine records.

specs/05-capacity-and-jobs.md §9. Works on parsed JSON/YAML values (the
shell reads and writes the files), so it stays pure. An OKW facility has
no build volume, owner keys or price; a fabcommons block
(`"fabcommons": {...}`, which OKW readers ignore) carries what the records
need, so an exported file imports back to the same records. Importing a
plain OKW file needs the missing values given by the operator; what is
still missing is reported, never guessed.

Known quirk: OKW's reference tooling writes the JSON longitude as
"logitude" (its Go struct tag); YAML says "longitude". Both are read; each
flavour of export writes the spelling of its template.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from protocol.did import Did
from protocol.errors import InvalidRecord
from registry.capacity import Machine, WorkshopRegister
from registry.capacity_fields import Place

__all__ = [
    "OkwEquipment",
    "OkwError",
    "OkwFacility",
    "OkwImport",
    "export_okw",
    "import_records",
    "parse_okw",
    "slugify",
]

EXTENSION = "fabcommons"
MAX_EQUIPMENT = 500
# OKW names processes by Wikipedia article; these map to the short names fabcommons uses.
PROCESS_ALIASES = {
    "fused_filament_fabrication": "fdm",
    "fused_deposition_modeling": "fdm",
    "stereolithography": "sla",
    "selective_laser_sintering": "sls",
    "laser_cutting": "laser-cutting",
    "milling_(machining)": "cnc-milling",
    "numerical_control": "cnc-milling",
    "cnc_router": "cnc-routing",
    "injection_moulding": "injection-moulding",
}
_SLUG_BAD = re.compile(r"[^a-z0-9._+-]+")


class OkwError(ValueError):
    """An OKW file that cannot be read, or an import that lacks required values."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


def slugify(text: str) -> str:
    """A fabcommons name from OKW free text or a Wikipedia URL ("" if nothing is left)."""
    text = text.strip()
    if "/" in text:
        text = text.rstrip("/").rsplit("/", 1)[-1]
    lowered = text.lower()
    if lowered in PROCESS_ALIASES:
        return PROCESS_ALIASES[lowered]
    slug = _SLUG_BAD.sub("-", lowered.replace(" ", "-")).strip("-._+")
    slug = re.sub(r"-{2,}", "-", slug)[:64].strip("-._+")
    return PROCESS_ALIASES.get(slug, slug)


def _text(data: Mapping[str, Any], key: str, path: str, problems: list[str]) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        problems.append(f"{path}{key}: expected text")
        return ""
    return str(value).strip()


def _mapping(
    data: Mapping[str, Any], key: str, path: str, problems: list[str]
) -> Mapping[str, Any]:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problems.append(f"{path}{key}: expected a mapping")
        return {}
    return value


def _coordinate(value: Any, name: str, limit: int, problems: list[str]) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        problems.append(f"location.gps.{name}: expected a number")
        return None
    try:
        number = Decimal(str(value)).quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN)
    except InvalidOperation:
        problems.append(f"location.gps.{name}: expected a number")
        return None
    if not number.is_finite() or abs(number) > limit:
        problems.append(f"location.gps.{name}: out of range")
        return None
    if number == 0:
        number = abs(number)
    return f"{number:.6f}"


@dataclass(frozen=True, slots=True)
class OkwEquipment:
    """One OKW equipment entry, with the fabcommons block if the file has one."""

    equipment_type: str
    manufacturing_process: str
    make: str
    model: str
    extension: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class OkwFacility:
    """The parts of an OKW facility that map to records."""

    name: str
    latitude: str | None
    longitude: str | None
    country: str
    region: str
    description: str
    website: str
    facility_status: str
    manufacturing_processes: str
    typical_materials: tuple[str, ...]
    equipment: tuple[OkwEquipment, ...]
    extension: Mapping[str, Any] | None


def parse_okw(data: Any) -> OkwFacility:
    """Read an OKW facility (a parsed JSON or YAML value). Raises OkwError listing problems."""
    if not isinstance(data, Mapping):
        raise OkwError(["the file must hold one facility (a mapping)"])
    problems: list[str] = []
    location = _mapping(data, "location", "", problems)
    address = _mapping(location, "address", "location.", problems)
    gps = _mapping(location, "gps", "location.", problems)
    longitude = gps.get("longitude", gps.get("logitude"))
    contact = _mapping(data, "contact", "", problems)
    owner = _mapping(data, "owner", "", problems)
    website = _text(contact, "website", "contact.", problems) or _text(
        owner, "website", "owner.", problems
    )
    raw_equipment = data.get("equipment")
    if raw_equipment is None:
        items: list[Any] = []
    elif isinstance(raw_equipment, Mapping):
        items = [raw_equipment]
    elif isinstance(raw_equipment, list):
        items = raw_equipment
    else:
        problems.append("equipment: expected a mapping or a list")
        items = []
    if len(items) > MAX_EQUIPMENT:
        problems.append(f"equipment: more than {MAX_EQUIPMENT} entries")
        items = []
    equipment = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            problems.append(f"equipment[{i}]: expected a mapping")
            continue
        ext = item.get(EXTENSION)
        equipment.append(
            OkwEquipment(
                equipment_type=_text(item, "equipment_type", f"equipment[{i}].", problems),
                manufacturing_process=_text(
                    item, "manufacturing_process", f"equipment[{i}].", problems
                ),
                make=_text(item, "make", f"equipment[{i}].", problems),
                model=_text(item, "model", f"equipment[{i}].", problems),
                extension=ext if isinstance(ext, Mapping) else None,
            )
        )
    materials: list[str] = []
    raw_materials = data.get("typical_materials") or []
    if not isinstance(raw_materials, list):
        problems.append("typical_materials: expected a list")
        raw_materials = []
    for i, m in enumerate(raw_materials):
        if isinstance(m, str):
            materials.append(m)
        elif isinstance(m, Mapping):
            materials.append(_text(m, "material_type", f"typical_materials[{i}].", problems))
        else:
            problems.append(f"typical_materials[{i}]: expected text or a mapping")
    ext = data.get(EXTENSION)
    facility = OkwFacility(
        name=_text(data, "name", "", problems),
        latitude=_coordinate(gps.get("latitude"), "latitude", 90, problems),
        longitude=_coordinate(longitude, "longitude", 180, problems),
        country=_text(address, "country", "location.address.", problems),
        region=_text(address, "region", "location.address.", problems),
        description=_text(data, "description", "", problems),
        website=website,
        facility_status=_text(data, "facility_status", "", problems),
        manufacturing_processes=_text(data, "manufacturing_processes", "", problems),
        typical_materials=tuple(m for m in materials if m),
        equipment=tuple(equipment),
        extension=ext if isinstance(ext, Mapping) else None,
    )
    if problems:
        raise OkwError(problems)
    return facility


@dataclass(frozen=True, slots=True)
class OkwImport:
    """The records an OKW facility becomes, and the equipment left out (with why)."""

    workshop: WorkshopRegister
    machines: tuple[Machine, ...]
    skipped: tuple[str, ...]


def _names(text: str) -> list[str]:
    out: list[str] = []
    for part in re.split(r"[,;]", text):
        slug = slugify(part)
        if slug and slug not in out:
            out.append(slug)
    return out


def import_records(
    facility: OkwFacility,
    *,
    workshop: str | None = None,
    owners: Sequence[Did] = (),
    name: str | None = None,
    country: str | None = None,
    region: str | None = None,
    lat: str | None = None,
    lon: str | None = None,
    build_volume_mm: tuple[str, str, str] | None = None,
    precision_mm: str = "0.100",
) -> OkwImport:
    """Turn a facility into record bodies; arguments fill in (and override) what OKW lacks.

    Equipment without a build volume (in its fabcommons block or given here)
    is skipped with a reason. Raises OkwError listing everything missing.
    """
    ext = facility.extension or {}
    problems: list[str] = []
    slug = workshop or ext.get("workshop") or slugify(facility.name)
    owner_list = list(owners) or list(ext.get("owners") or [])
    country_code = (country or facility.country).strip()
    if len(country_code) == 2 and country_code.isalpha():
        country_code = country_code.upper()
    place = {
        "lat": lat or facility.latitude,
        "lon": lon or facility.longitude,
        "country": country_code,
        "region": region if region is not None else facility.region,
    }
    body: dict[str, Any] = {
        "workshop": slug,
        "name": name or facility.name,
        "place": place,
        "owners": owner_list,
    }
    if facility.description:
        body["description"] = facility.description[:4000]
    if facility.website:
        body["url"] = facility.website[:2000]
    if not body["name"]:
        problems.append("the facility has no name: give one")
    if not slug:
        problems.append("no workshop slug: give one")
    if not owner_list:
        problems.append("no owner key: give the workshop's owner did(s)")
    if place["lat"] is None or place["lon"] is None:
        problems.append("the facility has no GPS position: give lat and lon")
    if not re.fullmatch(r"[A-Z]{2}", country_code):
        problems.append(
            f"country {country_code!r} is not an ISO 3166-1 alpha-2 code: give one (e.g. DE)"
        )
    workshop_record: WorkshopRegister | None = None
    if not problems:
        try:
            workshop_record = WorkshopRegister.from_dict(body)
        except InvalidRecord as exc:
            problems.append(f"{exc.field}: {exc.reason}")
    machines: list[Machine] = []
    skipped: list[str] = []
    facility_processes = _names(facility.manufacturing_processes)
    facility_materials = [m for m in (slugify(t) for t in facility.typical_materials) if m]
    used: set[str] = set()
    for i, item in enumerate(facility.equipment):
        block = item.extension or {}
        kind = block.get("kind") or slugify(item.equipment_type) or "equipment"
        base = block.get("machine") or slugify(f"{item.make} {item.model}") or kind
        machine_slug = base
        n = 2
        while machine_slug in used:
            machine_slug = f"{base[:60]}-{n}"
            n += 1
        used.add(machine_slug)
        volume = block.get("build_volume_mm")
        if volume is None and build_volume_mm is not None:
            volume = dict(zip("xyz", build_volume_mm, strict=True))
        if volume is None:
            skipped.append(f"equipment[{i}] ({kind}): no build volume; give one")
            continue
        processes = block.get("processes") or _names(item.manufacturing_process)
        processes = processes or facility_processes
        if not processes:
            skipped.append(f"equipment[{i}] ({kind}): no manufacturing process")
            continue
        machine: dict[str, Any] = {
            "workshop": slug,
            "machine": machine_slug,
            "kind": kind,
            "processes": list(processes),
            "materials": list(block.get("materials") or facility_materials),
            "build_volume_mm": volume,
            "precision_mm": block.get("precision_mm") or precision_mm,
        }
        if block.get("active") is False:
            machine["active"] = False
        for key, value in (("name", block.get("name")), ("make", item.make), ("model", item.model)):
            if value:
                machine[key] = value
        try:
            machines.append(Machine.from_dict(machine))
        except InvalidRecord as exc:
            skipped.append(f"equipment[{i}] ({kind}): {exc.field}: {exc.reason}")
    if problems:
        raise OkwError(problems)
    assert workshop_record is not None
    return OkwImport(workshop=workshop_record, machines=tuple(machines), skipped=tuple(skipped))


def _location(place: Place | None, flavour: str) -> dict[str, Any]:
    longitude_key = "logitude" if flavour == "json" else "longitude"
    return {
        "address": {
            "number": "",
            "street": "",
            "district": "",
            "city": "",
            "region": place.region if place else "",
            "country": place.country if place else "",
            "postcode": "",
        },
        "gps": {
            "latitude": float(place.lat) if place else 0,
            longitude_key: float(place.lon) if place else 0,
        },
        "directions": "",
        "what_3_words": "",
    }


def _agent(name: str, place: Place | None, website: str, flavour: str) -> dict[str, Any]:
    return {
        "name": name,
        "location": _location(place, flavour),
        "contact_person": "",
        "contact": {"landline": "", "mobile": "", "fax": "", "email": "", "whatsapp": ""},
        "website": website,
        "social_media": {"landline": "", "twitter": "", "instagram": "", "other_urls": []},
    }


def _equipment(machine: Machine, place: Place, flavour: str) -> dict[str, Any]:
    block: dict[str, Any] = {
        "machine": machine.machine,
        "kind": machine.kind,
        "processes": list(machine.processes),
        "materials": list(machine.materials),
        "build_volume_mm": dict(zip("xyz", machine.build_volume_mm, strict=True)),
        "precision_mm": machine.precision_mm,
    }
    if not machine.active:
        block["active"] = False
    if machine.name is not None:
        block["name"] = machine.name
    return {
        "equipment_type": machine.kind,
        "manufacturing_process": ", ".join(machine.processes),
        "make": machine.make or "",
        "model": machine.model or "",
        "serial_number": "",
        "location": _location(place, flavour),
        "skills_required": [],
        "condition": "",
        EXTENSION: block,
    }


def export_okw(
    workshop: WorkshopRegister,
    machines: Sequence[Machine],
    *,
    retired: bool = False,
    flavour: str = "json",
) -> dict[str, Any]:
    """An OKW facility (every field of the OKW template) for a workshop and its machines.

    flavour "json" or "yaml" picks the longitude spelling of that template.
    One machine is written as the template's single equipment object, more
    as a list.
    """
    if flavour not in ("json", "yaml"):
        raise ValueError("flavour is json or yaml")
    place = workshop.place
    equipment: Any = [_equipment(m, place, flavour) for m in machines]
    if len(equipment) == 1:
        equipment = equipment[0]
    processes = sorted({p for m in machines for p in m.processes})
    materials = sorted({m for machine in machines for m in machine.materials})
    return {
        "name": workshop.name,
        "location": _location(place, flavour),
        "owner": _agent(workshop.name, place, workshop.url or "", flavour),
        "contact": _agent(workshop.name, place, workshop.url or "", flavour),
        "affiliations": [],
        "facility_status": "Closed" if retired else "Active",
        "opening_hours": "",
        "description": workshop.description or "",
        "date_founded": "",
        "access_type": "",
        "wheelchair_acessibility": False,
        "equipment": equipment,
        "manufacturing_processes": ", ".join(processes),
        "typical_batch_size": "",
        "size_floor_size": 0,
        "storage_capacity": "",
        "typical_materials": [{"material_type": m} for m in materials],
        "certifications": [],
        "backup_generator": False,
        "uninterrupted_power_supply": False,
        "road_access": False,
        "loading_dock": False,
        "maintenance_schedule": "",
        "typical_products": [],
        "partner_funder": _agent("", None, "", flavour),
        "customer_reviews": [],
        EXTENSION: {"workshop": workshop.workshop, "owners": list(workshop.owners)},
    }

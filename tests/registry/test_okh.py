"""registry.okh: OKH v1 and OKH-LOSH manifests in, OKH-LOSH out (specs/04-designs.md §6).

The real manifests of ../shared/corpus are used as they are; a test that needs
a quirk makes its own manifest. The switch plate's expected body is written
out by hand from its okh.yml; file hashes are computed here with hashlib.
"""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.corpus import corpus_dir
from registry.designs import Author, Design
from registry.licences import LicenceRefused
from registry.okh import MAX_MANIFEST_BYTES, ManifestError, export_losh, read_manifest

CORPUS = corpus_dir()
SWITCH = CORPUS / "designs" / "switch-plate-gopro"
UPSTREAM = "https://github.com/makersmakingchange/Switch-Mounting-Plate-GoPro-Compatible"
STL = "Switch_Plate_GoPro_Compatible.stl"
BOM = "Switch_Plate_GoPro_Compatible_BOM.csv"


def _hash(path: Path) -> tuple[str, int]:
    data = path.read_bytes()
    return hashlib.sha256(data).hexdigest(), len(data)


def switch_plate_design() -> Design:
    names = sorted(p.name for p in SWITCH.iterdir() if p.name != "okh.yml")
    plan = read_manifest((SWITCH / "okh.yml").read_bytes(), "okh.yml", local_names=names)
    return plan.to_design({n: _hash(SWITCH / n) for n in plan.local_names()})


def test_switch_plate_imports_with_its_stl_licence_and_attribution() -> None:
    stl_sha, stl_size = _hash(SWITCH / STL)
    bom_sha, bom_size = _hash(SWITCH / BOM)
    assert stl_size == 189684  # the corpus README's file
    summary = (
        "A 3D printable mounting plate ideal for individuals looking for a cost-effective way "
        "of mounting an assistive switch and hoping to utilize readily available GoPro "
        "mounting accessories."
    )
    expected = {
        "title": "Switch Plate - GoPro Compatible",
        "summary": summary,
        "description": summary
        + "\n\n## Intended use\n\nProvides a flat surface for mounting an assistive switch "
        "and connecting it to a GoPro compatible mounting accessory.",
        "license": "CC-BY-SA-4.0",
        "authors": [{"name": "Anna Millbourn"}, {"name": "Jake McIvor"}],
        "version": "1.0",
        "supersedes": None,
        "derived_from": [],
        "files": [
            {
                "name": BOM,
                "media_type": "text/csv",
                "sha256": bom_sha,
                "size": bom_size,
                "role": "bom",
            },
            {
                "name": STL,
                "media_type": "model/stl",
                "sha256": stl_sha,
                "size": stl_size,
                "role": "model",
                "units": "mm",
            },
        ],
        "processes": [],
        "materials": [],
        "tags": ["disability", "openAT", "mounting", "assistive-switch"],
        "upstream": UPSTREAM,
    }
    assert switch_plate_design().to_dict() == expected


def test_switch_plate_import_reports_what_it_left_out() -> None:
    names = [p.name for p in SWITCH.iterdir()]
    plan = read_manifest((SWITCH / "okh.yml").read_bytes(), "okh.yml", local_names=names)
    notes = "\n".join(plan.notes)
    assert "okh-manifest-version" in notes  # the non-standard field
    assert "Switch_Plate_GoPro_Compatible_Maker_Guide.pdf: referenced, but not beside" in notes
    assert plan.format == "okh-v1"


def test_switch_plate_round_trips_through_okh_losh() -> None:
    design = switch_plate_design()
    text = export_losh(design, design_id="sha256:" + "0" * 64)
    parsed = tomllib.loads(text)
    # Standard OKH-LOSH fields, for other tools.
    assert parsed["okhv"] == "OKH-LOSHv1.0"
    assert parsed["name"] == "Switch Plate - GoPro Compatible"
    assert parsed["license"] == "CC-BY-SA-4.0"
    assert parsed["licensor"] == "Anna Millbourn, Jake McIvor"
    assert parsed["repo"] == UPSTREAM
    assert parsed["bom"] == BOM
    assert parsed["part"] == [{"name": "Switch Plate - GoPro Compatible", "export": [STL]}]
    again = read_manifest(text.encode(), "okh.toml")
    assert again.local_names() == ()  # every hash travels in the manifest
    assert again.to_design({}).to_dict() == design.to_dict()


EDGE_BODY: dict[str, Any] = {
    "title": 'A "quoted" title — with ünïcode',
    "summary": "",
    "description": 'Line one\n\n```toml\nkey = "value"\n```\n\ttabbed',
    "license": "CC-BY-4.0",
    "authors": [{"name": "Ada", "did": "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"}],
    "version": "2",
    "supersedes": "sha256:" + "1" * 64,
    "derived_from": ["sha256:" + "2" * 64, "sha256:" + "3" * 64],
    "files": [
        {
            "name": "a b.3mf",
            "media_type": "model/3mf",
            "sha256": "c" * 64,
            "size": 0,
            "role": "model",
            "units": "inch",
        },
        {
            "name": "cut.svg",
            "media_type": "image/svg+xml",
            "sha256": "d" * 64,
            "size": 9,
            "role": "drawing",
        },
        {
            "name": "part.scad",
            "media_type": "application/x-openscad",
            "sha256": "e" * 64,
            "size": 10,
            "role": "source",
        },
        {
            "name": "photo.jpg",
            "media_type": "image/jpeg",
            "sha256": "f" * 64,
            "size": 11,
            "role": "photo",
        },
        {
            "name": "guide.md",
            "media_type": "text/markdown",
            "sha256": "0" * 64,
            "size": 12,
            "role": "instructions",
        },
    ],
    "processes": ["laser-cutting", "fdm"],
    "materials": ["plywood-3mm"],
    "tags": ["Mixed Case", "x"],
}


def test_every_field_round_trips_through_okh_losh() -> None:
    design = Design.from_dict(EDGE_BODY)
    text = export_losh(design)
    parsed = tomllib.loads(text)
    assert parsed["part"] == [
        {
            "name": EDGE_BODY["title"],
            "source": ["part.scad"],
            "export": ["a b.3mf", "cut.svg"],
            "process": "laser-cutting",
            "material": "plywood-3mm",
        }
    ]
    assert parsed["image"] == "photo.jpg"
    assert parsed["manufacturing-instructions"] == ["guide.md"]
    assert "function" not in parsed
    assert read_manifest(text.encode(), "x.toml").to_design({}).to_dict() == EDGE_BODY


_text = (
    st.text(
        alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")),
        min_size=1,
        max_size=30,
    )
    .map(str.strip)
    .filter(bool)
)


@settings(max_examples=60, deadline=None)
@given(
    title=_text,
    summary=st.one_of(st.just(""), _text),
    version=_text,
    tags=st.lists(_text, max_size=3, unique=True),
)
def test_export_then_import_is_identity(
    title: str, summary: str, version: str, tags: list[str]
) -> None:
    design = Design.from_dict(
        {**EDGE_BODY, "title": title, "summary": summary, "version": version, "tags": tags}
    )
    assert read_manifest(export_losh(design).encode(), "m.toml").to_design({}) == design


# -- the corpus manifests: each imports or fails with a clear message ----------------------


def test_okh_v1_cubefactory_imports() -> None:
    path = CORPUS / "manifests" / "okh-v1-manifest1.yml"
    plan = read_manifest(path.read_bytes(), path.name)  # opens with `%Open know-how manifest 0.1`
    design = plan.to_design({})
    assert design.title == "CubeFactory2"
    assert design.license == "CC-BY-SA-4.0"  # license: {documentation: CC-BY-SA-4.0}
    assert design.version == "2"  # an integer in the YAML
    assert design.upstream == "https://github.com/CubeFactory2/cubefactory"
    assert design.authors[0] == Author(name="Bernd Muschard")  # the licensor first
    assert Author(name="Patrick Mundt") in design.authors  # trailing space stripped
    assert len(design.authors) == 13
    assert design.tags == (
        "mini-factory",
        "circular economy",
        "filament recycling",
        "3D-printer; making",
        "sustainable manufacturing",
    )
    assert design.files == ()
    assert "## Safety" in design.description


def test_okh_v1_humboldt_names_no_author_and_says_so() -> None:
    path = CORPUS / "manifests" / "okh-v1-humboldt-greenhouse.yaml"
    with pytest.raises(ManifestError) as caught:
        read_manifest(path.read_bytes(), path.name)  # licensor.name is ". "
    assert caught.value.field == "licensor"
    assert "names no author" in caught.value.reason
    plan = read_manifest(
        path.read_bytes(), path.name, fallback_authors=[Author(name="Appropedia: Anonymous1")]
    )
    design = plan.to_design({})
    assert design.title == "Humboldt greenhouse gallery"
    assert design.version == "28"
    assert design.license == "CC-BY-SA-4.0"
    assert design.authors == (Author(name="Appropedia: Anonymous1"),)


def test_okh_losh_nimble_is_refused_naming_its_licence() -> None:
    path = CORPUS / "manifests" / "okh-losh-nimble.toml"
    with pytest.raises(LicenceRefused) as caught:
        read_manifest(path.read_bytes(), path.name)
    assert caught.value.licence == "CERN-OHL-S-2.0"
    assert "CERN-OHL-S-2.0" in str(caught.value)
    assert "CC-BY-SA-4.0" in str(caught.value)


CORPUS_OUTCOMES = {
    "okh-v1-manifest1.yml": None,
    "okh-v1-humboldt-greenhouse.yaml": ManifestError,
    "okh-losh-nimble.toml": LicenceRefused,
}


def test_the_corpus_outcomes_cover_every_manifest() -> None:
    assert sorted(p.name for p in (CORPUS / "manifests").iterdir()) == sorted(CORPUS_OUTCOMES)


@pytest.mark.parametrize(("name", "error"), sorted(CORPUS_OUTCOMES.items()))
def test_every_corpus_manifest_imports_or_fails_clearly(name: str, error: type | None) -> None:
    path = CORPUS / "manifests" / name
    if error is None:
        assert read_manifest(path.read_bytes(), name).to_design({}).title
        return
    with pytest.raises(error) as caught:
        read_manifest(path.read_bytes(), name)
    assert caught.value.field
    assert len(caught.value.reason) > 20


# -- quirks and refusals -----------------------------------------------------------------------


def _v1(extra: str) -> bytes:
    return ("title: Bracket  \nlicensor: Ada Lovelace \n" + extra).encode()


@pytest.mark.parametrize(
    ("manifest", "licence"),
    [
        (_v1("license: CC-BY-4.0\n"), "CC-BY-4.0"),
        (_v1("license: 'CC0-1.0 '\n"), "CC0-1.0"),
        (_v1("license:\n  hardware: CC-BY-SA-4.0\n  software: GPL-3.0\n"), "CC-BY-SA-4.0"),
        (_v1("license:\n  documentation: CC-BY-4.0\n"), "CC-BY-4.0"),
    ],
    ids=["string", "padded", "table-hardware", "table-documentation"],
)
def test_licence_as_string_or_table(manifest: bytes, licence: str) -> None:
    assert read_manifest(manifest, "okh.yml").license == licence


@pytest.mark.parametrize(
    ("manifest", "named"),
    [
        (_v1("license: CC-BY-NC-4.0\n"), "CC-BY-NC-4.0"),
        (
            _v1("license:\n  hardware: CC-BY-SA-4.0\n  documentation: CC-BY-ND-4.0\n"),
            "CC-BY-ND-4.0",
        ),
        (_v1("license:\n  hardware: CERN-OHL-S-2.0\n"), "CERN-OHL-S-2.0"),
    ],
    ids=["nc", "nd-documentation", "cern-hardware"],
)
def test_unacceptable_licences_are_named(manifest: bytes, named: str) -> None:
    with pytest.raises(LicenceRefused) as caught:
        read_manifest(manifest, "okh.yml")
    assert named in str(caught.value)


@pytest.mark.parametrize(
    ("data", "filename", "field"),
    [
        (b"title: [unclosed\n", "okh.yml", "manifest"),
        (b"- a list\n", "okh.yml", "manifest"),
        (b"name = 'x'\nlicense = \n", "okh.toml", "manifest"),
        (b"\xff\xfe title", "okh.yml", "manifest"),
        (b"#" * (MAX_MANIFEST_BYTES + 1), "okh.yml", "manifest"),
        (b"[" * 5000, "okh.yml", "manifest"),
        (_v1("")[:0] + b"licensor: A\nlicense: CC0-1.0\n", "okh.yml", "title"),
        (b"title: X\nlicensor: A\n", "okh.yml", "license"),
        (b"name = 'X'\nlicensor = 'A'\n", "okh.toml", "license"),
        (b"title: X\nlicense: CC0-1.0\n", "okh.yml", "licensor"),
    ],
    ids=[
        "bad-yaml",
        "not-mapping",
        "bad-toml",
        "not-utf8",
        "too-large",
        "too-deep",
        "no-title",
        "no-licence",
        "losh-no-licence",
        "no-author",
    ],
)
def test_unreadable_manifests_give_a_clear_error(data: bytes, filename: str, field: str) -> None:
    with pytest.raises(ManifestError) as caught:
        read_manifest(data, filename)
    assert caught.value.field == field


def test_header_variants_bom_and_trailing_spaces() -> None:
    manifest = (
        "\ufeff%Open know-how manifest 1.0\n---\n# comment\ntitle: Clamp \n"
        "licensor:\n  - name: 'Ada <ada@example.org>'\n  - Bob\n"
        "license: CC-BY-SA-4.0\nversion: 1.2\n"
        "project-link: 'https://example.org/clamp '\n"
        "bom: https://example.org/raw/bom.csv?ref=main\n"
        "manufacturing-files:\n  - path: 'files/clamp.STL '\n  - path: files/clamp.scad\n"
        "image: {path: photo%20one.jpg}\n"
    ).encode()
    names = ["bom.csv", "clamp.STL", "clamp.scad", "photo one.jpg", "other.stl"]
    plan = read_manifest(manifest, "okh.yaml", local_names=names, units="inch")
    assert plan.title == "Clamp"
    assert plan.version == "1.2"
    assert plan.upstream == "https://example.org/clamp"
    assert plan.authors == (Author(name="Ada"), Author(name="Bob"))
    roles = {(f.name, f.role, f.units, f.media_type) for f in plan.files}
    # other.stl is not referenced and no folder was named: it stays out.
    assert roles == {
        ("bom.csv", "bom", None, "text/csv"),
        ("clamp.STL", "model", "inch", "model/stl"),
        ("clamp.scad", "source", None, "application/x-openscad"),
        ("photo one.jpg", "photo", None, "image/jpeg"),
    }


def test_losh_parts_map_to_files_processes_and_materials() -> None:
    manifest = b"""
okhv = "OKH-LOSHv1.0"
name = "Stool"
license = "CC-BY-SA-4.0"
licensor = "Ada <ada@example.org>"
function = "A stool."
manufacturing-instructions = "doc/assembly.md"

[[part]]
name = "seat"
source = "seat.FCStd"
export = ["seat.dxf", "seat.stl"]
process = "Laser cutting"
material = "Plywood 6mm"
"""
    names = ["assembly.md", "seat.FCStd", "seat.dxf", "seat.stl"]
    plan = read_manifest(manifest, "okh.toml", local_names=names)
    assert plan.processes == ("laser-cutting",)
    assert plan.materials == ("plywood-6mm",)
    assert plan.summary == "A stool."
    assert {(f.name, f.role) for f in plan.files} == {
        ("assembly.md", "instructions"),
        ("seat.FCStd", "source"),
        ("seat.dxf", "drawing"),
        ("seat.stl", "model"),
    }
    with pytest.raises(ManifestError):
        plan.to_design({})  # the files have not been hashed
    design = plan.to_design({n: ("1" * 64, 1) for n in names})
    assert {f.name for f in design.files} == set(names)


def test_units_must_be_known() -> None:
    with pytest.raises(ManifestError):
        read_manifest(_v1("license: CC0-1.0\n"), "okh.yml", units="furlong")

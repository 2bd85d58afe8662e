"""Designs through the node API: publishing checks, detail, attribution, search, OKH export.

specs/04-designs.md §7 and §9. Each search filter is proven by a case whose
answer would differ if the filter were ignored; expected sets, chains and
credit lines are written by hand.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import tomllib
from decimal import Decimal
from typing import Any

import pytest
import trimesh

from node.api.designs import fits_in
from node.corpus import corpus_dir
from registry.okh import read_manifest

CORPUS = corpus_dir()
SWITCH = CORPUS / "designs" / "switch-plate-gopro"
SQLITE = pytest.mark.parametrize("backend", ["sqlite"])


async def upload(node: Any, key: Any, data: bytes) -> dict[str, Any]:
    reply = await node.signed_post(
        key, "/api/v1/blobs", data, content_type="application/octet-stream"
    )
    assert reply.status == 201, reply.body
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def body(title: str, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "title": title,
        "summary": f"{title}, a part",
        "description": "",
        "license": "CC-BY-SA-4.0",
        "authors": [{"name": "Ada"}],
        "version": "1",
        "supersedes": None,
        "derived_from": [],
        "files": [],
        "processes": [],
        "materials": [],
        "tags": [],
    }
    base.update(changes)
    return base


async def publish(node: Any, make_envelope: Any, key: Any, data: dict[str, Any]) -> Any:
    return await node.post_envelope(make_envelope(key, "design", data), key)


async def published(node: Any, make_envelope: Any, key: Any, data: dict[str, Any]) -> str:
    reply = await publish(node, make_envelope, key, data)
    assert reply.status == 201, reply.body
    design_id: str = reply.json()["id"]
    return design_id


@pytest.fixture
async def coop(node_factory: Any, make_key: Any) -> tuple[Any, Any, Any]:
    node = await node_factory()
    ada, ben = make_key("designs/ada"), make_key("designs/ben")
    await node.admit(ada.did)
    await node.admit(ben.did)
    return node, ada, ben


async def test_switch_plate_published_and_served_with_attribution_and_okh(
    coop: Any, make_envelope: Any
) -> None:
    node, ada, _ = coop
    names = [p.name for p in SWITCH.iterdir() if p.name != "okh.yml"]
    plan = read_manifest((SWITCH / "okh.yml").read_bytes(), "okh.yml", local_names=names)
    hashes = {}
    for name in plan.local_names():
        answer = await upload(node, ada, (SWITCH / name).read_bytes())
        hashes[name] = (answer["sha256"], answer["size"])
    design = plan.to_design(hashes)
    design_id = await published(node, make_envelope, ada, design.to_dict())

    reply = await node.get(f"/api/v1/designs/{design_id}")
    assert reply.status == 200, reply.body
    got = reply.json()
    assert got["id"] == design_id
    assert got["body"] == design.to_dict()
    assert got["log"] == node.identity.did
    assert got["author"] == ada.did
    assert got["license_url"] == "https://creativecommons.org/licenses/by-sa/4.0/"
    stl = next(f for f in got["files"] if f["name"] == "Switch_Plate_GoPro_Compatible.stl")
    stl_bytes = (SWITCH / stl["name"]).read_bytes()
    assert stl["sha256"] == hashlib.sha256(stl_bytes).hexdigest()
    assert stl["available"] is True
    assert stl["units"] == "mm"
    served = await node.get(stl["url"])
    assert hashlib.sha256(served.body).hexdigest() == stl["sha256"]
    assert got["attribution"]["chain"] == []
    public = node.config.public_url.rstrip("/")
    assert got["attribution"]["text"] == (
        '"Switch Plate - GoPro Compatible" by Anna Millbourn, Jake McIvor. '
        f"Source: {public}/api/v1/designs/{design_id}; originally "
        "https://github.com/makersmakingchange/Switch-Mounting-Plate-GoPro-Compatible. "
        "Licence: CC-BY-SA-4.0 https://creativecommons.org/licenses/by-sa/4.0/.\n"
    )
    assert got["versions"] == {"supersedes": [], "superseded_by": []}

    okh = await node.get(got["okh"])
    assert okh.status == 200
    assert okh.headers["Content-Type"].startswith("application/toml")
    parsed = tomllib.loads(okh.body.decode())
    assert parsed["license"] == "CC-BY-SA-4.0"
    assert parsed["fabcommons"]["id"] == design_id
    again = read_manifest(okh.body, "okh.toml").to_design({})
    assert again.to_dict() == design.to_dict()
    # Published again, the same envelope is the same record (200, same index).
    repeat = await publish(node, make_envelope, ada, design.to_dict())
    assert repeat.status == 200
    assert repeat.json()["id"] == design_id


@SQLITE
async def test_a_design_whose_files_were_not_uploaded_is_refused(
    coop: Any, make_envelope: Any, check_problem: Any
) -> None:
    node, ada, _ = coop
    here = await upload(node, ada, b"solid x\nendsolid x\n")
    missing = {"sha256": hashlib.sha256(b"never sent").hexdigest(), "size": 10}
    files = [
        {"name": "here.stl", "media_type": "model/stl", "role": "model", "units": "mm", **here},
        {"name": "gone.pdf", "media_type": "application/pdf", "role": "instructions", **missing},
    ]
    before = await node.state()
    problem = check_problem(await publish(node, make_envelope, ada, body("P", files=files)), 409)
    assert problem["file"] == "gone.pdf"
    assert "gone.pdf" in problem["detail"]
    wrong_size = [{**files[0], "size": here["size"] + 1}]
    problem = check_problem(
        await publish(node, make_envelope, ada, body("P", files=wrong_size)), 422
    )
    assert problem["file"] == "here.stl"
    assert await node.state() == before
    await published(node, make_envelope, ada, body("P", files=files[:1]))


@SQLITE
async def test_licences_the_commons_refuses(
    coop: Any, make_envelope: Any, check_problem: Any
) -> None:
    node, ada, ben = coop
    parent = await published(node, make_envelope, ada, body("Plate"))
    before = await node.state()
    problem = check_problem(
        await publish(node, make_envelope, ada, body("NC plate", license="CC-BY-NC-4.0")), 422
    )
    assert problem["licence"] == "CC-BY-NC-4.0"
    assert "CC-BY-NC-4.0" in problem["detail"]
    # A derivative of a CC-BY-SA design with a non-share-alike licence.
    derivative = body("Wider plate", license="CC-BY-4.0", derived_from=[parent])
    problem = check_problem(await publish(node, make_envelope, ben, derivative), 422)
    assert problem["type"].endswith("/licence-refused")
    assert problem["licence"] == "CC-BY-4.0"
    assert "CC-BY-SA-4.0 (share-alike), not CC-BY-4.0" in problem["detail"]
    assert parent in problem["detail"]
    assert await node.state() == before
    derivative["license"] = "CC-BY-SA-4.0"
    await published(node, make_envelope, ben, derivative)


@SQLITE
async def test_only_an_author_publishes_a_new_version(
    coop: Any, make_envelope: Any, check_problem: Any
) -> None:
    node, ada, ben = coop
    v1 = await published(node, make_envelope, ada, body("Hinge"))
    problem = check_problem(
        await publish(node, make_envelope, ben, body("Hinge", version="2", supersedes=v1)), 403
    )
    assert v1 in problem["detail"]
    v2 = await published(node, make_envelope, ada, body("Hinge", version="2", supersedes=v1))
    v3 = await published(node, make_envelope, ada, body("Hinge", version="3", supersedes=v2))
    got = (await node.get(f"/api/v1/designs/{v2}")).json()
    assert got["versions"] == {"supersedes": [v1], "superseded_by": [v3]}
    got = (await node.get(f"/api/v1/designs/{v3}")).json()
    assert got["versions"] == {"supersedes": [v2, v1], "superseded_by": []}
    got = (await node.get(f"/api/v1/designs/{v1}")).json()
    assert got["versions"] == {"supersedes": [], "superseded_by": [v2, v3]}


@SQLITE
async def test_a_chain_of_three_derivatives_shows_all_three_ancestors(
    coop: Any, make_envelope: Any
) -> None:
    node, ada, ben = coop
    root = await published(
        node, make_envelope, ada, body("Plate", authors=[{"name": "Anna Millbourn"}])
    )
    b = await published(
        node,
        make_envelope,
        ben,
        body("Plate with slot", derived_from=[root], authors=[{"name": "Ben"}]),
    )
    c = await published(
        node,
        make_envelope,
        ada,
        body("Slotted plate, M5", derived_from=[b], authors=[{"name": "Cleo"}]),
    )
    d = await published(
        node,
        make_envelope,
        ben,
        body(
            "Slotted plate, M5, wide", derived_from=[c], authors=[{"name": "Dee", "did": ben.did}]
        ),
    )
    got = (await node.get(f"/api/v1/designs/{d}")).json()
    licence = "https://creativecommons.org/licenses/by-sa/4.0/"
    assert got["attribution"]["chain"] == [
        {
            "id": c,
            "depth": 1,
            "known": True,
            "title": "Slotted plate, M5",
            "authors": [{"name": "Cleo"}],
            "license": "CC-BY-SA-4.0",
            "license_url": licence,
            "upstream": None,
        },
        {
            "id": b,
            "depth": 2,
            "known": True,
            "title": "Plate with slot",
            "authors": [{"name": "Ben"}],
            "license": "CC-BY-SA-4.0",
            "license_url": licence,
            "upstream": None,
        },
        {
            "id": root,
            "depth": 3,
            "known": True,
            "title": "Plate",
            "authors": [{"name": "Anna Millbourn"}],
            "license": "CC-BY-SA-4.0",
            "license_url": licence,
            "upstream": None,
        },
    ]
    lines = got["attribution"]["text"].splitlines()
    assert lines[0].startswith('"Slotted plate, M5, wide" by Dee. Source: ')
    assert lines[1] == "Adapted from:"
    assert [line.split('" by ')[0] for line in lines[2:]] == [
        '- "Slotted plate, M5',
        '- "Plate with slot',
        '- "Plate',
    ]
    assert got["derived_from"] == [c]
    assert (await node.get(f"/api/v1/designs/{b}")).json()["derivatives"] == [c]


def _ids(reply: Any) -> set[str]:
    assert reply.status == 200, reply.body
    return {d["id"] for d in reply.json()["designs"]}


@SQLITE
async def test_each_search_filter_is_applied(coop: Any, make_envelope: Any) -> None:
    node, ada, ben = coop
    bracket = await published(
        node,
        make_envelope,
        ada,
        body(
            "Shelf bracket",
            description="Holds a shelf of 18 mm boards.",
            processes=["fdm"],
            materials=["pla", "petg"],
            tags=["Furniture"],
        ),
    )
    panel = await published(
        node,
        make_envelope,
        ben,
        body(
            "Enclosure panel",
            license="CC-BY-4.0",
            processes=["laser-cutting"],
            materials=["plywood-3mm"],
            tags=["electronics"],
            authors=[{"name": "Cleo", "did": ada.did}],
        ),
    )
    knob = await published(
        node,
        make_envelope,
        ben,
        body("Knob", license="CC0-1.0", processes=["fdm", "sla"], materials=["resin"]),
    )
    everything = {bracket, panel, knob}
    assert _ids(await node.get("/api/v1/designs")) == everything
    cases = [
        ({"q": "shelf"}, {bracket}),
        ({"q": "SHELF 18"}, {bracket}),  # words all match, case-insensitively, in the description
        ({"q": "shelf panel"}, set()),
        ({"q": "50%"}, set()),  # LIKE wildcards are literal
        ({"process": "fdm"}, {bracket, knob}),
        ({"process": ["fdm", "sla"]}, {knob}),
        ({"material": "petg"}, {bracket}),
        ({"tag": "furniture"}, {bracket}),  # tags match case-insensitively
        ({"license": "CC-BY-4.0"}, {panel}),
        ({"license": "CC-BY-SA-4.0"}, {bracket}),
        ({"author": ben.did}, {panel, knob}),  # the signer
        ({"author": ada.did}, {bracket, panel}),  # the signer, or an author named by did
        ({"cooperative": node.identity.did}, everything),
        ({"cooperative": ben.did}, set()),
        ({"process": "fdm", "license": "CC0-1.0"}, {knob}),
    ]
    for params, expected in cases:
        assert _ids(await node.get("/api/v1/designs", params=params)) == expected, params


@SQLITE
async def test_paging(coop: Any, make_envelope: Any) -> None:
    node, ada, _ = coop
    ids = [await published(node, make_envelope, ada, body(f"Part {i}")) for i in range(5)]
    first = (await node.get("/api/v1/designs", params={"limit": "2"})).json()
    assert first["total"] == 5
    assert first["next_offset"] == 2
    # Newest first.
    assert [d["id"] for d in first["designs"]] == [ids[4], ids[3]]
    last = (await node.get("/api/v1/designs", params={"limit": "2", "offset": "4"})).json()
    assert [d["id"] for d in last["designs"]] == [ids[0]]
    assert last["next_offset"] is None


async def _analysed(node: Any, design_id: str) -> list[dict[str, Any]]:
    for _ in range(600):
        got = (await node.get(f"/api/v1/designs/{design_id}")).json()
        if got["analysis"] and got["analysis"][0]["figures"] is not None:
            analyses: list[dict[str, Any]] = got["analysis"]
            return analyses
        await asyncio.sleep(0.1)
    raise AssertionError(f"no analysis of {design_id} after 60 s")


@SQLITE
async def test_fits_filter_uses_the_analysed_size(coop: Any, make_envelope: Any) -> None:
    node, ada, _ = coop
    stl = (SWITCH / "Switch_Plate_GoPro_Compatible.stl").read_bytes()
    # The expected size, independently: trimesh's own oriented box of the same bytes.
    mesh = trimesh.load(io.BytesIO(stl), file_type="stl")
    sides = sorted((float(x) for x in mesh.bounding_box_oriented.primitive.extents), reverse=True)
    assert 85 < sides[1] <= sides[0] < 95  # "about 89 x 89 x 29 mm"
    assert 25 < sides[2] < 35
    part = await upload(node, ada, stl)
    files = [
        {"name": "plate.stl", "media_type": "model/stl", "role": "model", "units": "mm", **part}
    ]
    plate = await published(node, make_envelope, ada, body("Plate", files=files))
    other = await published(node, make_envelope, ada, body("No files"))
    analyses = await _analysed(node, plate)
    assert analyses[0]["thumbnail"].startswith("/blobs/sha256/")
    summary = (await node.get("/api/v1/designs", params={"q": "plate"})).json()["designs"][0]
    assert summary["thumbnail"] == analyses[0]["thumbnail"]
    assert _ids(await node.get("/api/v1/designs")) == {plate, other}
    up = lambda x: f"{x + 0.5:.3f}"  # noqa: E731
    down = lambda x: f"{x - 0.5:.3f}"  # noqa: E731
    cases = [
        (f"{up(sides[0])}x{up(sides[1])}x{up(sides[2])}", {plate}),
        (f"{up(sides[2])}x{up(sides[0])}x{up(sides[1])}", {plate}),  # turned on its side
        ("1000x1000x1000", {plate}),  # never the design without analysed models
        (f"{up(sides[0])}x{up(sides[1])}x{down(sides[2])}", set()),
        (f"{up(sides[0])}x{down(sides[1])}x{down(sides[1])}", set()),
    ]
    for fits, expected in cases:
        reply = await node.get("/api/v1/designs", params={"fits": fits})
        assert _ids(reply) == expected, fits
        assert reply.json()["total"] is None


def _figures(*boxes: tuple[str, str, str]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{i:064x}", {"obb_mm": box, "aabb_mm": ("1e9", "1e9", "1e9")})
        for i, box in enumerate(boxes)
    ]


@pytest.mark.parametrize(
    ("boxes", "fits"),
    [
        ([("89.000", "89.000", "29.000")], True),
        ([("100.000", "100.000", "50.000")], True),  # exactly the box
        ([("100.001", "50.000", "10.000")], False),
        ([("29.000", "89.000", "89.000")], True),  # rotated: sides are compared sorted
        ([("120.000", "10.000", "10.000")], False),
        ([("50.000", "50.000", "50.000"), ("101.000", "1.000", "1.000")], False),  # every model
        ([], False),  # nothing analysed: not shown to fit
    ],
)
def test_fits_in_compares_sorted_sides(boxes: list[tuple[str, str, str]], fits: bool) -> None:
    box = (Decimal(100), Decimal(100), Decimal(50))
    assert fits_in(_figures(*boxes), box) is fits


def test_fits_in_falls_back_to_the_axis_aligned_box() -> None:
    box = (Decimal(100), Decimal(100), Decimal(50))
    assert fits_in([("0" * 64, {"aabb_mm": ("10.000", "10.000", "10.000")})], box)
    assert not fits_in([("0" * 64, {"aabb_mm": ("10.000", "10.000", "101.000")})], box)


BAD_QUERIES = [
    ({"licence": "CC0-1.0"}, "licence"),  # a misspelt filter is refused, not ignored
    ({"limit": "0"}, "limit"),
    ({"limit": "101"}, "limit"),
    ({"limit": "-1"}, "limit"),
    ({"limit": "\u00b2"}, "limit"),  # str.isdigit() says yes, int() says no
    ({"offset": "\u0661\u0662"}, "offset"),  # Arabic-Indic 12: decimal ASCII only
    ({"offset": "10001"}, "offset"),
    ({"offset": "x"}, "offset"),
    ({"author": "did:key:nope"}, "author"),
    ({"cooperative": "alice"}, "cooperative"),
    ({"process": "Laser Cutting"}, "process"),
    ({"process": ["a", "b", "c", "d", "e", "f", "g", "h", "i"]}, "process"),
    ({"tag": "t" * 65}, "tag"),
    ({"license": "CC BY"}, "license"),
    ({"q": "x" * 201}, "q"),
    ({"q": " ".join(f"w{i}" for i in range(9))}, "q"),
    ({"fits": "100x100"}, "fits"),
    ({"fits": "0x0x0"}, "fits"),
    ({"fits": "1e3x1x1"}, "fits"),
]


@SQLITE
@pytest.mark.parametrize(("params", "parameter"), BAD_QUERIES, ids=[p for _, p in BAD_QUERIES])
async def test_bad_queries_are_400_problems(
    node_factory: Any, check_problem: Any, params: dict[str, Any], parameter: str
) -> None:
    node = await node_factory()
    problem = check_problem(await node.get("/api/v1/designs", params=params), 400)
    assert problem["parameter"] == parameter


@SQLITE
async def test_bad_and_unknown_ids(node_factory: Any, check_problem: Any) -> None:
    node = await node_factory()
    for path in ("/api/v1/designs/nope", "/api/v1/designs/sha256:ABC/okh.toml"):
        check_problem(await node.get(path), 400)
    unknown = "sha256:" + "0" * 64
    check_problem(await node.get(f"/api/v1/designs/{unknown}"), 404)
    check_problem(await node.get(f"/api/v1/designs/{unknown}/okh.toml"), 404)


@SQLITE
async def test_malformed_design_bodies_are_422_naming_the_field(
    coop: Any, make_envelope: Any, check_problem: Any
) -> None:
    node, ada, _ = coop
    before = await node.state()
    for data, field in (
        (body("x" * 201), "body.title"),
        (body("P", license="CC BY"), "body.license"),
        (body("P", derived_from=["sha256:1"]), "body.derived_from[0]"),
        ({**body("P"), "colour": "red"}, "body.colour"),
    ):
        problem = check_problem(await publish(node, make_envelope, ada, data), 422)
        assert problem["field"] == field
    assert await node.state() == before

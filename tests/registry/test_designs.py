"""registry.designs: the design body, who may sign it, attribution along derived_from.

specs/04-designs.md §2 (schema), §4 (rule), §5 (attribution chain and TASL).
Expected chains and credit lines are written out by hand.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

import registry  # noqa: F401  (registers the record types and rules)
from protocol.authority import LogAuthority
from protocol.errors import InvalidRecord, Unauthorised
from protocol.keys import AgentKey
from protocol.records import Record
from protocol.signing import sign
from registry.designs import (
    MAX_ANCESTORS,
    Ancestor,
    Author,
    Design,
    attribution_chain,
    check_derivation,
    tasl_text,
)
from registry.licences import LicenceRefused


def _key(name: str) -> AgentKey:
    return AgentKey.from_seed(hashlib.sha256(name.encode()).digest())


NODE = _key("designs/node")
ANA = _key("designs/ana")
BEN = _key("designs/ben")
OUTSIDER = _key("designs/outsider")
CREATED = "2025-06-01T12:00:00Z"
SHA_A = "a" * 64
SHA_B = "b" * 64


def body(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "title": "Switch Plate - GoPro Compatible",
        "summary": "A 3D printable mounting plate for an assistive switch.",
        "description": "# Switch plate\n\nPrint flat.\tNo supports.",
        "license": "CC-BY-SA-4.0",
        "authors": [{"name": "Anna Millbourn"}, {"name": "Ana", "did": ANA.did}],
        "version": "1.0",
        "supersedes": None,
        "derived_from": [],
        "files": [
            {
                "name": "plate.stl",
                "media_type": "model/stl",
                "sha256": SHA_A,
                "size": 189684,
                "role": "model",
                "units": "mm",
            },
            {
                "name": "bom.csv",
                "media_type": "text/csv",
                "sha256": SHA_B,
                "size": 1123,
                "role": "bom",
            },
        ],
        "processes": ["fdm"],
        "materials": ["pla", "petg"],
        "tags": ["assistive-switch", "openAT"],
        "upstream": "https://github.com/makersmakingchange/Switch-Mounting-Plate-GoPro-Compatible",
    }
    base.update(changes)
    return base


def test_valid_body_round_trips_exactly() -> None:
    data = body()
    design = Design.from_dict(data)
    assert design.to_dict() == data
    assert design.files[0].units == "mm"
    assert design.files[1].units is None
    assert design.authors == (Author(name="Anna Millbourn"), Author(name="Ana", did=ANA.did))
    assert design.author_dids() == (ANA.did,)
    # from_dict never mutates its input.
    assert data == body()


def _file(**changes: Any) -> dict[str, Any]:
    f = copy.deepcopy(body()["files"][0])
    f.update(changes)
    return f


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("unknown-field", body(colour="red"), "body.colour"),
    ("missing-title", {k: v for k, v in body().items() if k != "title"}, "body.title"),
    (
        "missing-supersedes",
        {k: v for k, v in body().items() if k != "supersedes"},
        "body.supersedes",
    ),
    ("empty-title", body(title=""), "body.title"),
    ("long-title", body(title="x" * 201), "body.title"),
    ("title-padded", body(title=" plate"), "body.title"),
    ("title-newline", body(title="a\nb"), "body.title"),
    ("summary-long", body(summary="s" * 501), "body.summary"),
    ("description-long", body(description="d" * 16001), "body.description"),
    ("description-nul", body(description="a\x00b"), "body.description"),
    ("license-not-spdx", body(license="CC BY-SA 4.0"), "body.license"),
    ("license-not-string", body(license=4), "body.license"),
    ("no-authors", body(authors=[]), "body.authors"),
    ("too-many-authors", body(authors=[{"name": f"a{i}"} for i in range(33)]), "body.authors"),
    ("author-bad-did", body(authors=[{"name": "x", "did": "did:key:zzz"}]), "body.authors[0].did"),
    ("author-extra", body(authors=[{"name": "x", "email": "x@y"}]), "body.authors[0].email"),
    ("author-no-name", body(authors=[{"did": ANA.did}]), "body.authors[0].name"),
    ("version-empty", body(version=""), "body.version"),
    ("supersedes-bad", body(supersedes="sha256:xyz"), "body.supersedes"),
    ("derived-bad", body(derived_from=["nope"]), "body.derived_from[0]"),
    ("derived-repeat", body(derived_from=["sha256:" + "1" * 64] * 2), "body.derived_from"),
    ("derived-not-list", body(derived_from="sha256:" + "1" * 64), "body.derived_from"),
    (
        "derived-too-many",
        body(derived_from=[f"sha256:{i:064x}" for i in range(33)]),
        "body.derived_from",
    ),
    (
        "supersedes-also-derived",
        body(supersedes="sha256:" + "1" * 64, derived_from=["sha256:" + "1" * 64]),
        "body.derived_from",
    ),
    ("file-path", body(files=[_file(name="dir/plate.stl")]), "body.files[0].name"),
    ("file-dotdot", body(files=[_file(name="..")]), "body.files[0].name"),
    ("file-sha-upper", body(files=[_file(sha256="A" * 64)]), "body.files[0].sha256"),
    ("file-size-negative", body(files=[_file(size=-1)]), "body.files[0].size"),
    ("file-size-float", body(files=[_file(size=1.5)]), "body.files[0].size"),
    ("file-size-bool", body(files=[_file(size=True)]), "body.files[0].size"),
    ("file-size-huge", body(files=[_file(size=2**53)]), "body.files[0].size"),
    ("file-role", body(files=[_file(role="cad")]), "body.files[0].role"),
    ("file-media-type", body(files=[_file(media_type="STL")]), "body.files[0].media_type"),
    ("model-no-units", body(files=[{**_file(), "units": None}]), "body.files[0].units"),
    (
        "model-units-missing",
        body(files=[{k: v for k, v in _file().items() if k != "units"}]),
        "body.files[0].units",
    ),
    ("units-feet", body(files=[_file(units="ft")]), "body.files[0].units"),
    ("units-on-bom", body(files=[_file(role="bom")]), "body.files[0].units"),
    ("file-extra", body(files=[_file(colour="red")]), "body.files[0].colour"),
    ("files-repeat-name", body(files=[_file(), _file(sha256=SHA_B)]), "body.files"),
    ("too-many-files", body(files=[_file(name=f"f{i}.stl") for i in range(101)]), "body.files"),
    ("process-upper", body(processes=["FDM"]), "body.processes[0]"),
    ("process-space", body(processes=["laser cutting"]), "body.processes[0]"),
    ("process-repeat", body(processes=["fdm", "fdm"]), "body.processes"),
    ("too-many-processes", body(processes=[f"p{i}" for i in range(17)]), "body.processes"),
    ("material-long", body(materials=["m" * 49]), "body.materials[0]"),
    ("tag-long", body(tags=["t" * 65]), "body.tags[0]"),
    ("tag-empty", body(tags=[""]), "body.tags[0]"),
    ("tag-repeat", body(tags=["a", "a"]), "body.tags"),
    ("too-many-tags", body(tags=[f"t{i}" for i in range(33)]), "body.tags"),
    ("upstream-ftp", body(upstream="ftp://example.org/x"), "body.upstream"),
    ("upstream-space", body(upstream="https://example.org/a b"), "body.upstream"),
]


@pytest.mark.parametrize(("data", "field"), [(d, f) for _, d, f in BAD], ids=[i for i, _, _ in BAD])
def test_invalid_bodies_name_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRecord) as caught:
        Design.from_dict(data)
    assert caught.value.field == field


SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "specs" / "schemas" / "design.json").read_text("utf-8")
)
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
# The schema is necessary, not sufficient: these rules are in its description only.
NOT_IN_SCHEMA = {"files-repeat-name", "supersedes-also-derived"}


def test_schema_file() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["title"] == "design"
    assert SCHEMA["$id"] == "urn:fabcommons:schema:v1:design"
    assert SCHEMA["additionalProperties"] is False
    assert VALIDATOR.is_valid(body())
    assert VALIDATOR.is_valid({k: v for k, v in body().items() if k != "upstream"})


@pytest.mark.parametrize("case", [c for c, _, _ in BAD])
def test_schema_refuses_what_the_code_refuses(case: str) -> None:
    data = next(d for c, d, _ in BAD if c == case)
    assert VALIDATOR.is_valid(data) is (case in NOT_IN_SCHEMA)


def test_body_not_an_object() -> None:
    with pytest.raises(InvalidRecord):
        Design.from_dict([])  # type: ignore[arg-type]


# -- property: from_dict(to_dict(x)) == x ---------------------------------------------------

_line = (
    st.text(
        alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")),
        min_size=1,
        max_size=40,
    )
    .map(str.strip)
    .filter(bool)
)
_slug = st.from_regex(r"[a-z0-9]{1,6}(-[a-z0-9]{1,6}){0,2}", fullmatch=True)
_did = st.sampled_from([ANA.did, BEN.did, OUTSIDER.did])
_id = st.binary(min_size=32, max_size=32).map(lambda b: "sha256:" + b.hex())


@st.composite
def _files(draw: st.DrawFn) -> list[dict[str, Any]]:
    names = draw(st.lists(_slug, max_size=5, unique=True))
    out = []
    for name in names:
        role = draw(st.sampled_from(["model", "drawing", "instructions", "bom", "photo", "source"]))
        f: dict[str, Any] = {
            "name": name + ".bin",
            "media_type": draw(st.sampled_from(["model/stl", "application/pdf", "image/svg+xml"])),
            "sha256": draw(st.binary(min_size=32, max_size=32)).hex(),
            "size": draw(st.integers(0, 2**53 - 1)),
            "role": role,
        }
        if role == "model":
            f["units"] = draw(st.sampled_from(["mm", "inch", "m"]))
        out.append(f)
    return out


@st.composite
def designs(draw: st.DrawFn) -> Design:
    data: dict[str, Any] = {
        "title": draw(_line),
        "summary": draw(st.one_of(st.just(""), _line)),
        "description": draw(
            st.text(
                alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))
                | st.sampled_from("\n\t"),
                max_size=200,
            )
        ),
        "license": draw(
            st.sampled_from(["CC-BY-SA-4.0", "CC-BY-4.0", "CC0-1.0", "LicenseRef-x.1+"])
        ),
        "authors": [
            {"name": n, **({"did": d} if d else {})}
            for n, d in draw(
                st.lists(st.tuples(_line, st.one_of(st.none(), _did)), min_size=1, max_size=4)
            )
        ],
        "version": draw(_line),
        "supersedes": draw(st.one_of(st.none(), _id)),
        "derived_from": draw(st.lists(_id, max_size=3, unique=True)),
        "files": draw(_files()),
        "processes": draw(st.lists(_slug, max_size=3, unique=True)),
        "materials": draw(st.lists(_slug, max_size=3, unique=True)),
        "tags": draw(st.lists(_line, max_size=4, unique=True)),
    }
    if data["supersedes"] in data["derived_from"]:
        data["supersedes"] = None
    if draw(st.booleans()):
        data["upstream"] = "https://example.org/" + draw(_slug)
    return Design.from_dict(data)


@settings(max_examples=100, deadline=None)
@given(designs())
def test_from_dict_of_to_dict_is_identity(design: Design) -> None:
    again = Design.from_dict(design.to_dict())
    assert again == design
    assert VALIDATOR.is_valid(design.to_dict())
    # The dict form is JSON without floats (canonical-able as is).
    rfc8785.dumps(design.to_dict())


# -- the rule: who may sign a design (specs/04-designs.md §4) ---------------------------------


def _signed(key: AgentKey, type_: str, data: dict[str, Any]) -> Any:
    return sign(Record(type=type_, author=key.did, created=CREATED, body=data), key)


def _log(*members: AgentKey) -> LogAuthority:
    state = LogAuthority(node=NODE.did)
    for m in members:
        state.admit_entry(_signed(NODE, "member.admit", {"member": m.did, "role": "member"}))
    return state


def _record_id(envelope: Any) -> str:
    return "sha256:" + hashlib.sha256(rfc8785.dumps(envelope.record.to_dict())).hexdigest()


def test_member_may_publish_outsider_and_node_may_not() -> None:
    state = _log(ANA)
    state.admit_entry(_signed(ANA, "design", body()))
    with pytest.raises(Unauthorised):
        state.admit_entry(_signed(OUTSIDER, "design", body(title="Other")))
    with pytest.raises(Unauthorised):
        state.admit_entry(_signed(NODE, "design", body(title="Node's")))


def test_rule_refuses_a_licence_the_commons_does_not_accept() -> None:
    state = _log(ANA)
    before = state.to_dict()
    with pytest.raises(LicenceRefused) as caught:
        state.admit_entry(_signed(ANA, "design", body(license="CC-BY-NC-4.0")))
    assert "CC-BY-NC-4.0" in str(caught.value)
    assert state.to_dict() == before


def test_rule_refuses_a_non_share_alike_derivative_in_the_same_log() -> None:
    state = _log(ANA, BEN)
    parent = _signed(ANA, "design", body())
    state.admit_entry(parent)
    child = body(title="Wider plate", license="CC-BY-4.0", derived_from=[_record_id(parent)])
    with pytest.raises(LicenceRefused) as caught:
        state.admit_entry(_signed(BEN, "design", child))
    assert "CC-BY-SA-4.0" in caught.value.reason
    assert "CC-BY-4.0" in caught.value.reason
    child["license"] = "CC-BY-SA-4.0"
    state.admit_entry(_signed(BEN, "design", child))


def test_only_an_author_may_supersede() -> None:
    state = _log(ANA, BEN)
    first = _signed(ANA, "design", body(authors=[{"name": "Ana"}]))
    state.admit_entry(first)
    newer = body(version="1.1", supersedes=_record_id(first))
    with pytest.raises(Unauthorised):
        state.admit_entry(_signed(BEN, "design", newer))
    state.admit_entry(_signed(ANA, "design", newer))
    # A co-author named by did in the earlier body may supersede it too.
    shared = _signed(ANA, "design", body(title="Shared", authors=[{"name": "Ben", "did": BEN.did}]))
    state.admit_entry(shared)
    state.admit_entry(_signed(BEN, "design", body(title="Shared", supersedes=_record_id(shared))))


def test_superseding_a_design_of_another_log_is_not_judged_by_this_log() -> None:
    state = _log(BEN)
    state.admit_entry(_signed(BEN, "design", body(supersedes="sha256:" + "9" * 64)))


# -- attribution (specs/04-designs.md §5) -------------------------------------------------


def _design(title: str, licence: str, parents: list[str], author: str) -> Design:
    return Design.from_dict(
        body(title=title, license=licence, derived_from=parents, authors=[{"name": author}])
    )


ROOT_ID = "sha256:" + "1" * 64
B_ID = "sha256:" + "2" * 64
C_ID = "sha256:" + "3" * 64
D_ID = "sha256:" + "4" * 64
GHOST_ID = "sha256:" + "5" * 64
KNOWN = {
    ROOT_ID: _design("Plate", "CC-BY-SA-4.0", [], "Anna Millbourn"),
    B_ID: _design("Plate with slot", "CC-BY-SA-4.0", [ROOT_ID], "Ben"),
    C_ID: _design("Slotted plate, M5", "CC-BY-SA-4.0", [B_ID], "Cleo"),
    D_ID: _design("Slotted plate, M5, wide", "CC-BY-SA-4.0", [C_ID], "Dee"),
}


def test_a_chain_of_three_derivatives_credits_all_three_ancestors_nearest_first() -> None:
    chain = attribution_chain(D_ID, KNOWN.get)
    assert chain == (
        Ancestor(
            C_ID,
            1,
            True,
            "Slotted plate, M5",
            (Author(name="Cleo"),),
            "CC-BY-SA-4.0",
            KNOWN[C_ID].upstream,
        ),
        Ancestor(
            B_ID,
            2,
            True,
            "Plate with slot",
            (Author(name="Ben"),),
            "CC-BY-SA-4.0",
            KNOWN[B_ID].upstream,
        ),
        Ancestor(
            ROOT_ID,
            3,
            True,
            "Plate",
            (Author(name="Anna Millbourn"),),
            "CC-BY-SA-4.0",
            KNOWN[ROOT_ID].upstream,
        ),
    )


def test_diamond_is_credited_once_and_unknown_ancestors_by_id() -> None:
    known = dict(KNOWN)
    merged_id = "sha256:" + "6" * 64
    known[merged_id] = _design("Merged", "CC-BY-SA-4.0", [C_ID, B_ID, GHOST_ID], "Eve")
    chain = attribution_chain(merged_id, known.get)
    assert [(a.design_id, a.depth, a.known) for a in chain] == [
        (C_ID, 1, True),
        (B_ID, 1, True),
        (GHOST_ID, 1, False),
        (ROOT_ID, 2, True),
    ]
    assert attribution_chain(GHOST_ID, known.get) == ()


def test_a_cycle_in_the_lookup_ends() -> None:
    x, y = "sha256:" + "7" * 64, "sha256:" + "8" * 64
    known = {x: _design("X", "CC0-1.0", [y], "x"), y: _design("Y", "CC0-1.0", [x], "y")}
    assert [a.design_id for a in attribution_chain(x, known.get)] == [y]


def test_a_chain_is_cut_at_its_limit() -> None:
    ids = [f"sha256:{i:064x}" for i in range(MAX_ANCESTORS + 5)]
    known = {ids[i]: _design(f"d{i}", "CC0-1.0", [ids[i + 1]], "a") for i in range(len(ids) - 1)}
    assert len(attribution_chain(ids[0], known.get)) == MAX_ANCESTORS


def test_tasl_text_credits_title_author_source_and_licence() -> None:
    chain = attribution_chain(C_ID, KNOWN.get)
    text = tasl_text(C_ID, KNOWN[C_ID], chain, source=lambda i: f"https://coop.example/d/{i[7:11]}")
    upstream = KNOWN[C_ID].upstream
    expected = (
        f'"Slotted plate, M5" by Cleo. Source: https://coop.example/d/3333; originally {upstream}. '
        "Licence: CC-BY-SA-4.0 https://creativecommons.org/licenses/by-sa/4.0/.\n"
        "Adapted from:\n"
        f'- "Plate with slot" by Ben. Source: https://coop.example/d/2222; originally {upstream}. '
        "Licence: CC-BY-SA-4.0 https://creativecommons.org/licenses/by-sa/4.0/.\n"
        f'- "Plate" by Anna Millbourn. Source: https://coop.example/d/1111; originally {upstream}. '
        "Licence: CC-BY-SA-4.0 https://creativecommons.org/licenses/by-sa/4.0/.\n"
    )
    assert text == expected


def test_tasl_text_of_an_unknown_ancestor_and_the_default_source() -> None:
    design = Design.from_dict(body(upstream="https://x.example/p", derived_from=[GHOST_ID]))
    text = tasl_text(D_ID, design, attribution_chain(D_ID, {D_ID: design}.get))
    assert text.splitlines()[-1] == (
        f"- A design not known to this node. Source: fabcommons design {GHOST_ID}."
    )
    assert f"Source: fabcommons design {D_ID}; originally https://x.example/p." in text


def test_check_derivation_walks_every_known_ancestor() -> None:
    # The grandparent is share-alike; the parent (CC0) would allow CC-BY-4.0 on its own.
    known = {
        ROOT_ID: _design("SA root", "CC-BY-SA-4.0", [], "a"),
        B_ID: _design("CC0 middle", "CC0-1.0", [ROOT_ID], "b"),
    }
    with pytest.raises(LicenceRefused) as caught:
        check_derivation("CC-BY-4.0", [B_ID], known.get)
    assert '"SA root"' in caught.value.reason
    assert "CC-BY-SA-4.0 (share-alike), not CC-BY-4.0" in caught.value.reason
    check_derivation("CC-BY-SA-4.0", [B_ID], known.get)
    check_derivation("CC-BY-4.0", [GHOST_ID], known.get)  # unknown: not judged here

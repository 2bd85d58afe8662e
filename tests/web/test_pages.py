"""The node's own pages: home, the log's verification state and its growth plot, on a phone too."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from fednet import post_profiles, tree_root, wait_for
from webui import check_traffic, corpus, run_async

from node.client import NodeClient
from protocol.errors import InvalidRecord
from protocol.keys import AgentKey
from protocol.records import Record, format_time
from protocol.signing import sign
from registry.okh import read_manifest

pytestmark = pytest.mark.slow


def test_home_and_log_pages_show_public_state(fednet, web_node, make_ui):
    # A peer, so that the log page has one to show; and entries to plot.
    peer = fednet.node("peer")
    run_async(peer.start())
    ui = make_ui(web_node)
    added = ui.admin("POST", "/api/v1/admin/peers", {"url": peer.url})
    assert added["did"] == peer.did
    run_async(web_node.sync(peer.did))
    members = [AgentKey.from_seed(bytes([i]) * 32) for i in range(1, 6)]
    for member in members:
        ui.admit(member.did)
    run_async(post_profiles(web_node, members, 5, tag="web", clients=1))
    # The peer follows this node too, and cosigns its checkpoint (03-federation §5).
    run_async(peer.add_peer(web_node.url))
    run_async(peer.sync(web_node.did))

    async def cosigned() -> bool:
        note = (await web_node.checkpoint()).decode()
        return f"\u2014 {peer.origin} " in note

    run_async(wait_for(cosigned, "the peer's cosignature on this node's checkpoint"))
    size = ui.get_json("/healthz")["log_size"]
    assert size >= 10  # five admissions, five profiles, and the node's peer records

    ui.goto("/")
    assert ui.page.url == ui.url("/ui/")
    assert ui.page.locator("h1").text_content() == "Fed web"
    assert ui.page.locator("#home-did").text_content() == web_node.did
    assert ui.page.locator("#home-size").text_content() == str(size)
    checkpoint = run_async(web_node.checkpoint()).decode()
    # The node's own signature line; /fed/v1/checkpoint may add cosignatures.
    assert checkpoint.startswith(ui.page.locator("#home-checkpoint").text_content())
    ui.shot("home")

    ui.goto("/ui/log")
    row = ui.page.locator("#peers tbody tr")
    row.first.wait_for()
    ui.page.get_by_text(peer.did[:14]).wait_for()
    assert "ok" in ui.page.locator("#peers tbody").text_content()
    plot = ui.page.locator("#growth svg[role=img]")
    plot.wait_for()
    # Every sampled entry is a point; a log this small is sampled whole.
    assert ui.page.locator("#growth circle").count() == size
    assert "Log size over time" in plot.locator("title").text_content()
    signatures = ui.page.locator("#log-signatures li")
    signatures.nth(1).wait_for()
    lines = signatures.all_text_contents()
    assert f"{web_node.origin} (the node itself)" in lines
    assert f"{peer.origin} (a witness's cosignature)" in lines
    ui.page.locator("#log-cosigned td", has_text="1").first.wait_for()
    ui.shot("log")

    # The same page on a phone: nothing wider than the screen but the scrolling tables.
    phone = make_ui(web_node, viewport={"width": 360, "height": 740})
    phone.goto("/ui/log")
    phone.page.locator("#growth svg").wait_for()
    overflow = phone.page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= 360
    phone.shot("log-phone")
    check_traffic(ui, [])
    check_traffic(phone, [])


PLATE = "designs/switch-plate-gopro/Switch_Plate_GoPro_Compatible.stl"


async def publish_from_outside(node_url: str, member: AgentKey, stl: bytes, name: str) -> str:
    """A member publishes a design with the protocol core (not the browser)."""
    async with NodeClient(node_url) as client:
        blob = await client.post_blob(stl, member)
        body = {
            "title": "Switch plate",
            "summary": "",
            "description": "A plate.",
            "license": "CC-BY-SA-4.0",
            "authors": [{"name": "Anna Millbourn"}],
            "version": "1",
            "supersedes": None,
            "derived_from": [],
            "files": [
                {
                    "name": name,
                    "media_type": "model/stl",
                    "sha256": blob["sha256"],
                    "size": len(stl),
                    "role": "model",
                    "units": "mm",
                }
            ],
            "processes": ["fdm"],
            "materials": ["pla"],
            "tags": [],
        }
        record = Record(
            type="design", author=member.did, created=format_time(datetime.now(UTC)), body=body
        )
        answer = await client.post_record(sign(record, member), member)
    design_id: str = answer["id"]
    return design_id


# The elements whose content sticks out of them (for the message of a failure).
WIDEST = """() => [document.documentElement.scrollWidth, Array.from(document.querySelectorAll('*'))
    .filter((el) => el.scrollWidth > el.clientWidth + 1
        && getComputedStyle(el).overflowX === 'visible')
    .slice(0, 12).map((el) => el.tagName + '.' + el.className + '#' + el.id + ':'
        + el.scrollWidth + '/' + el.clientWidth)]"""


def test_every_page_fits_a_phone(web_node, make_ui):
    member = AgentKey.from_seed(hashlib.sha256(b"web pages member").digest())
    ui = make_ui(web_node, viewport={"width": 360, "height": 740})
    ui.admit(member.did)
    stl = corpus(PLATE)
    design_id = run_async(publish_from_outside(web_node.url, member, stl.read_bytes(), stl.name))
    ui.admin(
        "POST",
        "/api/v1/admin/workshops",
        {
            "workshop": "fablab-nord",
            "name": "Fablab Nord",
            "place": {"lat": "50.629250", "lon": "3.057256", "country": "FR", "region": "HDF"},
            "owners": [member.did],
        },
    )
    pages = {
        "home": "/ui/",
        "log": "/ui/log",
        "key": "/ui/key",
        "designs": "/ui/designs",
        "design": f"/ui/designs/{design_id}",
        "publish": "/ui/publish",
        "workshops": "/ui/workshops",
        "workshop": f"/ui/workshops/{web_node.did}/fablab-nord",
        "jobs": "/ui/jobs",
        "job-new": f"/ui/jobs/new?design={design_id}",
        "proposals": "/ui/proposals",
        "ledger": "/ui/ledger",
        "not-found": "/ui/designs/not-an-id",
    }
    for name, path in pages.items():
        ui.goto(path)
        ui.page.wait_for_load_state("networkidle")
        if name == "design":  # with the analysis, once the node has made it
            ui.page.locator("#analysis section.analysis").wait_for(timeout=90_000)
        width = ui.page.evaluate("document.documentElement.scrollWidth")
        wide = ui.page.evaluate(WIDEST)
        assert width <= 360, f"{path} is {width} px wide on a 360 px screen: {wide}"
        ui.shot(f"phone-{name}")
    assert ui.page.locator("h1").text_content() == "Not found"

    # A query the node refuses (400, parameter fits) is shown next to its filter, kept.
    ui.goto("/ui/designs?fits=as-big-as-a-house")
    fits = ui.page.get_by_label("Fits in (mm)")
    ui.page.locator("#f-fits[aria-invalid=true]").wait_for()
    assert fits.input_value() == "as-big-as-a-house"
    assert "220x220x250" in ui.page.locator("#f-fits-error").text_content()
    check_traffic(ui, [])


def test_publish_refusal_keeps_the_form(web_node, make_ui):
    seed = hashlib.sha256(b"web publish refusal").digest()
    member = AgentKey.from_seed(seed)
    ui = make_ui(web_node)
    ui.admit(member.did)
    ui.goto("/ui/key")
    pem = Ed25519PrivateKey.from_private_bytes(seed).private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
    )
    ui.page.get_by_label("or paste it here").fill(pem.decode())
    ui.page.get_by_role("button", name="Import key").click()
    ui.page.locator("#my-did").wait_for()

    stl = corpus(PLATE)
    ui.goto("/ui/publish")
    ui.page.get_by_label("Title").fill("Non-commercial plate")
    ui.page.get_by_label("Licence (SPDX identifier)").fill("CC-BY-NC-4.0")
    ui.page.locator("#files").set_input_files(str(stl))
    ui.page.get_by_label("Processes").fill("fdm")
    size_before = run_async(web_node.get_json("/healthz"))["log_size"]
    ui.page.get_by_role("button", name="Upload, sign and publish").click()
    slot = ui.page.locator("#license-error")
    slot.wait_for()
    # registry/licences.py refuses NC for the commons (422, field body.license).
    assert "CC-BY-NC-4.0" in slot.text_content()
    assert "commercial" in slot.text_content()
    licence = ui.page.get_by_label("Licence (SPDX identifier)")
    assert licence.get_attribute("aria-invalid") == "true"
    assert licence.input_value() == "CC-BY-NC-4.0"
    assert ui.page.get_by_label("Title").input_value() == "Non-commercial plate"
    assert ui.page.get_by_label("Processes").input_value() == "fdm"
    assert ui.page.locator("#files").evaluate("el => el.files.length") == 1
    assert run_async(web_node.get_json("/healthz"))["log_size"] == size_before
    ui.shot("publish-refused")

    # Fixed, the same form goes through.
    licence.fill("CC-BY-SA-4.0")
    ui.page.get_by_role("button", name="Upload, sign and publish").click()
    ui.page.locator("#publish-status[data-record-id]").wait_for()
    assert licence.get_attribute("aria-invalid") is None
    check_traffic(ui, [seed])


def test_browser_checks_inclusion_proofs(web_node, make_ui):
    members = [AgentKey.from_seed(bytes([i]) * 32) for i in range(1, 4)]
    ui = make_ui(web_node)
    for member in members:
        ui.admit(member.did)
    run_async(post_profiles(web_node, members, 4, tag="proof", clients=1))
    size = ui.get_json("/healthz")["log_size"]
    leaves = run_async(web_node.leaves(size))
    root = tree_root(leaves)  # tests/support/fednet.py: RFC 9162 written out, not node/
    ui.goto("/ui/")
    results = ui.page.evaluate(
        """async ([leaves, root, size]) => {
            const m = await import('/ui/static/js/merkle.js');
            const { fromBase64 } = await import('/ui/static/js/bytes.js');
            const out = [];
            for (let i = 0; i < size; i++) {
                const proof = await (await fetch(
                    `/fed/v1/proof/inclusion?index=${i}&tree_size=${size}`)).json();
                const hashes = proof.hashes.map(fromBase64);
                const leaf = await m.leafHash(JSON.parse(leaves[i]));
                const good = await m.verifyInclusion(leaf, i, size, hashes, fromBase64(root));
                const bad = hashes.length ? hashes.map((h) => h.slice()) : [];
                if (bad.length) bad[0][0] ^= 1;
                const tampered = bad.length
                    ? await m.verifyInclusion(leaf, i, size, bad, fromBase64(root)) : false;
                const moved = await m.verifyInclusion(leaf, (i + 1) % size, size, hashes,
                                                      fromBase64(root));
                out.push([good, tampered, moved]);
            }
            const note = await (await fetch('/fed/v1/checkpoint')).text();
            const did = document.querySelector('#home-did').textContent;
            const opened = await m.openCheckpoint(note, did);
            let forged = 'refused';
            try { await m.openCheckpoint(note.replace(/\\n\\d+\\n/, '\\n999\\n'), did);
                  forged = 'accepted'; } catch (e) { /* expected */ }
            return { out, size: opened.size, forged };
        }""",
        [[leaf.decode() for leaf in leaves], base64.b64encode(root).decode(), size],
    )
    assert results["out"] == [[True, False, False]] * size
    assert results["size"] == size
    assert results["forged"] == "refused"


def test_publish_form_checks_units_before_publishing(web_node, make_ui):
    seed = hashlib.sha256(b"web units check").digest()
    member = AgentKey.from_seed(seed)
    ui = make_ui(web_node)
    ui.admit(member.did)
    ui.goto("/ui/key")
    pem = Ed25519PrivateKey.from_private_bytes(seed).private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
    )
    ui.page.get_by_label("or paste it here").fill(pem.decode())
    ui.page.get_by_role("button", name="Import key").click()
    ui.page.locator("#my-did").wait_for()

    # The corpus README: ADIS16480.STL is in metres (0.044 m wide); declared mm it is tiny.
    sensor = corpus("meshes/ADIS16480.STL")
    ui.goto("/ui/publish")
    ui.page.locator("#files").set_input_files(str(sensor))
    check = ui.page.locator("#file-0-check")
    ui.page.locator("#file-0-check[data-plausible=false]").wait_for()
    assert "Units warning" in check.text_content()
    ui.shot("units-warning")
    check.get_by_role("button", name="Use m").click()
    ui.page.locator("#file-0-check[data-units=m][data-plausible=true]").wait_for()
    assert ui.page.get_by_label("Units of ADIS16480.STL").input_value() == "m"
    # 0.044 m is 44 mm: the figures the node sends back are in millimetres.
    assert "44." in check.text_content()
    check_traffic(ui, [seed])


def test_okh_import_publishes_what_the_cli_would(web_node, make_ui):
    seed = hashlib.sha256(b"web okh import").digest()
    member = AgentKey.from_seed(seed)
    ui = make_ui(web_node)
    ui.admit(member.did)
    ui.goto("/ui/key")
    pem = Ed25519PrivateKey.from_private_bytes(seed).private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
    )
    ui.page.get_by_label("or paste it here").fill(pem.decode())
    ui.page.get_by_role("button", name="Import key").click()
    ui.page.locator("#my-did").wait_for()

    manifest = corpus("designs/switch-plate-gopro/okh.yml")
    beside = [p for p in sorted(manifest.parent.iterdir()) if p.name != "okh.yml"]
    ui.goto("/ui/publish")
    ui.page.locator("#okh-manifest").set_input_files(str(manifest))
    ui.page.locator("#okh-beside").set_input_files([str(p) for p in beside])
    ui.page.get_by_role("button", name="Fill the form from the manifest").click()
    ui.page.locator("#okh-status[data-format=okh-v1]").wait_for()
    ui.shot("okh-imported")
    ui.page.get_by_role("button", name="Upload, sign and publish").click()
    status = ui.page.locator("#publish-status[data-record-id]")
    status.wait_for()
    envelope = ui.get_json(f"/fed/v1/records/{status.get_attribute('data-record-id')}")["envelope"]

    # The reference importer (registry/okh.py, what `fabcommons design import-okh` runs),
    # with the files' hashes by hashlib.
    plan = read_manifest(
        manifest.read_bytes(), manifest.name, local_names=[p.name for p in beside], units="mm"
    )
    hashes = {}
    for p in beside:
        hashes[p.name] = (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_size)
    assert envelope["record"]["body"] == plan.to_design(hashes).to_dict()
    check_traffic(ui, [seed])


def reference_plan(path: Path, local: list[str]) -> tuple[Any, str | None]:
    """registry/okh.py's plan of a manifest, or the field it refuses."""
    try:
        return read_manifest(path.read_bytes(), path.name, local_names=local), None
    except InvalidRecord as exc:
        return None, exc.field


def test_okh_import_reads_other_manifests_like_the_reference(web_node, make_ui):
    ui = make_ui(web_node)
    ui.goto("/ui/publish")
    cases = [
        ("manifests/okh-v1-manifest1.yml", []),
        ("manifests/okh-v1-humboldt-greenhouse.yaml", []),
        ("manifests/okh-losh-nimble.toml", []),
    ]
    for relative, local in cases:
        path = corpus(relative)
        got = ui.page.evaluate(
            """async ([data, name, local]) => {
                const { readManifest, ManifestError } = await import('/ui/static/js/okh.js');
                const bytes = new TextEncoder().encode(data);
                try { return await readManifest(bytes.buffer, name, local); }
                catch (e) {
                    return { error: e instanceof ManifestError ? e.manifestField : String(e) };
                }
            }""",
            [path.read_text(encoding="utf-8"), path.name, local],
        )
        plan, refused = reference_plan(path, local)
        if refused is not None:
            # Both refuse; the reference also judges the licence, which the browser
            # leaves to the node at publishing (the node names the field then).
            assert got.get("error") == refused or refused == "license", (relative, got)
            continue
        assert "error" not in got, (relative, got)
        for name in ("title", "summary", "description", "license", "version", "upstream"):
            assert got[name] == getattr(plan, name), (relative, name)
        assert got["authors"] == [a.name for a in plan.authors], relative
        assert got["tags"] == list(plan.tags), relative
        assert got["processes"] == list(plan.processes), relative
        assert got["materials"] == list(plan.materials), relative
        assert got["notes"] == list(plan.notes), relative

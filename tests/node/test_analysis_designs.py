"""Designs get analysed: the node appends design.analysis for its own, and checks its peers'.

A member publishes the real switch plate; the node analyses the STL in a
worker and appends a node-signed design.analysis with a PNG preview. A
second node follows the first, recomputes the published figures and agrees;
when the first node publishes figures that are wrong, the follower marks
them disputed and shows both. Expected figures come from trimesh directly.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import trimesh
from pngcheck import decode_png

from node.analysis import ANALYSIS_STORE
from node.appkeys import LOG
from node.corpus import corpus_dir
from protocol.keys import AgentKey
from protocol.records import Record
from protocol.signing import envelope_from_leaf, sign
from registry.designs import Author, Design, DesignFile

CORPUS = corpus_dir()
SWITCH_PLATE = CORPUS / "designs" / "switch-plate-gopro" / "Switch_Plate_GoPro_Compatible.stl"
CREATED = "2025-06-01T12:00:00Z"


async def eventually(probe: Callable[[], Awaitable[Any]], what: str, timeout_s: float = 90) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        value = await probe()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def publish(node: Any, member: AgentKey, files: dict[str, bytes], title: str) -> str:
    """Upload the files, sign a design naming them, append it; return its id."""
    entries = []
    for name, data in files.items():
        reply = await node.signed_post(
            member, "/api/v1/blobs", data, content_type="application/octet-stream"
        )
        assert reply.status == 201, reply.body
        entries.append(
            DesignFile(
                name=name,
                media_type="model/stl",
                sha256=hashlib.sha256(data).hexdigest(),
                size=len(data),
                role="model",
                units="mm",
            )
        )
    design = Design(
        title=title,
        summary="A plate to mount a switch on a GoPro mount.",
        license="CC-BY-SA-4.0",
        authors=(Author(name="Ada", did=member.did),),
        version="1.0.0",
        files=tuple(entries),
        processes=("fdm",),
        materials=("pla",),
    )
    record = Record(type="design", author=member.did, created=CREATED, body=design.to_dict())
    reply = await node.post_envelope(sign(record, member), member)
    assert reply.status == 201, reply.body
    design_id: str = reply.json()["id"]
    return design_id


async def analyses(node: Any, design_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await node.app[ANALYSIS_STORE].for_design(design_id)
    return found


def trimesh_figures(data: bytes) -> dict[str, Any]:
    import io

    mesh = trimesh.load(io.BytesIO(data), file_type="stl")
    return {"triangles": len(mesh.faces), "volume": mesh.volume, "area": mesh.area}


async def test_the_node_analyses_its_own_design_and_signs_the_result(
    node_factory, make_key
) -> None:
    node = await node_factory()
    ada = make_key("ada")
    await node.admit(ada.did)
    data = SWITCH_PLATE.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    design_id = await publish(node, ada, {"plate.stl": data}, "Switch plate")

    async def own() -> list[dict[str, Any]]:
        return [a for a in await analyses(node, design_id) if a["agreement"] == "own"]

    (analysis,) = await eventually(own, "the node's own analysis")
    assert analysis["file"] == sha
    assert analysis["log"] == node.key.did
    expected = trimesh_figures(data)
    figures = analysis["figures"]
    assert figures["triangles"] == expected["triangles"]
    assert abs(Decimal(figures["volume_mm3"]) - Decimal(expected["volume"])) < Decimal("0.001")
    assert abs(Decimal(figures["area_mm2"]) - Decimal(expected["area"])) < Decimal("0.001")

    # The record in the log is signed by the node key and names design and file.
    size = await node.size()
    records = [envelope_from_leaf(leaf).record for leaf in await node.leaves(0, size)]
    (record,) = [r for r in records if r.type == "design.analysis"]
    assert record.author == node.key.did
    assert record.body["design"] == design_id
    assert record.body["file"] == sha
    assert record.body["figures"] == figures

    # The thumbnail is a PNG blob showing the part.
    thumb = await node.get(analysis["thumbnail"])
    assert thumb.status == 200
    assert hashlib.sha256(thumb.body).hexdigest() == record.body["thumbnail"]
    image = decode_png(thumb.body)
    assert image.shape == (256, 256, 4)
    assert (image[:, :, 3] > 0).sum() > 5000

    figures_for = await node.app[ANALYSIS_STORE].figures_for(design_id)
    assert [(f, fig.to_dict()) for f, fig in figures_for] == [(sha, figures)]
    # The designs API serves the analysis with the design.
    detail = await node.get(f"/api/v1/designs/{design_id}")
    assert detail.status == 200, detail.body
    assert any(a["file"] == sha for a in detail.json()["analysis"])


async def test_a_model_file_the_analysis_refuses_is_shown_as_failed(node_factory, make_key) -> None:
    node = await node_factory()
    ada = make_key("ada")
    await node.admit(ada.did)
    broken = SWITCH_PLATE.read_bytes()[:-1001]  # ends inside a triangle
    design_id = await publish(node, ada, {"broken.stl": broken}, "Broken plate")

    async def failed() -> list[dict[str, Any]]:
        return [a for a in await analyses(node, design_id) if a["agreement"] == "failed"]

    (analysis,) = await eventually(failed, "the refusal")
    assert "truncated" in analysis["detail"]
    assert analysis["figures"] is None
    size = await node.size()
    types = [envelope_from_leaf(leaf).record.type for leaf in await node.leaves(0, size)]
    assert "design.analysis" not in types


async def follow_and_sync(follower: Any, peer: Any) -> None:
    admin = {"Authorization": f"Bearer {follower.token}"}
    reply = await follower.request(
        "POST", "/api/v1/admin/peers", json={"url": peer.url("")}, headers=admin
    )
    assert reply.status in (200, 201), reply.body
    await sync(follower, peer)


async def sync(follower: Any, peer: Any) -> None:
    admin = {"Authorization": f"Bearer {follower.token}"}
    reply = await follower.request(
        "POST", f"/api/v1/admin/peers/{peer.key.did}/sync", headers=admin
    )
    assert reply.status == 200, reply.body


async def test_a_peer_recomputes_agrees_and_marks_wrong_figures_disputed(
    node_factory, make_key
) -> None:
    origin = await node_factory("Origin Coop")
    follower = await node_factory("Follower Coop")
    ada = make_key("ada")
    await origin.admit(ada.did)
    data = SWITCH_PLATE.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    design_id = await publish(origin, ada, {"plate.stl": data}, "Switch plate")

    async def own_record() -> list[dict[str, Any]]:
        return [a for a in await analyses(origin, design_id) if a["agreement"] == "own"]

    (published,) = await eventually(own_record, "the origin's analysis")
    await follow_and_sync(follower, origin)

    async def agreed() -> list[dict[str, Any]]:
        return [a for a in await analyses(follower, design_id) if a["agreement"] == "agrees"]

    # The follower fetches the file from the origin (node/designblobs.py), then recomputes.
    (checked,) = await eventually(agreed, "the follower's agreement")
    assert checked["log"] == origin.key.did
    assert checked["figures"] == published["figures"]
    assert checked["local_figures"]["triangles"] == published["figures"]["triangles"]

    # The origin now publishes figures that are wrong by 1 mm³.
    wrong = copy.deepcopy(published["figures"])
    wrong["volume_mm3"] = str(Decimal(wrong["volume_mm3"]) + 1)
    body = {
        "design": design_id,
        "file": sha,
        "analyser": published["analyser"],
        "figures": wrong,
        "thumbnail": None,
    }
    await origin.app[LOG].append_own("design.analysis", body, CREATED)
    await sync(follower, origin)

    async def disputed() -> list[dict[str, Any]]:
        return [a for a in await analyses(follower, design_id) if a["agreement"] == "disputed"]

    (dispute,) = await eventually(disputed, "the dispute")
    assert dispute["figures"]["volume_mm3"] == wrong["volume_mm3"]
    assert dispute["local_figures"]["volume_mm3"] == published["figures"]["volume_mm3"]
    assert "volume_mm3" in dispute["detail"]
    # The follower's figures for the design are the ones it agrees with.
    ((file, figures),) = await follower.app[ANALYSIS_STORE].figures_for(design_id)
    assert file == sha
    assert figures.volume_mm3 == published["figures"]["volume_mm3"]
    # The designs API shows both analyses, the dispute with both figures.
    detail = await follower.get(f"/api/v1/designs/{design_id}")
    assert detail.status == 200, detail.body
    states = sorted(a["agreement"] for a in detail.json()["analysis"])
    assert states == ["agrees", "disputed"]
    shown = next(a for a in detail.json()["analysis"] if a["agreement"] == "disputed")
    assert json.dumps(shown["local_figures"], sort_keys=True) == json.dumps(
        published["figures"], sort_keys=True
    )

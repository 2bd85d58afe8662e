"""Designs travel: published at A, found by search at B and C, their files fetched and verified.

specs/04-designs.md §8. A member of A publishes the switch plate (its STL and
BOM uploaded to A). B follows A: it finds the design by search and fetches
the files from A, the origin. C was down meanwhile; when it comes back A is
down, so C reads A's log from B's mirror and fetches the files from B, a
mirror. Every node serves the files under their hash; the hashes are
computed here with hashlib.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from designkit import analysed, check_served, files_available, publish_switch_plate
from fednet import FedNet, FedNode, federate, wait_for

from protocol.keys import AgentKey

pytestmark = pytest.mark.slow


async def found_by_search(node: FedNode, origin: FedNode, design_id: str) -> dict[str, Any] | None:
    page = await node.get_json(f"/api/v1/designs?cooperative={origin.did}&q=gopro")
    for item in page["designs"]:
        if item["id"] == design_id:
            found: dict[str, Any] = item
            return found
    return None


async def thumbnail_served(node: FedNode, url: str) -> bool:
    status, data = await node.request("GET", url)
    return status == 200 and hashlib.sha256(data).hexdigest() == url.rsplit("/", 1)[-1]


async def test_designs_are_found_and_their_files_fetched_from_origin_or_mirror(
    fednet: FedNet,
) -> None:
    a, b, c = fednet.node("A"), fednet.node("B"), fednet.node("C")
    for node in (a, b, c):
        await node.start()
    await federate([a, b, c])
    assert c.stop() == 0
    member = AgentKey.generate()
    await a.admit(member.did)
    design_id, hashes = await publish_switch_plate(a, member)
    assert set(hashes) == {
        "Switch_Plate_GoPro_Compatible.stl",
        "Switch_Plate_GoPro_Compatible_BOM.csv",
    }

    # A analyses its own design (a design.analysis record with a thumbnail).
    at_a = await wait_for(lambda: analysed(a, design_id), "A to analyse its design", timeout_s=60)
    assert at_a["log"] == a.did

    # B follows A: search finds the design, and B fetches its files from A.
    await b.sync(a.did)
    item = await wait_for(lambda: found_by_search(b, a, design_id), "B to find A's design")
    assert item["log"] == a.did
    assert item["license"] == "CC-BY-SA-4.0"
    await wait_for(lambda: files_available(b, design_id), "B to fetch the design's files")
    await check_served(b, hashes)
    # With A's analysis and thumbnail, which B fetched and verified too.
    at_b = await wait_for(lambda: analysed(b, design_id), "B to hold A's analysis")
    assert at_b["figures"] == at_a["figures"]
    assert at_b["record_id"] == at_a["record_id"]
    await wait_for(lambda: thumbnail_served(b, at_a["thumbnail"]), "B to fetch the thumbnail")
    item = await found_by_search(b, a, design_id)
    assert item is not None
    assert item["thumbnail"] == at_a["thumbnail"]
    detail = await b.get_json(f"/api/v1/designs/{design_id}")
    assert detail["attribution"]["text"].startswith(
        '"Switch Plate - GoPro Compatible" by Anna Millbourn, Jake McIvor.'
    )

    # A goes down; C comes back, reads A's log from B's mirror, fetches the files from B.
    assert a.stop() == 0
    await c.start()
    await c.sync(a.did)
    await wait_for(lambda: found_by_search(c, a, design_id), "C to find A's design")
    await wait_for(lambda: files_available(c, design_id), "C to fetch the files from B")
    await check_served(c, hashes)
    await wait_for(lambda: thumbnail_served(c, at_a["thumbnail"]), "C to fetch the thumbnail")

"""POST /api/v1/meshes/analyse: figures for members, a 422 with the reason for bad files.

Expected figures come from trimesh directly (volume, area, triangle count);
hostile files are crafted here. With a tiny time limit the node refuses the
slow file and keeps answering.
"""

from __future__ import annotations

import asyncio
import struct
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
import trimesh

from node.analysis import ANALYSIS_LIMITS, AnalysisLimits
from node.app import create_app
from node.config import load_config
from node.corpus import corpus_dir
from node.httpsig import sign_request_headers
from node.setup import init_node
from protocol.keys import AgentKey

CORPUS = corpus_dir()
SWITCH_PLATE = CORPUS / "designs" / "switch-plate-gopro" / "Switch_Plate_GoPro_Compatible.stl"
CUBE = CORPUS / "meshes" / "unit_cube.STL"
PATH = "/api/v1/meshes/analyse"


def soup(triangles: int) -> bytes:
    rng = np.random.default_rng(3)
    records = np.zeros(triangles, dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")])
    records["v"] = rng.uniform(-50, 50, size=(triangles, 3, 3)).astype(np.float32)
    return b"soup".ljust(80, b" ") + struct.pack("<I", triangles) + records.tobytes()


async def analyse(node: Any, key: AgentKey, data: bytes, query: str) -> Any:
    return await node.signed_post(
        key, f"{PATH}?{query}", data, content_type="application/octet-stream"
    )


async def member_of(node: Any, make_key: Any, name: str = "ada") -> AgentKey:
    key: AgentKey = make_key(name)
    await node.admit(key.did)
    return key


async def test_a_member_gets_the_figures_trimesh_gives(node_factory, make_key) -> None:
    node = await node_factory()
    ada = await member_of(node, make_key)
    data = SWITCH_PLATE.read_bytes()
    reply = await analyse(node, ada, data, "filename=plate.stl&units=mm")
    assert reply.status == 200, reply.body
    figures = reply.json()["figures"]
    mesh = trimesh.load(SWITCH_PLATE)
    assert figures["triangles"] == len(mesh.faces)
    assert abs(Decimal(figures["volume_mm3"]) - Decimal(mesh.volume)) < Decimal("0.001")
    assert abs(Decimal(figures["area_mm2"]) - Decimal(mesh.area)) < Decimal("0.001")
    assert figures["watertight"] is mesh.is_watertight
    assert reply.json()["analyser"] == {"name": "fabcommons", "trimesh": trimesh.__version__}

    inches = await analyse(node, ada, CUBE.read_bytes(), "filename=cube.STL&units=inch")
    assert inches.status == 200, inches.body
    assert inches.json()["figures"]["volume_mm3"] == "16387.064"


BAD_FILES = [
    ("truncated", "part.stl", CUBE.read_bytes()[:-30], "truncated"),
    ("lying header", "part.stl", CUBE.read_bytes()[:80] + struct.pack("<I", 10**7), "limit"),
    ("empty", "part.stl", b"", "empty"),
    ("random bytes", "part.3mf", bytes(range(256)) * 20, "ZIP"),
    ("unknown format", "part.step", b"ISO-10303-21;", "unknown model format"),
]


@pytest.mark.parametrize(
    ("filename", "data", "words"), [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES]
)
async def test_bad_files_are_422_problems_with_the_reason(
    node_factory, make_key, check_problem, filename: str, data: bytes, words: str
) -> None:
    node = await node_factory()
    ada = await member_of(node, make_key)
    reply = await analyse(node, ada, data, f"filename={filename}&units=mm")
    problem = check_problem(reply, 422)
    assert problem["type"].endswith("/mesh-refused")
    assert words in problem["detail"]


@pytest.mark.parametrize("backend", ["sqlite"])  # request checks, storage does not matter
async def test_requests_are_checked(node_factory, make_key, check_problem) -> None:
    node = await node_factory(max_blob_bytes=1000)
    ada = await member_of(node, make_key)
    cube = CUBE.read_bytes()
    check_problem(await analyse(node, ada, cube, "filename=cube.stl"), 400)
    check_problem(await analyse(node, ada, cube, "units=mm"), 400)
    check_problem(await analyse(node, ada, cube, "filename=a/b.stl&units=mm"), 400)
    check_problem(await analyse(node, ada, cube, "filename=cube.stl&units=furlong"), 400)
    stranger = make_key("stranger")
    check_problem(await analyse(node, stranger, cube, "filename=cube.stl&units=mm"), 403)
    unsigned = await node.request("POST", f"{PATH}?filename=cube.stl&units=mm", data=cube)
    check_problem(unsigned, 401)
    # max_blob_bytes bounds what may be analysed too.
    check_problem(await analyse(node, ada, b"x" * 1001, "filename=big.stl&units=mm"), 413)
    assert (await analyse(node, ada, cube, "filename=cube.stl&units=mm")).status == 200


class LimitedNode:
    """A node served in-process whose analysis limits the test sets."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def post(self, key: AgentKey, path: str, data: bytes) -> tuple[int, Any]:
        url = str(self.client.make_url(path))
        headers = sign_request_headers(
            key, "POST", url, data, headers={"Content-Type": "application/octet-stream"}
        )
        async with self.client.post(path, data=data, headers=headers) as response:
            return response.status, await response.json()


async def test_a_slow_file_times_out_and_the_node_keeps_answering(
    aiohttp_client, tmp_path, make_key
) -> None:
    data_dir = tmp_path / "node"
    await asyncio.to_thread(init_node, data_dir, name="Limited Coop")
    config = load_config(data_dir, env={})
    app = create_app(config)
    app[ANALYSIS_LIMITS] = AnalysisLimits(timeout_s=0.5)
    client = await aiohttp_client(app)
    token = config.token_path.read_text().strip()
    ada = make_key("ada")
    async with client.post(
        "/api/v1/admin/members",
        json={"did": ada.did, "role": "member"},
        headers={"Authorization": f"Bearer {token}"},
    ) as response:
        assert response.status == 201
    node = LimitedNode(client)

    status, body = await node.post(ada, f"{PATH}?filename=cube.stl&units=mm", CUBE.read_bytes())
    assert status == 200, body
    slow = node.post(ada, f"{PATH}?filename=soup.stl&units=mm", soup(400_000))
    health = client.get("/healthz")
    (status, body), healthy = await asyncio.gather(slow, health)
    assert status == 422
    assert "longer than the limit of 0.5 s" in body["detail"]
    assert healthy.status == 200  # answered while the worker was busy
    status, body = await node.post(ada, f"{PATH}?filename=cube.stl&units=mm", CUBE.read_bytes())
    assert status == 200, body
    assert body["figures"]["triangles"] == 12

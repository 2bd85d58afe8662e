"""Publishing the corpus's switch plate through a node's API, and checking its files.

Shared by the multi-node design tests (tests/federation/). The hashes are
computed here with hashlib, never by node/.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from fednet import FedNode

from node.client import NodeClient
from node.corpus import corpus_dir
from protocol.keys import AgentKey
from protocol.records import Record, format_time
from protocol.signing import sign
from registry.okh import read_manifest

SWITCH = corpus_dir() / "designs" / "switch-plate-gopro"


async def publish_switch_plate(node: FedNode, member: AgentKey) -> tuple[str, dict[str, str]]:
    names = [p.name for p in SWITCH.iterdir() if p.name != "okh.yml"]
    plan = read_manifest((SWITCH / "okh.yml").read_bytes(), "okh.yml", local_names=names)
    hashes = {}
    async with NodeClient(node.url) as client:
        for name in plan.local_names():
            data = (SWITCH / name).read_bytes()
            await client.post_blob(data, member)
            hashes[name] = (hashlib.sha256(data).hexdigest(), len(data))
        design = plan.to_design(hashes)
        record = Record(
            type="design",
            author=member.did,
            created=format_time(datetime.now(UTC)),
            body=design.to_dict(),
        )
        answer = await client.post_record(sign(record, member), member)
    return answer["id"], {name: sha for name, (sha, _) in hashes.items()}


async def files_available(node: FedNode, design_id: str) -> bool:
    detail = await node.get_json(f"/api/v1/designs/{design_id}")
    return bool(detail["files"]) and all(f["available"] for f in detail["files"])


async def check_served(node: FedNode, hashes: dict[str, str]) -> None:
    for name, sha in hashes.items():
        data = await node.get_bytes(f"/blobs/sha256/{sha}")
        assert hashlib.sha256(data).hexdigest() == sha, (node.label, name)
        assert data == (SWITCH / name).read_bytes()


async def analysed(node: FedNode, design_id: str) -> dict[str, Any] | None:
    """The design's analysis of its STL by A's log, once the node has it."""
    detail = await node.get_json(f"/api/v1/designs/{design_id}")
    for analysis in detail["analysis"]:
        if analysis["figures"] is not None and analysis["thumbnail"]:
            found: dict[str, Any] = analysis
            return found
    return None

"""Every endpoint answers a bad query or path parameter with a 400 problem that names it.

specs/08-node-api.md §5.3: `bad-parameter` carries `parameter`. One case per
way a parameter is read (a required integer, a bounded integer, a record id,
a did, a hash, an enumeration, an unknown name); each must be a 400, never a
500 or a 404 that hides the mistake.
"""

from __future__ import annotations

from typing import Any

import pytest

SQLITE = pytest.mark.parametrize("backend", ["sqlite"])
DID = "did:key:z6MkpBuPiSQ4c3HGkdPJ7c8cY4VSWZERJwiBq2MmBvj86r5R"

CASES = [
    ("/fed/v1/entries?start=x&end=2", "start"),
    ("/fed/v1/entries?start=0", "end"),
    ("/fed/v1/entries?start=0&end=\u00b2", "end"),
    ("/fed/v1/proof/inclusion?index=-1&tree_size=1", "index"),
    ("/fed/v1/records/sha256:XYZ", "id"),
    ("/blobs/sha256/" + "A" * 64, "hex"),
    ("/api/v1/designs?limit=\u00b2", "limit"),
    ("/api/v1/designs?offset=\u0661", "offset"),
    ("/api/v1/proposals?status=maybe", "status"),
    ("/api/v1/proposals?bogus=1", "bogus"),
    ("/api/v1/proposals/sha256:nope", "id"),
    ("/api/v1/offers?limit=0", "limit"),
    ("/api/v1/ledger/distributions?limit=\u00b2", "limit"),
    ("/api/v1/ledger/distributions?offset=1000001", "offset"),
    ("/api/v1/ledger/distributions?job=nope", "job"),
    ("/api/v1/ledger/distributions?zzz=1", "zzz"),
    ("/api/v1/ledger/policies?log=did:key:nope", "log"),
    ("/api/v1/ledger/agents/did:key:nope", "did"),
    (f"/api/v1/workshops/{DID}/shop/okw?flavour=xml", "flavour"),
]


@SQLITE
async def test_bad_parameters_are_named(node_factory: Any, check_problem: Any) -> None:
    node = await node_factory()
    for path, parameter in CASES:
        problem = check_problem(await node.get(path), 400)
        assert problem["type"].endswith("bad-parameter"), (path, problem)
        assert problem["parameter"] == parameter, (path, problem)

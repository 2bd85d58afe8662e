"""Admitting members (operator token) and appending records (POST /api/v1/records)."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
import rfc8785

from protocol.checkpoint import NoteVerifier, open_checkpoint

# Input validation, answered before storage matters: SQLite alone is enough.
INPUT_ONLY = pytest.mark.parametrize("backend", ["sqlite"])


def _open(node, note: bytes):
    return open_checkpoint(note, NoteVerifier(node.config.origin, node.key.public_key)).checkpoint


# (id, Authorization header) that must get 401.
BAD_AUTHORIZATION = [
    ("missing", None),
    ("empty", ""),
    ("no-token", "Bearer"),
    ("wrong-token", "Bearer wrong-token-wrong-token-wrong-token"),
    ("wrong-scheme", "Basic {token}"),
    ("no-scheme", "{token}"),
    ("token-prefix", "Bearer {token_prefix}"),
]
# (id, body, status) with the right token; "{ada}" stands for a valid did.
BAD_ADMISSIONS = [
    ("not-a-key", {"did": "did:key:z6MkNotAKey"}, 422),
    ("not-did-key", {"did": "did:web:example.org"}, 422),
    ("did-not-a-string", {"did": 42}, 422),
    ("unknown-role", {"did": "{ada}", "role": "king"}, 422),
    ("role-is-a-list", {"did": "{ada}", "role": ["member"]}, 422),
    ("role-is-an-object", {"did": "{ada}", "role": {"member": True}}, 422),
    ("unknown-field", {"did": "{ada}", "colour": "red"}, 400),
    ("no-did", {"role": "member"}, 400),
    ("not-an-object", ["{ada}"], 400),
]


def _fill(value, ada: str):
    if isinstance(value, str):
        return value.format(ada=ada)
    if isinstance(value, list):
        return [_fill(v, ada) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, ada) for k, v in value.items()}
    return value


@INPUT_ONLY
async def test_admission_refusals(node_factory, make_key, check_problem, subtests):
    node = await node_factory()
    ada = make_key("ada").did
    for case, authorization in BAD_AUTHORIZATION:
        with subtests.test(case):
            headers = {}
            if authorization is not None:
                text = authorization.format(token=node.token, token_prefix=node.token[:-1])
                headers = {"Authorization": text}
            reply = await node.request(
                "POST", "/api/v1/admin/members", json={"did": ada}, headers=headers
            )
            check_problem(reply, 401)
            assert await node.size() == 0
    for case, body, status in BAD_ADMISSIONS:
        with subtests.test(case):
            reply = await node.request(
                "POST",
                "/api/v1/admin/members",
                json=_fill(body, ada),
                headers={"Authorization": f"Bearer {node.token}"},
            )
            check_problem(reply, status)
            assert await node.size() == 0


async def test_admit_twice_and_admit_the_node_are_refused(node_factory, make_key, check_problem):
    node = await node_factory()
    ada = make_key("ada").did
    first = await node.admit(ada)
    assert first["index"] == 0
    headers = {"Authorization": f"Bearer {node.token}"}
    again = await node.request("POST", "/api/v1/admin/members", json={"did": ada}, headers=headers)
    check_problem(again, 403)
    itself = await node.request(
        "POST", "/api/v1/admin/members", json={"did": node.key.did}, headers=headers
    )
    check_problem(itself, 403)
    assert await node.size() == 1
    members = (await node.get("/api/v1/members")).json()
    assert members == {"members": [{"did": ada, "role": "member", "key": ada}], "log_size": 1}


async def test_append_then_same_envelope_again(node_factory, make_key, make_envelope):
    node = await node_factory()
    ada = make_key("ada")
    admitted = await node.admit(ada.did, role="operator")
    assert admitted["index"] == 0
    before = _open(node, await node.checkpoint())
    assert before.size == 1

    envelope = make_envelope(ada, body={"display_name": "Ada", "contact": "ada@example.org"})
    expected_id = "sha256:" + hashlib.sha256(rfc8785.dumps(envelope.record.to_dict())).hexdigest()
    first = await node.post_envelope(envelope, ada)
    assert first.status == 201, first.body
    assert first.json() == {"id": expected_id, "index": 1}
    after = _open(node, await node.checkpoint())
    assert after.size == 2
    assert await node.size() == 2

    again = await node.post_envelope(envelope, ada)
    assert again.status == 200, again.body
    assert again.json() == {"id": expected_id, "index": 1}
    assert _open(node, await node.checkpoint()) == after
    assert await node.size() == 2

    # The stored leaf is exactly JCS(envelope).
    assert await node.leaves(1, 2) == [rfc8785.dumps(envelope.to_dict())]


async def test_same_envelope_concurrently_is_appended_once(node_factory, make_key, make_envelope):
    node = await node_factory()
    ada = make_key("ada")
    await node.admit(ada.did)
    envelope = make_envelope(ada, body={"display_name": "Ada twice"})
    replies = await asyncio.gather(*(node.post_envelope(envelope, ada) for _ in range(8)))
    assert sorted(r.status for r in replies) == [200] * 7 + [201]
    assert {r.json()["index"] for r in replies} == {1}
    assert await node.size() == 2

"""No 500 from input: random query strings, headers and bodies always get an answer < 500.

Hypothesis runs in a worker thread and hands each request to the test's event
loop, so one node serves every example of a test.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yarl import URL

from node.client import NodeClient
from node.verifylog import verify_remote_log

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
READ_PATHS = [
    "/fed/v1/entries",
    "/fed/v1/proof/inclusion",
    "/fed/v1/proof/consistency",
    "/fed/v1/records/x",
    "/fed/v1/checkpoint",
]
PARAM_NAMES = ["start", "end", "index", "tree_size", "from", "to"]

numbers = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.integers(0, 60).map(str),
    st.text(max_size=25),
    st.sampled_from(["", "0", "-0", "+1", "1e3", "0x10", " 1", "1 ", "١", "9" * 19, "NaN"]),
)
params = st.dictionaries(
    st.one_of(st.sampled_from(PARAM_NAMES), st.text(max_size=6)), numbers, max_size=4
)

# Query strings are validated before storage matters: SQLite alone is enough.
INPUT_ONLY = pytest.mark.parametrize("backend", ["sqlite"])


async def _node_with_entries(node_factory, make_key, make_envelope):
    node = await node_factory()
    ada = make_key("ada")
    await node.admit(ada.did)
    for n in range(4):
        assert (
            await node.post_envelope(make_envelope(ada, body={"display_name": f"{n}"}), ada)
        ).status == 201
    return node, ada


def _run(loop, coro):
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=60)


@INPUT_ONLY
async def test_random_query_strings_never_500(node_factory, make_key, make_envelope):
    node, _ = await _node_with_entries(node_factory, make_key, make_envelope)
    loop = asyncio.get_running_loop()

    @SETTINGS
    @given(path=st.sampled_from(READ_PATHS), query=params, raw=st.binary(max_size=40))
    def check(path, query, raw):
        reply = _run(loop, node.get(path, params=query))
        assert reply.status < 500, (path, query, reply.body[:300])
        # The same path with arbitrary percent-encoded bytes as its query string.
        encoded = urllib.parse.quote_from_bytes(raw, safe=b"=&")
        reply = _run(loop, node.get(URL(f"{path}?{encoded}", encoded=True)))
        assert reply.status < 500, (path, encoded, reply.body[:300])

    await asyncio.to_thread(check)


def _json(integers):
    return st.recursive(
        st.none() | st.booleans() | integers | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=12,
    )


json_values = _json(st.integers(-(2**60), 2**60))
# Values a record may carry (RFC 8785 profile: integers within ±(2^53−1)).
profile_values = _json(st.integers(-(2**53) + 1, 2**53 - 1))


def _envelope_like(ada_did: str):
    record = st.fixed_dictionaries(
        {},
        optional={
            "v": st.one_of(st.just(1), json_values),
            "type": st.one_of(
                st.sampled_from(["member.profile", "key.rotate", "member.admit", "member.leave"]),
                json_values,
            ),
            "author": st.one_of(st.just(ada_did), json_values),
            "created": st.one_of(st.just("2025-01-01T00:00:00Z"), json_values),
            "body": json_values,
        },
    )
    return st.fixed_dictionaries(
        {},
        optional={
            "record": st.one_of(record, json_values),
            "sig": st.one_of(st.just("A" * 86), json_values),
        },
    )


async def test_random_bodies_never_500(node_factory, make_key, make_envelope):
    node, ada = await _node_with_entries(node_factory, make_key, make_envelope)
    loop = asyncio.get_running_loop()

    @SETTINGS
    @given(
        path=st.sampled_from(
            ["/api/v1/records", "/api/v1/admin/members", "/api/v1/blobs", "/fed/v1/inbox"]
        ),
        body=st.one_of(
            st.binary(max_size=300),
            json_values.map(lambda v: json.dumps(v).encode()),
            _envelope_like(ada.did).map(lambda v: json.dumps(v).encode()),
            st.fixed_dictionaries({"did": json_values, "role": json_values}).map(
                lambda v: json.dumps(v).encode()
            ),
        ),
        auth=st.sampled_from(["none", "token", "wrong-token", "signed"]),
        junk_headers=st.dictionaries(
            st.sampled_from(["Signature-Input", "Signature", "Content-Digest", "Content-Type"]),
            st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60),
            max_size=2,
        ),
    )
    def check(path, body, auth, junk_headers):
        if auth == "signed":
            headers = node.sign_headers(ada, path, body)
        elif auth == "token":
            headers = {"Authorization": f"Bearer {node.token}"}
        elif auth == "wrong-token":
            headers = {"Authorization": "Bearer " + "x" * 43}
        else:
            headers = {}
        headers.update(junk_headers)
        reply = _run(loop, node.request("POST", path, data=body, headers=headers))
        assert reply.status < 500, (path, auth, body[:200], junk_headers, reply.body[:300])

    await asyncio.to_thread(check)


async def test_signed_envelopes_of_every_type_never_500(node_factory, make_key, make_envelope):
    node, ada = await _node_with_entries(node_factory, make_key, make_envelope)
    loop = asyncio.get_running_loop()

    @SETTINGS
    @given(
        type_=st.sampled_from(
            ["member.profile", "member.leave", "member.admit", "key.rotate", "node.profile"]
        ),
        body=st.dictionaries(
            st.sampled_from(
                [
                    "display_name",
                    "contact",
                    "member",
                    "role",
                    "reason",
                    "result",
                    "identity",
                    "new_key",
                    "new_key_sig",
                    "name",
                    "origin",
                    "url",
                ]
            ),
            st.one_of(profile_values, st.just(ada.did), st.just(node.key.did)),
            max_size=4,
        ),
    )
    def check(type_, body):
        envelope = make_envelope(ada, type_, body)
        reply = _run(loop, node.post_envelope(envelope, ada))
        assert reply.status < 500, (type_, body, reply.body[:300])
        assert reply.status in (200, 201, 403, 422), (type_, body, reply.status)

    await asyncio.to_thread(check)
    # Whatever was accepted, the log still verifies entry by entry.
    async with NodeClient(node.url("/")) as client:
        verified = await verify_remote_log(client)
    assert verified.size == await node.size()

"""Several node workers sharing one PostgreSQL database (DESIGN.md §7).

Two apps serve the same data directory and database, as two worker processes
behind a load balancer would. These tests exist only when
FABCOMMONS_TEST_PG_URL is set: a SQLite node is one process.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from node.client import NodeClient
from node.verifylog import verify_remote_log

if os.environ.get("FABCOMMONS_TEST_PG_URL"):
    POSTGRES_ONLY = pytest.mark.parametrize("backend", ["postgres"])

    @POSTGRES_ONLY
    async def test_two_workers_append_one_linear_log(node_factory, make_key, make_envelope):
        first = await node_factory()
        second = await first.twin()
        ada, grace = make_key("ada"), make_key("grace")
        await first.admit(ada.did)
        await second.admit(grace.did)
        posts = [
            worker.post_envelope(make_envelope(key, body={"display_name": f"{n}"}), key)
            for n in range(24)
            for worker, key in ((first, ada), (second, grace))
        ]
        replies = await asyncio.gather(*posts)
        assert [r.status for r in replies] == [201] * 48
        assert sorted(r.json()["index"] for r in replies) == list(range(2, 50))
        assert await first.checkpoint() == await second.checkpoint()
        for worker in (first, second):
            async with NodeClient(worker.url("/")) as client:
                verified = await verify_remote_log(client)
            assert verified.size == 50
            assert verified.members == 2

    @POSTGRES_ONLY
    async def test_a_member_admitted_by_one_worker_may_upload_to_the_other(node_factory, make_key):
        first = await node_factory()
        second = await first.twin()
        ada = make_key("ada")
        await first.admit(ada.did)
        body = b"uploaded through the second worker"
        headers = second.sign_headers(ada, "/api/v1/blobs", body, content_type="text/plain")
        reply = await second.request("POST", "/api/v1/blobs", data=body, headers=headers)
        assert reply.status == 201, reply.body

    @POSTGRES_ONLY
    async def test_a_request_replayed_to_the_other_worker_is_refused(
        node_factory, make_key, check_problem
    ):
        first = await node_factory()
        second = await first.twin()
        ada = make_key("ada")
        await first.admit(ada.did)
        # Behind a load balancer both workers see the same Host, which the
        # signature covers (@target-uri); send the second worker the first's.
        host = {"Host": f"{first.client.host}:{first.client.port}"}
        body = b"one file"
        headers = first.sign_headers(ada, "/api/v1/blobs", body, content_type="text/plain")
        assert (
            await first.request("POST", "/api/v1/blobs", data=body, headers=headers)
        ).status == 201
        replay = await second.request("POST", "/api/v1/blobs", data=body, headers=headers | host)
        check_problem(replay, 401)
        # The same request signed afresh is accepted by the second worker.
        fresh = first.sign_headers(ada, "/api/v1/blobs", body, content_type="text/plain")
        reply = await second.request("POST", "/api/v1/blobs", data=body, headers=fresh | host)
        assert reply.status == 201, reply.body

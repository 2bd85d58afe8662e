"""Fixtures of the node tests: fresh in-process nodes on SQLite and PostgreSQL.

A node is created with `node.setup.init_node` in a temporary directory and
served in-process with `aiohttp_client(create_app(config))`. Every test that
uses `node_factory` runs once per backend: SQLite always, PostgreSQL only when
FABCOMMONS_TEST_PG_URL is set (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test);
without it the postgres parameter is not generated at all. On PostgreSQL each
test gets its own new databases (CREATE DATABASE fabtest_<random>, from a
template migrated once per pytest process, with synchronous_commit off), dropped
WITH (FORCE) after the test, so tests run in parallel under pytest-xdist.
Keys are made from seed = SHA-256(name). Fixtures return factories.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Awaitable, Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from aiohttp.web import Application
from multidict import CIMultiDictProxy
from sqlalchemy.engine import make_url

from node.app import create_app
from node.appkeys import STORE
from node.config import NodeConfig, load_config
from node.httpsig import sign_request_headers
from node.setup import NodeIdentity, init_node
from node.store.database import migrate_sync
from protocol.keys import AgentKey, load_key
from protocol.records import Envelope, Record
from protocol.signing import leaf_bytes, sign

PG_URL = os.environ.get("FABCOMMONS_TEST_PG_URL", "")
# The postgres parameter exists only when a server is configured: no skips.
BACKENDS = ["sqlite", "postgres"] if PG_URL else ["sqlite"]
CREATED = "2025-03-04T05:06:07Z"

KeyFactory = Callable[[str], AgentKey]
EnvelopeFactory = Callable[..., Envelope]


@dataclass(frozen=True, slots=True)
class Reply:
    """A fully read HTTP response."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def assert_problem(reply: Reply, status: int) -> dict[str, Any]:
    """Check that reply is an RFC 9457 problem with this status; return its body."""
    assert reply.status == status, (reply.status, reply.body[:500])
    assert reply.headers["Content-Type"].split(";")[0].strip() == "application/problem+json"
    problem = reply.json()
    assert {"type", "title", "status", "detail"} <= problem.keys(), problem
    assert problem["status"] == status
    assert isinstance(problem["type"], str)
    assert problem["type"]
    assert isinstance(problem["title"], str)
    assert problem["title"]
    assert isinstance(problem["detail"], str)
    return problem


@dataclass
class RunningNode:
    """One node served in-process, with what a test needs to talk to it."""

    client: TestClient[Any, Any]
    data_dir: Path
    config: NodeConfig
    token: str
    key: AgentKey
    identity: NodeIdentity
    reopen: Callable[..., Awaitable[RunningNode]] = field(repr=False)
    twin: Callable[..., Awaitable[RunningNode]] = field(repr=False)

    @property
    def app(self) -> Application:
        return self.client.server.app  # type: ignore[return-value]

    @property
    def store(self) -> Any:
        return self.app[STORE]

    def url(self, path: str) -> str:
        return str(self.client.make_url(path))

    async def request(self, method: str, path: Any, **kwargs: Any) -> Reply:
        async with self.client.request(method, path, **kwargs) as response:
            body = await response.read()
            return Reply(response.status, response.headers, body)

    async def get(self, path: Any, **kwargs: Any) -> Reply:
        return await self.request("GET", path, **kwargs)

    async def size(self) -> int:
        reply = await self.get("/healthz")
        assert reply.status == 200
        size: int = reply.json()["log_size"]
        return size

    async def checkpoint(self) -> bytes:
        reply = await self.get("/fed/v1/checkpoint")
        assert reply.status == 200
        return reply.body

    async def state(self) -> tuple[int, bytes, list[bytes]]:
        """Size, checkpoint note and every leaf: what a refusal must not change."""
        size = await self.size()
        return size, await self.checkpoint(), await self.leaves(0, size)

    async def leaves(self, start: int, end: int) -> list[bytes]:
        """Leaves [start, end), paging as the node allows."""
        out: list[bytes] = []
        while start + len(out) < end:
            reply = await self.get(
                "/fed/v1/entries", params={"start": str(start + len(out)), "end": str(end)}
            )
            assert reply.status == 200, reply.body
            lines = reply.body.split(b"\n")
            assert lines[-1] == b""
            assert len(lines) > 1
            out.extend(lines[:-1])
        return out

    async def admit(self, did: str, role: str = "member") -> dict[str, Any]:
        reply = await self.request(
            "POST",
            "/api/v1/admin/members",
            json={"did": did, "role": role},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        assert reply.status == 201, reply.body
        result: dict[str, Any] = reply.json()
        return result

    def sign_headers(
        self,
        key: AgentKey,
        path: str,
        body: bytes,
        *,
        content_type: str = "application/json",
        now: float | None = None,
    ) -> dict[str, str]:
        return sign_request_headers(
            key, "POST", self.url(path), body, headers={"Content-Type": content_type}, now=now
        )

    async def signed_post(
        self,
        key: AgentKey,
        path: str,
        body: bytes,
        *,
        content_type: str = "application/json",
        now: float | None = None,
    ) -> Reply:
        headers = self.sign_headers(key, path, body, content_type=content_type, now=now)
        return await self.request("POST", path, data=body, headers=headers)

    async def post_envelope(self, envelope: Envelope, key: AgentKey) -> Reply:
        """POST /api/v1/records with the envelope's leaf bytes, the request signed by key."""
        return await self.signed_post(key, "/api/v1/records", leaf_bytes(envelope))


@pytest.fixture(scope="session")
def check_problem() -> Callable[[Reply, int], dict[str, Any]]:
    """`check_problem(reply, status)`: assert an RFC 9457 problem with that status; its body."""
    return assert_problem


@pytest.fixture(scope="session")
def make_key() -> KeyFactory:
    """`make_key(name)`: the AgentKey whose seed is SHA-256(name)."""

    def make(name: str) -> AgentKey:
        return AgentKey.from_seed(hashlib.sha256(name.encode("utf-8")).digest())

    return make


@pytest.fixture(scope="session")
def make_envelope() -> EnvelopeFactory:
    """`make_envelope(key, type="member.profile", body=None, created=CREATED)`: signed by key."""

    def make(
        key: AgentKey,
        type_: str = "member.profile",
        body: Mapping[str, Any] | None = None,
        created: str = CREATED,
    ) -> Envelope:
        record = Record(
            type=type_,
            author=key.did,
            created=created,
            body=dict(body) if body is not None else {"display_name": "Ada"},
        )
        return sign(record, key)

    return make


def pytest_report_header() -> str:
    if PG_URL:
        return "node storage backends: sqlite, postgres (FABCOMMONS_TEST_PG_URL)"
    return "node storage backends: sqlite (set FABCOMMONS_TEST_PG_URL to add postgres)"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The storage backend a node test runs on."""
    name: str = request.param
    return name


def _pg_url(database: str, *, driver: str | None = None) -> str:
    url = make_url(PG_URL).set(database=database)
    if driver is not None:
        url = url.set(drivername=driver)
    return url.render_as_string(hide_password=False)


async def _pg_execute(*statements: str) -> None:
    conn = await asyncpg.connect(_pg_url("postgres", driver="postgresql"))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


class PostgresDatabases:
    """Fresh databases on the FABCOMMONS_TEST_PG_URL server, one pytest process's worth.

    Each is created from a template this process migrated once, so a test
    starts from the node's schema without re-running Alembic's DDL. Dropping
    (WITH (FORCE)) runs on background threads while the next tests run; the
    session waits for every drop before it ends.
    """

    def __init__(self) -> None:
        self.template = f"fabtest_tmpl_{secrets.token_hex(6)}"
        self._dropper = ThreadPoolExecutor(max_workers=4, thread_name_prefix="fabtest-drop")
        self._drops: list[Future[None]] = []
        asyncio.run(_pg_execute(f'CREATE DATABASE "{self.template}"'))
        migrate_sync(_pg_url(self.template))

    async def create(self, *, migrated: bool) -> str:
        """A new database: with the node's schema already, or empty (from template1)."""
        name = f"fabtest_{secrets.token_hex(8)}"
        template = f' TEMPLATE "{self.template}"' if migrated else ""
        # No test here is about surviving a crash: commits need not wait for
        # the WAL to reach the disk, which on a busy machine is most of a test.
        await _pg_execute(
            f'CREATE DATABASE "{name}"{template}',
            f'ALTER DATABASE "{name}" SET synchronous_commit = off',
        )
        return _pg_url(name)

    def drop_later(self, url: str) -> None:
        statement = f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'
        self._drops.append(self._dropper.submit(asyncio.run, _pg_execute(statement)))

    def close(self) -> None:
        try:
            for drop in self._drops:
                drop.result()
        finally:
            self._dropper.shutdown()
            asyncio.run(_pg_execute(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases | None]:
    """The session's PostgreSQL database maker, or None when no server is configured."""
    if not PG_URL:
        yield None
        return
    databases = PostgresDatabases()
    try:
        yield databases
    finally:
        databases.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database file migrated once per pytest process, copied into new nodes."""
    path = tmp_path_factory.mktemp("sqlite-template") / "node.db"
    migrate_sync(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def make_database_url(
    backend: str, postgres_databases: PostgresDatabases | None
) -> Iterator[Callable[..., Awaitable[str | None]]]:
    """`await make_database_url(migrated=True)`: None for SQLite, else a new PostgreSQL database."""
    created: list[str] = []

    async def make(*, migrated: bool = True) -> str | None:
        if backend == "sqlite":
            return None
        assert postgres_databases is not None
        url = await postgres_databases.create(migrated=migrated)
        created.append(url)
        return url

    yield make
    for url in created:
        assert postgres_databases is not None
        postgres_databases.drop_later(url)


NodeFactory = Callable[..., Awaitable[RunningNode]]


@pytest.fixture
async def node_factory(
    make_database_url: Callable[..., Awaitable[str | None]],
    sqlite_template: Path,
    aiohttp_client: Any,
    tmp_path: Path,
) -> NodeFactory:
    """`await node_factory(name="Test Coop", fresh=False, **settings)`: a new in-process node.

    The node's database starts with the schema a once-per-process migration
    made (a copied SQLite file, a PostgreSQL template), so init_node's own
    migration finds nothing to do; with fresh=True it starts empty and
    init_node migrates it. settings override config.yaml (e.g.
    max_blob_bytes=1024). The node's `reopen(**settings)` closes its app and
    serves a new one on the same data directory, database and port;
    `twin(**settings)` serves a second app on them beside the first, as a
    second worker process would.
    """
    counter = iter(range(1000))

    async def open_node(
        data_dir: Path, identity: NodeIdentity, port: int | None = None, **settings: Any
    ) -> RunningNode:
        config = load_config(data_dir, env={}, **settings)
        server_kwargs = {} if port is None else {"port": port}
        client = await aiohttp_client(create_app(config), server_kwargs=server_kwargs)
        token = config.token_path.read_text(encoding="ascii").strip()
        node_key = load_key(config.key_path)

        async def reopen(**new_settings: Any) -> RunningNode:
            # Same port: the node's URL, which signed requests cover, is unchanged.
            port = client.port
            await client.close()
            return await open_node(data_dir, identity, port, **new_settings)

        async def twin(**new_settings: Any) -> RunningNode:
            return await open_node(data_dir, identity, **new_settings)

        return RunningNode(
            client=client,
            data_dir=data_dir,
            config=config,
            token=token,
            key=node_key,
            identity=identity,
            reopen=reopen,
            twin=twin,
        )

    async def make(name: str = "Test Coop", *, fresh: bool = False, **settings: Any) -> RunningNode:
        data_dir = tmp_path / f"node{next(counter)}"
        url = await make_database_url(migrated=not fresh)
        if url is None and not fresh:
            data_dir.mkdir()
            shutil.copyfile(sqlite_template, data_dir / "node.db")
        # init_node migrates with Alembic, which runs its own event loop: not on ours.
        identity = await asyncio.to_thread(init_node, data_dir, name=name, database_url=url)
        return await open_node(data_dir, identity, **settings)

    return make

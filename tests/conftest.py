"""Fixtures shared by every test directory: real `fabcommons serve` processes on 127.0.0.1.

`nodes` (tests/support/fabnodes.py) runs `fabcommons init` / `serve` with
independent checks of what they serve; `pg_database` makes fresh PostgreSQL
databases (`fabtest_<random>`, dropped after the test) from
FABCOMMONS_TEST_PG_URL. `fednet` is a factory of nodes (`fednet.node("A", sync_batch=500)` runs
`fabcommons init` and appends the settings to config.yaml; `await node.start()`
runs serve in its own process group). Each test has its own temporary
directory and free ports, so tests run in parallel under pytest-xdist. At
teardown every serve gets SIGTERM, then SIGKILL after 10 s; when a test
failed, the tail of each serve log is printed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import secrets
import sys
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

# Shared helpers live in tests/support; under --import-mode=importlib pytest
# does not put test directories on sys.path, so do it here, before importing them.
sys.path.insert(0, str(Path(__file__).resolve().parent / "support"))

from fabnodes import Nodes
from fednet import FedNet

PG_ENV = "FABCOMMONS_TEST_PG_URL"
_PG_TIMEOUT_S = 30.0

_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    # Keep each phase's report on the item, so that the fixture can tell a failed test.
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


def _test_failed(request: pytest.FixtureRequest) -> bool:
    reports = request.node.stash.get(_REPORTS, {})
    return any(r.failed for r in reports.values())


@pytest.fixture
def fednet(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[FedNet]:
    net = FedNet(tmp_path)
    try:
        yield net
    finally:
        net.stop_all()
        if _test_failed(request):
            for node in net.nodes:
                if node.log_path.exists():
                    print(f"\n--- serve log of {node.label} (tail) ---\n{node.log_tail(80)}")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: starts real node processes (seconds); deselect with -m 'not slow'"
    )


def _run_pg(coro_factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
    # asyncpg runs in a thread with its own event loop, away from the test's loop.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coro_factory()).result(timeout=_PG_TIMEOUT_S)


@pytest.fixture
def pg_database() -> Iterator[Callable[[], str]]:
    """A factory of fresh PostgreSQL databases (SQLAlchemy URLs); each is dropped after.

    Calling it skips the test when FABCOMMONS_TEST_PG_URL is not set.
    """
    import asyncpg  # type: ignore[import-untyped]

    created: list[str] = []
    base_url = os.environ.get(PG_ENV)

    def admin_dsn() -> str:
        assert base_url is not None
        url = make_url(base_url).set(drivername="postgresql", database="postgres")
        return url.render_as_string(hide_password=False)

    def create() -> str:
        if not base_url:
            pytest.skip(f"needs {PG_ENV}")
        name = f"fabtest_{secrets.token_hex(6)}"

        async def make() -> None:
            conn = await asyncpg.connect(admin_dsn(), timeout=_PG_TIMEOUT_S)
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        _run_pg(make)
        created.append(name)
        return make_url(base_url).set(database=name).render_as_string(hide_password=False)

    yield create

    async def drop_all() -> None:
        conn = await asyncpg.connect(admin_dsn(), timeout=_PG_TIMEOUT_S)
        try:
            for name in created:
                await conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = $1 AND pid <> pg_backend_pid()",
                    name,
                )
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        finally:
            await conn.close()

    if created:
        _run_pg(drop_all)


@pytest.fixture
def nodes(
    tmp_path: Path, request: pytest.FixtureRequest, pg_database: Callable[[], str]
) -> Iterator[Nodes]:
    """The node factory. It depends on pg_database so that servers stop before drops."""
    factory = Nodes(tmp_path)
    try:
        yield factory
    finally:
        factory.stop_all()
        if _test_failed(request):
            for server in factory.servers:
                print(f"\n--- {server.log_path.name} (tail) ---\n{server.log_tail(60)}")

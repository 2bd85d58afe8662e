"""Fixtures of the integration tests: real `fabcommons init` / `serve` processes on 127.0.0.1.

Each test gets its own temporary data directories, its own free ports and,
for PostgreSQL, its own fresh database (`fabtest_<random>`, dropped after the
test), so the tests run in parallel under pytest-xdist. Every wait is bounded;
when a test fails, the tail of each serve process's log is printed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import secrets
import sys
from collections.abc import Callable, Coroutine, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

# The test modules import fabnodes.py beside this file; --import-mode=importlib
# does not put test directories on sys.path, so do it here, before they load.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fabnodes import Nodes

PG_ENV = "FABCOMMONS_TEST_PG_URL"
_PG_TIMEOUT_S = 30.0


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: starts real node processes (seconds); deselect with -m 'not slow'"
    )


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # Keep each phase's report on the item so fixtures can tell a failed test.
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def _test_failed(request: pytest.FixtureRequest) -> bool:
    return any(
        getattr(getattr(request.node, f"report_{when}", None), "failed", False)
        for when in ("setup", "call")
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

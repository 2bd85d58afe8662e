"""Fixtures shared by every test directory: real `fabcommons serve` processes on 127.0.0.1.

`fednet` is a factory of nodes (`fednet.node("A", sync_batch=500)` runs
`fabcommons init` and appends the settings to config.yaml; `await node.start()`
runs serve in its own process group). Each test has its own temporary
directory and free ports, so tests run in parallel under pytest-xdist. At
teardown every serve gets SIGTERM, then SIGKILL after 10 s; when a test
failed, the tail of each serve log is printed.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# Shared helpers live in tests/support; under --import-mode=importlib pytest
# does not put test directories on sys.path, so do it here, before importing them.
sys.path.insert(0, str(Path(__file__).resolve().parent / "support"))

from fednet import FedNet

_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    # Keep each phase's report on the item, so that the fixture can tell a failed test.
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


@pytest.fixture
def fednet(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[FedNet]:
    net = FedNet(tmp_path)
    try:
        yield net
    finally:
        net.stop_all()
        reports = request.node.stash.get(_REPORTS, {})
        if any(r.failed for r in reports.values()):
            for node in net.nodes:
                if node.log_path.exists():
                    print(f"\n--- serve log of {node.label} (tail) ---\n{node.log_tail(80)}")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: starts real node processes (seconds); deselect with -m 'not slow'"
    )

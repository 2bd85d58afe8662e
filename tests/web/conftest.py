"""Fixtures of the web UI tests: a real node process, Debian's Chromium driven by Playwright.

The node is a real `fabcommons serve` (the `fednet` fixture); Chromium is
/usr/bin/chromium, headless, through Playwright's `executable_path` (no
browser download). Every page's network traffic is recorded so that a test
can check it against the node's OpenAPI document. Screenshots go to
$FABCOMMONS_TEST_ARTIFACTS/<test name>/ when that is set, else to the test's
tmp_path.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from fednet import FedNet, FedNode
from playwright.sync_api import Browser, Request, sync_playwright
from webui import UI, Sent, run_async

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
_VENDOR = ROOT / "node" / "web" / "static" / "vendor"
VENDORED = (
    _VENDOR / "three" / "build" / "three.module.js",
    _VENDOR / "js-yaml" / "js-yaml.mjs",
    _VENDOR / "smol-toml" / "index.js",
)
# As root in a container Chromium needs --no-sandbox; the machine has no
# network beyond loopback, so Chromium's own background traffic is turned off.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--enable-unsafe-swiftshader",
]
T = TypeVar("T")


@pytest.fixture(scope="session", autouse=True)
def vendored() -> Path:
    """The browser libraries `make vendor` copies from the npm registry (run here if missing)."""
    if not all(path.exists() for path in VENDORED):
        subprocess.run(["make", "-s", "vendor"], cwd=ROOT, check=True, timeout=300)
    missing = [str(path) for path in VENDORED if not path.exists()]
    assert missing == [], f"make vendor did not produce {missing}"
    return VENDORED[0].parent


@pytest.fixture
def browser() -> Iterator[Browser]:
    # One per test, not per session: Playwright's sync API keeps an event loop
    # running on this thread while it is open, which the asyncio tests that
    # pytest-xdist may run next in this process cannot share.
    assert Path(CHROMIUM).exists(), "Debian's chromium is needed: apt-get install chromium"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def artifacts(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """Where this test's screenshots go."""
    base = os.environ.get("FABCOMMONS_TEST_ARTIFACTS")
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    path = Path(base) / name if base else tmp_path / "artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def web_node(fednet: FedNet) -> FedNode:
    node = fednet.node("web")
    run_async(node.start())
    return node


@pytest.fixture
def make_ui(browser: Browser, artifacts: Path) -> Iterator[Callable[..., UI]]:
    """`make_ui(node, viewport=None)`: a fresh browser context (own IndexedDB) on node."""
    contexts = []

    def make(node: FedNode, viewport: dict[str, int] | None = None) -> UI:
        context = browser.new_context(
            viewport=viewport or {"width": 1280, "height": 900}, accept_downloads=True
        )
        contexts.append(context)
        context.set_default_timeout(20_000)
        page = context.new_page()
        ui = UI(page=page, node=node, artifacts=artifacts)

        def record(request: Request) -> None:
            ui.traffic.append(
                Sent(
                    method=request.method,
                    url=request.url,
                    headers=request.headers,
                    body=request.post_data_buffer or b"",
                )
            )

        # On the context: pages a test opens beside the first one are recorded too.
        context.on("request", record)
        page.on("console", lambda message: ui.console.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: ui.console.append(f"pageerror: {error}"))
        return ui

    yield make
    for context in contexts:
        context.close()

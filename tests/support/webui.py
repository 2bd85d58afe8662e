"""Helpers of the web UI tests (tests/web): a page on a node, its traffic, and checks of it.

(tests/conftest.py puts tests/support on sys.path; the name is distinctive so
that it clashes with nothing.)
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import urllib.request
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from fednet import FedNode
from playwright.sync_api import Page

T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine of the fednet helpers on a thread of its own.

    Playwright's sync API keeps its own event loop on the test's thread.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


@dataclass
class Sent:
    """One request the page made."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass
class UI:
    """A browser page on a node, with its recorded traffic and screenshot helper."""

    page: Page
    node: FedNode
    artifacts: Path
    traffic: list[Sent] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    shots: list[Path] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.node.url + path

    def goto(self, path: str) -> None:
        self.page.goto(self.url(path))

    def shot(self, name: str) -> Path:
        """Save a screenshot of the page, after checking its basic accessibility."""
        check_accessibility(self.page)
        path = self.artifacts / f"{len(self.shots):02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.shots.append(path)
        return path

    def admin(self, method: str, path: str, body: Any) -> Any:
        """An operator request with the node's bearer token (the test plays the operator)."""
        request = urllib.request.Request(
            self.url(path),
            data=json.dumps(body).encode(),
            method=method,
            headers={
                "Authorization": f"Bearer {self.node.token}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def admit(self, did: str) -> Any:
        return self.admin("POST", "/api/v1/admin/members", {"did": did})

    def get_json(self, path: str) -> Any:
        with urllib.request.urlopen(self.url(path), timeout=30) as response:
            return json.loads(response.read())


def corpus(relative: str) -> Path:
    """A file of the shared test corpus (at /work/shared, or beside the clone in CI)."""
    here = Path(__file__).resolve()
    for base in (Path("/work/shared/corpus"), here.parents[3] / "shared" / "corpus"):
        if (base / relative).exists():
            return base / relative
    raise AssertionError(f"the test corpus is missing: {relative}")


# -- accessibility ---------------------------------------------------------------------------

_A11Y = """() => {
    const problems = [];
    const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
    if (!document.documentElement.lang) problems.push('html has no lang');
    if (document.querySelectorAll('h1').length !== 1) problems.push('not exactly one h1');
    for (const tag of ['header', 'nav', 'main', 'footer']) {
        if (!document.querySelector(tag)) problems.push('no ' + tag + ' landmark');
    }
    for (const el of document.querySelectorAll('input, select, textarea')) {
        if (el.type === 'hidden' || !visible(el)) continue;
        const named = el.labels.length || el.getAttribute('aria-label')
            || el.getAttribute('aria-labelledby');
        if (!named) problems.push('unlabelled ' + el.tagName + ' ' + (el.name || el.id));
    }
    for (const el of document.querySelectorAll('button, a[href]')) {
        if (!visible(el)) continue;
        const name = (el.textContent || '').trim() || el.getAttribute('aria-label')
            || el.querySelector('img[alt]:not([alt=""])');
        if (!name && el.getAttribute('aria-hidden') !== 'true') {
            problems.push('nameless ' + el.tagName + ' ' + (el.id || el.getAttribute('href')));
        }
    }
    for (const img of document.querySelectorAll('img')) {
        if (!img.hasAttribute('alt')) problems.push('img without alt ' + img.src);
    }
    const ids = Array.from(document.querySelectorAll('[id]'), (el) => el.id);
    const repeated = ids.filter((id, i) => ids.indexOf(id) !== i);
    if (repeated.length) problems.push('repeated ids ' + repeated.join(','));
    return problems;
}"""


def check_accessibility(page: Page) -> None:
    """The checks a page of the UI must pass whatever its content (WCAG basics)."""
    problems: list[str] = page.evaluate(_A11Y)
    assert problems == [], f"{page.url}: {problems}"


# -- traffic checks ---------------------------------------------------------------------------

_METHODS = {"get", "put", "post", "delete", "patch", "head"}


def _operations(openapi: dict[str, Any]) -> list[tuple[str, re.Pattern[str]]]:
    """(method, path regex) of every operation the OpenAPI document describes."""
    out = []
    for path, item in openapi["paths"].items():
        pattern = "".join(
            "[^/]+" if part.startswith("{") else re.escape(part)
            for part in re.split(r"(\{[^}]+\})", path)
        )
        for method in item:
            if method in _METHODS:
                out.append((method, re.compile(f"^{pattern}$")))
                if method == "get":
                    out.append(("head", re.compile(f"^{pattern}$")))
    return out


def secret_spellings(seed: bytes) -> list[bytes]:
    """The ways a 32-byte Ed25519 seed (or its PKCS#8 file) could appear in a request."""
    der = bytes.fromhex("302e020100300506032b657004220420") + seed
    spellings = [
        seed,
        seed.hex().encode(),
        seed.hex().upper().encode(),
        base64.b64encode(seed),
        base64.b64encode(seed).rstrip(b"="),
        base64.b64encode(seed)[:40],
        base64.urlsafe_b64encode(seed)[:40],
        base64.urlsafe_b64encode(seed).rstrip(b"="),
        base64.b64encode(der),
        base64.b64encode(der)[:40],
    ]
    # A base64 of a longer message holds the seed's base64 at one of three alignments.
    for shift in (1, 2):
        chunk = base64.b64encode(b"\0" * shift + seed)[4:-4]
        spellings.append(chunk)
        spellings.append(chunk.replace(b"+", b"-").replace(b"/", b"_"))
    return spellings


def check_traffic(ui: UI, seeds: list[bytes]) -> list[Sent]:
    """Every request goes to a documented API path or a UI page/static file; no secrets leave.

    Returns the API requests, for further checks.
    """
    openapi = ui.get_json("/api/openapi.json")
    operations = _operations(openapi)
    forbidden = [s for seed in seeds for s in secret_spellings(seed)]
    api_requests = []
    assert ui.traffic, "the page made no requests at all?"
    for sent in ui.traffic:
        parts = urlsplit(sent.url)
        if parts.scheme in ("blob", "data"):
            continue  # made in the page (the backup download), not sent anywhere
        assert f"{parts.scheme}://{parts.netloc}" == ui.node.url, (
            f"request to another origin: {sent.url}"
        )
        path = parts.path
        method = sent.method.lower()
        if method == "get" and (path in ("/", "/ui") or path.startswith("/ui/")):
            assert not parts.query or path.startswith("/ui/"), sent.url
        else:
            assert any(m == method and pattern.match(path) for m, pattern in operations), (
                f"{sent.method} {path} is not an operation of /api/openapi.json"
            )
            api_requests.append(sent)
        everything = sent.body + "\n".join(f"{k}: {v}" for k, v in sent.headers.items()).encode()
        assert b"PRIVATE KEY" not in everything, f"a PEM key went out in {sent.method} {path}"
        for secret in forbidden:
            assert secret not in everything, f"key material went out in {sent.method} {path}"
    errors = [line for line in ui.console if line.startswith("pageerror")]
    assert errors == [], errors
    return api_requests

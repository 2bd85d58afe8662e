"""The UI's routes in-process (no browser): redirects, HTML, headers, static files, 404s."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from pathlib import Path

from node.app import create_app
from node.config import load_config
from node.setup import init_node


async def ui_client(aiohttp_client, tmp_path: Path, name: str = "Atelier Rhône & Co"):
    data = tmp_path / "node"
    # init_node migrates with Alembic, which runs its own event loop: not on ours.
    await asyncio.to_thread(init_node, data, name=name)
    return await aiohttp_client(create_app(load_config(data, env={})))


async def test_root_redirects_and_pages_are_html(aiohttp_client, tmp_path):
    client = await ui_client(aiohttp_client, tmp_path)
    for path in ("/", "/ui"):
        reply = await client.get(path, allow_redirects=False)
        assert reply.status == 302
        assert reply.headers["Location"] == "/ui/"
    reply = await client.get("/ui/")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/html")
    html = await reply.text()
    # Autoescaped: the node's name is text, never markup.
    assert "Atelier Rhône &amp; Co" in html
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    csp = reply.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    for path in (
        "/ui/log",
        "/ui/key",
        "/ui/designs",
        "/ui/publish",
        "/ui/workshops",
        "/ui/jobs",
        "/ui/jobs/new",
        "/ui/proposals",
        "/ui/ledger",
        "/ui/designs/sha256:" + "a" * 64,
        "/ui/jobs/sha256:" + "b" * 64,
        "/ui/proposals/sha256:" + "c" * 64,
        "/ui/workshops/did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp/atelier",
    ):
        reply = await client.get(path)
        assert reply.status == 200, path
        page = await reply.text()
        assert page.count("<main") == 1, path
        assert '<html lang="en">' in page, path


async def test_bad_addresses_are_html_404s(aiohttp_client, tmp_path):
    client = await ui_client(aiohttp_client, tmp_path)
    for path in (
        "/ui/designs/sha256:XYZ",
        "/ui/jobs/42",
        "/ui/proposals/sha256:" + "A" * 64,
        "/ui/workshops/did:key:nope/atelier",
        "/ui/workshops/did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp/Bad_Slug",
    ):
        reply = await client.get(path)
        assert reply.status == 404, path
        assert reply.headers["Content-Type"].startswith("text/html"), path


async def test_the_import_map_is_the_only_inline_script_and_the_csp_allows_it(
    aiohttp_client, tmp_path
):
    client = await ui_client(aiohttp_client, tmp_path)
    reply = await client.get("/ui/designs/sha256:" + "a" * 64)
    html = await reply.text()
    inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", html, re.DOTALL)
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert f"'sha256-{digest}'" in reply.headers["Content-Security-Policy"]
    assert '"three":"/ui/static/vendor/three/build/three.module.js"' in inline[0]


async def test_static_files(aiohttp_client, tmp_path):
    client = await ui_client(aiohttp_client, tmp_path)
    reply = await client.get("/ui/static/js/jcs.js")
    assert reply.status == 200
    media_type = reply.headers["Content-Type"].split(";")[0]
    assert media_type in ("text/javascript", "application/javascript")
    source = Path(__file__).resolve().parents[2] / "node" / "web" / "static" / "js" / "jcs.js"
    assert await reply.read() == source.read_bytes()
    reply = await client.get("/ui/static/../../app.py")
    assert reply.status in (403, 404)
    reply = await client.get("/ui/static/nothing-here.js")
    assert reply.status == 404

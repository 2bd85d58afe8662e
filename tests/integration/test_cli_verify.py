"""`fabcommons log verify URL`: accepts a real node, refuses a lying one with a clear message.

The good case runs the real command against a real `serve` process (with a
tiny page size, so that the verifier must page through the entries). The bad
cases run the command's entry point in process against fake nodes served
from this test, each wrong in exactly one way; an honest fake is the control.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
from aiohttp import web
from fabnodes import (
    Nodes,
    fetch_all_leaves,
    free_port,
    leaf_of,
    post_envelope,
    profile_envelope,
    run_cli_async,
    tree_root,
    vkey_of,
)

from node.cli import main
from node.client import NodeClient
from protocol.checkpoint import Checkpoint, sign_checkpoint
from protocol.keys import AgentKey
from protocol.records import Envelope, Record
from protocol.signing import sign

pytestmark = pytest.mark.slow

PROFILES = 12
PAGE = 5  # entries per request on the real node, so that verify must page


def _line(out: str, label: str) -> str:
    match = re.search(rf"^\s*{re.escape(label)}\s+(\S+)\s*$", out, re.MULTILINE)
    assert match, f"no {label!r} line in:\n{out}"
    return match.group(1)


async def test_log_verify_accepts_a_real_node_and_prints_its_size(nodes: Nodes) -> None:
    node = nodes.init()
    server = nodes.serve(node, env={"FABCOMMONS_MAX_ENTRIES_PER_REQUEST": str(PAGE)})

    # A new node's log is empty, and that verifies too.
    code, out, err = await run_cli_async("log", "verify", server.url, "--quiet")
    assert code == 0, err
    assert f"verified {node.origin} ({node.did})" in out
    assert _line(out, "size") == "0"
    # RFC 9162 §2.1.1: the hash of the empty tree is SHA-256 of nothing.
    assert _line(out, "root") == base64.b64encode(hashlib.sha256(b"").digest()).decode()
    assert _line(out, "members") == "0"

    member = AgentKey.generate()
    async with NodeClient(server.url) as client:
        await client.admit_member(member.did, node.token)
        for n in range(PROFILES):
            await post_envelope(client, profile_envelope(member, f"profile {n}"), member)
        assert len(await client.entries(0, PROFILES + 1)) == PAGE
        leaves = await fetch_all_leaves(client, PROFILES + 1)

    # With the progress bar (on stderr), and a trailing slash on the URL.
    code, out, err = await run_cli_async("log", "verify", server.url + "/")
    assert code == 0, err
    assert f"verified {node.origin} ({node.did})" in out
    assert _line(out, "size") == str(PROFILES + 1)
    assert _line(out, "root") == base64.b64encode(tree_root(leaves)).decode()
    assert _line(out, "members") == "1"
    assert _line(out, "member.admit") == "1"
    assert _line(out, "member.profile") == str(PROFILES)


# -- fake nodes --------------------------------------------------------------------------------

ORIGIN = "fabcommons/fake-coop"
CREATED = "2025-01-02T03:04:05Z"


def _key(name: str) -> AgentKey:
    return AgentKey.from_seed(hashlib.sha256(name.encode()).digest())


NODE = _key("fake node")
OTHER = _key("another key")
MEMBER = _key("fake member")
STRANGER = _key("not a member")


def _envelope(author: AgentKey, record_type: str, body: dict[str, Any]) -> Envelope:
    return sign(Record(type=record_type, author=author.did, created=CREATED, body=body), author)


ADMIT = _envelope(NODE, "member.admit", {"member": MEMBER.did, "role": "member"})
PROFILE = _envelope(MEMBER, "member.profile", {"display_name": "Ada"})


@dataclass(frozen=True)
class Fake:
    """What a fake node serves; `well_known` may be raw bytes to serve as they are."""

    leaves: tuple[bytes, ...]
    well_known: dict[str, Any] | bytes
    checkpoint: bytes


def _well_known(did: str, vkey: str) -> dict[str, Any]:
    return {
        "did": did,
        "name": "Fake Coop",
        "log": {"origin": ORIGIN, "vkey": vkey},
        "api": "/api/v1",
        "federation": "/fed/v1",
        "software": {"name": "fake", "version": "0"},
    }


def _honest(leaves: tuple[bytes, ...] = (leaf_of(ADMIT), leaf_of(PROFILE))) -> Fake:
    """A consistent fake node; each case below breaks one thing."""
    note = sign_checkpoint(Checkpoint(ORIGIN, len(leaves), tree_root(leaves)), NODE)
    return Fake(leaves, _well_known(NODE.did, vkey_of(ORIGIN, NODE.public_key)), note)


def _signed_by_other() -> Fake:
    honest = _honest()
    note = sign_checkpoint(Checkpoint(ORIGIN, 2, tree_root(honest.leaves)), OTHER)
    return replace(honest, checkpoint=note)


def _vkey_not_the_did() -> Fake:
    honest = _honest()
    note = sign_checkpoint(Checkpoint(ORIGIN, 2, tree_root(honest.leaves)), OTHER)
    return Fake(honest.leaves, _well_known(NODE.did, vkey_of(ORIGIN, OTHER.public_key)), note)


def _wrong_root() -> Fake:
    honest = _honest()
    other_root = tree_root((leaf_of(ADMIT), leaf_of(ADMIT)))
    return replace(honest, checkpoint=sign_checkpoint(Checkpoint(ORIGIN, 2, other_root), NODE))


def _consistent(leaves: tuple[bytes, ...]) -> Fake:
    return _honest(leaves)


def _tampered_leaf() -> bytes:
    data = json.loads(leaf_of(PROFILE))
    data["record"]["body"]["display_name"] = "Mallory"
    return leaf_of(Envelope.from_dict(data))


def _not_canonical_leaf() -> bytes:
    return json.dumps(PROFILE.to_dict(), indent=1).encode()


def _stranger_leaf() -> bytes:
    return leaf_of(_envelope(STRANGER, "member.profile", {"display_name": "Eve"}))


def _short() -> Fake:
    honest = _honest()
    longer = (*honest.leaves, leaf_of(_envelope(MEMBER, "member.profile", {"display_name": "B"})))
    note = sign_checkpoint(Checkpoint(ORIGIN, 3, tree_root(longer)), NODE)
    return replace(honest, checkpoint=note)


FAKES: list[tuple[str, Callable[[], Fake], str]] = [
    ("checkpoint-signed-by-another-key", _signed_by_other, "checkpoint"),
    ("vkey-is-not-the-did-key", _vkey_not_the_did, "did"),
    ("entries-do-not-hash-to-the-root", _wrong_root, "root"),
    ("entry-signature-broken", lambda: _consistent((leaf_of(ADMIT), _tampered_leaf())), "entry 1"),
    ("entry-not-canonical", lambda: _consistent((_not_canonical_leaf(),)), "entry 0"),
    ("entry-by-a-non-member", lambda: _consistent((leaf_of(ADMIT), _stranger_leaf())), "entry 1"),
    (
        "entry-repeated",
        lambda: _consistent((leaf_of(ADMIT), leaf_of(PROFILE), leaf_of(PROFILE))),
        "entry 2",
    ),
    ("fewer-entries-than-the-checkpoint", _short, "entries"),
    ("well-known-not-json", lambda: replace(_honest(), well_known=b"<html>hi</html>"), "error"),
    (
        "well-known-without-log",
        lambda: replace(_honest(), well_known=json.dumps({"did": NODE.did}).encode()),
        "error",
    ),
]


def _fake_app(fake: Fake) -> web.Application:
    async def well_known(_: web.Request) -> web.Response:
        if isinstance(fake.well_known, bytes):
            return web.Response(body=fake.well_known, content_type="application/json")
        return web.json_response(fake.well_known)

    async def checkpoint(_: web.Request) -> web.Response:
        return web.Response(body=fake.checkpoint, content_type="text/plain")

    async def entries(request: web.Request) -> web.Response:
        start, end = int(request.query["start"]), int(request.query["end"])
        if start >= len(fake.leaves):
            return web.json_response({"status": 400, "detail": "start beyond size"}, status=400)
        lines = b"".join(leaf + b"\n" for leaf in fake.leaves[start:end])
        return web.Response(body=lines, content_type="application/x-ndjson")

    app = web.Application()
    app.router.add_get("/.well-known/fabcommons", well_known)
    app.router.add_get("/fed/v1/checkpoint", checkpoint)
    app.router.add_get("/fed/v1/entries", entries)
    return app


def _assert_clear_refusal(code: int, out: str, err: str, needle: str) -> None:
    assert code != 0, out
    assert "Traceback" not in err, f"a traceback instead of a message:\n{err}"
    assert err.startswith("error:"), err
    assert needle in err.lower(), err
    assert "verified" not in out


async def _main_in_thread(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """Run the CLI's entry point in a worker thread (it runs its own event loop there).

    In process, an exception that the real command would print as a traceback
    propagates instead; the caller reports it as such.
    """
    capsys.readouterr()
    try:
        code = await asyncio.to_thread(main, argv)
    except Exception as exc:  # the console script would die with a traceback
        out, err = capsys.readouterr()
        raise AssertionError(
            f"`fabcommons {' '.join(argv)}` crashed with {type(exc).__name__}: {exc} "
            f"instead of printing an error\nstdout: {out}\nstderr: {err}"
        ) from exc
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("make", "needle"), [(m, n) for _, m, n in FAKES], ids=[name for name, *_ in FAKES]
)
async def test_log_verify_refuses_a_lying_node(
    make: Callable[[], Fake],
    needle: str,
    aiohttp_server: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = await aiohttp_server(_fake_app(make()), host="127.0.0.1")
    url = str(server.make_url("")).rstrip("/")
    code, out, err = await _main_in_thread(["log", "verify", url, "--quiet"], capsys)
    _assert_clear_refusal(code, out, err, needle)


async def test_log_verify_accepts_the_honest_fake(
    aiohttp_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """The control: every lying fake above differs from this one in one way only."""
    server = await aiohttp_server(_fake_app(_honest()), host="127.0.0.1")
    url = str(server.make_url("")).rstrip("/")
    code, out, err = await _main_in_thread(["log", "verify", url, "--quiet"], capsys)
    assert code == 0, err
    assert f"verified {ORIGIN} ({NODE.did})" in out
    assert _line(out, "size") == "2"


async def test_log_verify_of_nothing_listening_is_a_clear_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, out, err = await _main_in_thread(["log", "verify", url, "--quiet"], capsys)
    _assert_clear_refusal(code, out, err, "error")

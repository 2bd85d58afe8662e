"""`make demo`: real nodes on loopback telling the fabcommons story.

Three cooperatives start their own nodes, federate, admit members who sign
records in their own keys, and follow each other's logs. One node goes
offline and another catches up with its log from a third's mirror; every
node verifies and cosigns the others' checkpoints. `--once` exits at the end
(CI); otherwise the nodes keep running until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from node.client import NodeClient
from node.clock import utc_now
from node.verifylog import verify_remote_log
from protocol.checkpoint import (
    ALG_COSIGNATURE_V1,
    NoteVerifier,
    open_checkpoint,
    split_note,
    verified_cosignatures,
)
from protocol.did import public_key_from_did
from protocol.keys import AgentKey
from protocol.membership import MemberProfile
from protocol.records import Record, format_time
from protocol.signing import sign

console = Console(emoji=False, highlight=False, soft_wrap=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fabcommons(*args: str) -> list[str]:
    return [sys.executable, "-m", "node.cli", *args]


@dataclass
class DemoNode:
    """One cooperative's node, run as a real `fabcommons serve` process."""

    name: str
    data: Path
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen[bytes] | None = None
    did: str = ""
    origin: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        return (self.data / "admin.token").read_text(encoding="ascii").strip()

    def init(self) -> None:
        subprocess.run(
            _fabcommons(
                "init", "--data", str(self.data), "--name", self.name, "--port", str(self.port)
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        with (self.data / "config.yaml").open("a", encoding="utf-8") as config:
            config.write("sync_interval_s: 0.5\n")

    async def start(self) -> None:
        log = (self.data.parent / f"{self.data.name}.log").open("ab")
        self.process = subprocess.Popen(
            _fabcommons("serve", "--data", str(self.data)),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 30
        async with NodeClient(self.url, timeout_s=2) as client:
            while True:
                try:
                    info = await client.well_known()
                    self.did, self.origin = info.did, info.origin
                    return
                except Exception:
                    if time.monotonic() > deadline or self.process.poll() is not None:
                        raise RuntimeError(f"{self.name} did not start; see {log.name}") from None
                    await asyncio.sleep(0.2)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    async def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                method,
                self.url + path,
                json=body,
                headers={"Authorization": f"Bearer {self.token}"},
            ) as response,
        ):
            data = await response.json()
            if response.status >= 400:
                raise RuntimeError(f"{self.name} {path}: {data.get('detail')}")
            return data

    async def get(self, path: str) -> Any:
        async with aiohttp.ClientSession() as session, session.get(self.url + path) as response:
            return await response.json()


async def _post_profile(node: DemoNode, key: AgentKey, name: str) -> dict[str, Any]:
    record = Record(
        type=MemberProfile.TYPE,
        author=key.did,
        created=format_time(utc_now()),
        body=MemberProfile(display_name=name).to_dict(),
    )
    async with NodeClient(node.url) as client:
        return await client.post_record(sign(record, key), key)


async def _sync_all(nodes: list[DemoNode]) -> None:
    """Two rounds of sync on every node, then let the outboxes deliver cosignatures."""
    for _ in range(2):
        for node in nodes:
            if node.process is None or node.process.poll() is not None:
                continue
            for peer in (await node.get("/api/v1/peers"))["peers"]:
                await node.admin("POST", f"/api/v1/admin/peers/{peer['did']}/sync")
    await asyncio.sleep(1.5)


async def _view(node: DemoNode, nodes: list[DemoNode]) -> Table:
    table = Table(title=f"{node.name}'s view", title_justify="left")
    for column in ("log", "state", "verified size", "root", "cosigned by"):
        table.add_column(column)
    peers = {p["did"]: p for p in (await node.get("/api/v1/peers"))["peers"]}
    async with aiohttp.ClientSession() as session:
        for other in nodes:
            if other is node:
                continue
            peer = peers.get(other.did, {})
            async with session.get(f"{node.url}/fed/v1/logs/{other.did}/checkpoint") as response:
                note = await response.read() if response.status == 200 else b""
            root, witnesses = "-", "-"
            if note:
                verifier = NoteVerifier.from_vkey(peer["vkey"])
                signed = open_checkpoint(note, verifier)
                root = base64.b64encode(signed.checkpoint.root_hash).decode()[:12] + "…"
                text, sigs = split_note(note)
                known = [
                    NoteVerifier(w.origin, public_key_from_did(w.did), ALG_COSIGNATURE_V1)
                    for w in nodes
                    if w is not other
                ]
                cosigners = verified_cosignatures(text, sigs, known)
                witnesses = (
                    ", ".join(w.name for w in nodes if public_key_from_did(w.did) in cosigners)
                    or "-"
                )
            table.add_row(
                other.name,
                peer.get("state", "?"),
                str(peer.get("verified_size", 0)),
                root,
                witnesses,
            )
    return table


async def story(root: Path) -> None:
    a = DemoNode("Coop A Fab Lab", root / "coop-a")
    b = DemoNode("Coop B Makerspace", root / "coop-b")
    c = DemoNode("Coop C Workshop", root / "coop-c")
    nodes = [a, b, c]
    try:
        for node in nodes:
            node.init()
        await asyncio.gather(*(node.start() for node in nodes))
        console.rule("[bold]three cooperatives")
        for node in nodes:
            console.print(f"{node.name:<18} {node.url}  {node.did}")

        console.rule("[bold]they federate")
        for node in nodes:
            for other in nodes:
                if other is not node:
                    await node.admin("POST", "/api/v1/admin/peers", {"url": other.url})
        console.print("each node pins the others' did and log key, and signs peer.federate records")

        console.rule("[bold]members sign in their own keys")
        members = {node.name: AgentKey.generate() for node in nodes}
        people = {a.name: "Ana", b.name: "Bea", c.name: "Caio"}
        for node in nodes:
            key = members[node.name]
            await node.admin("POST", "/api/v1/admin/members", {"did": key.did})
            answer = await _post_profile(node, key, people[node.name])
            console.print(
                f"{people[node.name]} joins {node.name}; her profile is entry {answer['index']}"
            )
        await _sync_all(nodes)
        for node in nodes:
            sizes = [
                f"{p['name']}: {p['verified_size']} ({p['state']})"
                for p in (await node.get("/api/v1/peers"))["peers"]
            ]
            console.print(f"{node.name} has verified  " + ", ".join(sizes))

        console.rule("[bold]a node goes offline; a mirror covers for it")
        c.stop()
        console.print(f"{c.name} stops")
        for i in range(3):
            await _post_profile(a, members[a.name], f"Ana (update {i + 1})")
        await node_sync(b, a)
        console.print(f"Ana updates her profile 3 times at {a.name}; {b.name} syncs")
        a.stop()
        console.print(f"{a.name} goes offline")
        await c.start()
        await node_sync(c, a)
        peer_a = next(p for p in (await c.get("/api/v1/peers"))["peers"] if p["did"] == a.did)
        console.print(
            f"{c.name} comes back and catches up with {a.name}'s log from {b.name}'s mirror: "
            f"verified size {peer_a['verified_size']} while {a.name} is offline "
            f"({escape(peer_a['detail'])})"
        )
        await a.start()
        await _sync_all(nodes)
        await _sync_all(nodes)
        console.print(f"{a.name} is back; everything converges")

        console.rule("[bold]every node verifies every other's log")
        for node in nodes:
            async with NodeClient(node.url) as client:
                verified = await verify_remote_log(client)
            console.print(
                f"{node.name}: {verified.size} entries, every signature, authorisation and "
                f"the root checked from outside"
            )
        for node in nodes:
            console.print(await _view(node, nodes))
        console.print("\nnodes:")
        for node in nodes:
            console.print(f"  {node.name:<18} {node.url}/api/openapi.json")
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    _RUNNING.extend(nodes)


async def node_sync(node: DemoNode, peer: DemoNode) -> None:
    await node.admin("POST", f"/api/v1/admin/peers/{peer.did}/sync")


_RUNNING: list[DemoNode] = []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--once", action="store_true", help="exit when the story is told")
    parser.add_argument("--data", help="where to keep the nodes (default: a temporary dir)")
    args = parser.parse_args(argv)
    root = Path(args.data) if args.data else Path(tempfile.mkdtemp(prefix="fabcommons-demo-"))
    console.print(f"data and logs of the nodes: {root}")
    try:
        asyncio.run(story(root))
        if not args.once:
            console.print("the nodes keep running; Ctrl-C to stop")
            with contextlib.suppress(KeyboardInterrupt):
                signal.pause()
        return 0
    finally:
        for node in _RUNNING:
            node.stop()


if __name__ == "__main__":
    sys.exit(main())

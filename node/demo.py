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
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from node.client import NodeClient
from node.clock import utc_now
from node.corpus import corpus_dir
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


CORPUS = corpus_dir()
SWITCH_PLATE = CORPUS / "designs" / "switch-plate-gopro"
_ID = re.compile(r"(sha256:[0-9a-f]{64})")
WAIT_S = 60.0


def _cli(*args: str) -> str:
    """Run a `fabcommons` command as a person would; its output, or the error it printed."""
    done = subprocess.run(
        _fabcommons(*args), capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"fabcommons {args[0]} {args[1]}: {done.stderr.strip() or done.stdout}")
    return done.stdout


def _id_in(output: str) -> str:
    match = _ID.search(output)
    if match is None:
        raise RuntimeError(f"no record id in: {output}")
    return match.group(1)


async def _until(what: str, probe: Any, timeout_s: float = WAIT_S) -> Any:
    """Poll an async probe until it returns something truthy (bounded)."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = await probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.3)


def _keyfile(root: Path, name: str) -> tuple[Path, str]:
    path = root / "keys" / f"{name}.key"
    path.parent.mkdir(exist_ok=True, mode=0o700)
    return path, _cli("key", "new", "--out", str(path)).strip()


def _derivative_stl(out: Path) -> Path:
    """The switch plate with a label tab: the derivative a designer at A publishes."""
    import trimesh

    plate = trimesh.load(SWITCH_PLATE / "Switch_Plate_GoPro_Compatible.stl", force="mesh")
    low, high = plate.bounds
    tab = trimesh.creation.box(extents=(30.0, 12.0, 2.0))
    tab.apply_translation((high[0] + 14.0, (low[1] + high[1]) / 2, low[2] + 1.0))
    joined = trimesh.util.concatenate([plate, tab])
    out.mkdir(parents=True, exist_ok=True)
    path = out / "Switch_Plate_Label_Tab.stl"
    joined.export(str(path), file_type="stl")  # type: ignore[no-untyped-call]
    return path


async def story(root: Path, summary: dict[str, Any]) -> None:
    a = DemoNode("Coop A Designers", root / "coop-a")
    b = DemoNode("Coop B Makerspace", root / "coop-b")
    c = DemoNode("Coop C Fab Works", root / "coop-c")
    nodes = [a, b, c]
    try:
        for node in nodes:
            node.init()
        await asyncio.gather(*(node.start() for node in nodes))
        console.rule("[bold]1. three cooperatives, three nodes")
        for node in nodes:
            console.print(f"{node.name:<18} {node.url}/ui/  {node.did}")
        for node in nodes:
            for other in nodes:
                if other is not node:
                    await node.admin("POST", "/api/v1/admin/peers", {"url": other.url})
        console.print("they federate: each pins the others' did and log key (peer.federate)")

        console.rule("[bold]2. members, each with a key only they hold")
        keys: dict[str, tuple[Path, str]] = {}
        for who, node in (
            ("ana", a), ("ravi", a), ("bo", b), ("cleo", c), ("carl", c)
        ):  # fmt: skip
            keys[who] = _keyfile(root, who)
            await node.admin("POST", "/api/v1/admin/members", {"did": keys[who][1]})
        fund_did = _keyfile(root, "commons-fund")[1]
        console.print("A admits Ana (designer) and Ravi; B admits Bo; C admits Cleo and Carl")

        console.rule("[bold]3. workshops and their machines")
        place = {"A": ("52.520008", "13.404954"), "B": ("52.390569", "13.064473"),
                 "C": ("51.339695", "12.373075")}  # fmt: skip
        for node, letter, slug, name, owner in (
            (b, "B", "b-makers", "B Makerspace", "bo"),
            (c, "C", "c-fabworks", "C Fab Works", "cleo"),
        ):
            lat, lon = place[letter]
            _cli("workshop", "register", "--data", str(node.data), "--node", node.url,
                 "--slug", slug, "--name", name, "--lat", lat, "--lon", lon,
                 "--country", "DE", "--owner", keys[owner][1])  # fmt: skip
        owner_b = ("--key", str(keys["bo"][0]), "--node", b.url, "--workshop", "b-makers")
        owner_c = ("--key", str(keys["cleo"][0]), "--node", c.url, "--workshop", "c-fabworks")
        _cli("machine", "publish", *owner_b, "--machine", "mini", "--kind", "3d-printer",
             "--process", "fdm", "--material", "pla", "--build-volume", "180,180,180")  # fmt: skip
        _cli("machine", "publish", *owner_c, "--machine", "big", "--kind", "3d-printer",
             "--process", "fdm", "--material", "pla", "--material", "petg",
             "--build-volume", "400,400,400")  # fmt: skip
        _cli("machine", "publish", *owner_c, "--machine", "laser", "--kind", "laser-cutter",
             "--process", "laser-cutting", "--material", "plywood",
             "--build-volume", "600,400,20")  # fmt: skip
        _cli("offer", "publish", *owner_b, "--offer", "mini-pla", "--machine", "mini",
             "--process", "fdm", "--material", "pla", "--currency", "EUR", "--setup", "500",
             "--per-cm3", "20", "--per-hour", "200", "--rate", "12", "--country", "DE")  # fmt: skip
        _cli("offer", "publish", *owner_c, "--offer", "big-fdm", "--machine", "big",
             "--process", "fdm", "--material", "pla", "--material", "petg", "--currency", "EUR",
             "--setup", "1500", "--per-cm3", "30", "--per-hour", "300", "--rate", "25",
             "--country", "DE")  # fmt: skip
        _cli("offer", "publish", *owner_c, "--offer", "laser", "--machine", "laser",
             "--process", "laser-cutting", "--material", "plywood", "--currency", "EUR",
             "--setup", "800", "--per-cm3", "5", "--per-hour", "400", "--rate", "100",
             "--country", "DE")  # fmt: skip
        console.print("B: a small FDM printer (180 mm); C: a large one (400 mm) and a laser cutter")
        console.print("only each workshop's owner key signs its machines and offers")

        console.rule("[bold]4. an open design and a derivative")
        out = _cli("design", "import-okh", str(SWITCH_PLATE / "okh.yml"),
                   "--key", str(keys["ana"][0]), "--node", a.url)  # fmt: skip
        original = _id_in(out.split("design published", 1)[1])
        derivative_file = _derivative_stl(root / "derivative")
        out = _cli("design", "publish", str(derivative_file.parent), "--key", str(keys["ana"][0]),
                   "--node", a.url, "--title", "Switch Plate with label tab", "--author", "Ana",
                   "--license", "CC-BY-SA-4.0", "--derived-from", original,
                   "--units", "mm", "--process", "fdm", "--material", "pla")  # fmt: skip
        derivative = _id_in(out.split("design published", 1)[1])
        derivative_sha = hashlib.sha256(derivative_file.read_bytes()).hexdigest()
        console.print(f"Ana imports the Switch Plate from its OKH manifest: {original[:19]}…")
        console.print(f"and publishes a derivative with a label tab: {derivative[:19]}…")

        async def analysed() -> Any:
            view = await a.get(f"/api/v1/designs/{derivative}")
            return view if view.get("analysis") else None

        view = await _until("A's analysis of the derivative", analysed)
        figures = view["analysis"][0]["figures"]
        console.print(
            f"A analyses it: {figures['triangles']} triangles, "
            f"{figures['aabb_mm'][0]} x {figures['aabb_mm'][1]} x {figures['aabb_mm'][2]} mm, "
            f"{figures['volume_mm3']} mm³, watertight: {figures['watertight']}"
        )
        chain = view.get("attribution", {})
        tasl = chain.get("text") if isinstance(chain, dict) else None
        if tasl:
            console.print("attribution to ship with the part:")
            console.print(escape(tasl), markup=False)

        async def found_at_c() -> Any:
            found = await c.get(f"/api/v1/designs?q={quote('label tab')}")
            return found.get("designs")

        await _until("the derivative at C", found_at_c)
        console.print("C finds it by search; its files and thumbnail come from A, checked by hash")

        console.rule("[bold]5. C's members vote a value-sharing policy")
        policy = {
            "version": 1, "workshop_bp": 7000, "designers_bp": 2000, "decay_bp": 5000,
            "max_generations": 3, "commons_bp": 1000, "commons_fund": fund_did,
            "named": [], "currencies": ["EUR"],
        }  # fmt: skip
        action = json.dumps({"kind": "ledger.policy", "params": {"policy": policy}})
        out = _cli("proposal", "create", "--key", str(keys["carl"][0]), "--node", c.url,
                   "--title", "Share the value of every job", "--text",
                   "70 % to the workshop, 20 % to the designers (halving per generation), "
                   "10 % to the commons fund.", "--option", "yes", "--option", "no",
                   "--duration", "8s", "--quorum", "1/2", "--action", action)  # fmt: skip
        proposal = _id_in(out)
        for who, choice in (("cleo", "yes"), ("carl", "yes")):
            _cli("vote", proposal, choice, "--key", str(keys[who][0]), "--node", c.url)
        console.print("Carl proposes; Cleo and Carl vote yes, each signing their ballot")

        async def policy_in_force() -> Any:
            found = await c.get(f"/api/v1/ledger/policies?log={c.did}")
            return found["policies"]

        await _until("the policy to take effect", policy_in_force)
        console.print(
            "at the close C appends the result with its tally (any peer recomputes it); "
            "the adopted policy is now in force in C's log"
        )

        async def c_knows_b_offers() -> Any:
            offers = (await a.get("/api/v1/offers"))["offers"]
            return len(offers) >= 3

        await _until("every offer at A", c_knows_b_offers)

        console.rule("[bold]6. a job is routed, declined, accepted and completed")
        lat, lon = place["A"]
        request_args = ("--node", a.url, "--design", derivative, "--design-log", a.did,
                        "--file", derivative_sha, "--process", "fdm", "--material", "pla",
                        "--lat", lat, "--lon", lon, "--country", "DE", "--budget", "20000",
                        "--currency", "EUR", "--response-window-s", "120")  # fmt: skip
        console.print(_cli("job", "route", *request_args).rstrip(), markup=False)
        out = _cli("job", "request", "--key", str(keys["ravi"][0]), *request_args)
        job = _id_in(out)
        console.print(f"Ravi requests the part: job {job[:19]}…")

        async def offered_to(node: DemoNode, slug: str) -> Any:
            view = await node.get(f"/api/v1/jobs/{job}")
            if view.get("state") != "offered" or not view.get("offers"):
                return None
            live = view["offers"][-1]
            return live if live.get("workshop") == slug else None

        await _until("the offer to B", lambda: offered_to(b, "b-makers"))
        _cli("job", "decline", job, *owner_b, "--reason", "our printer is booked this week")
        console.print("A offers it to B (the best score); Bo declines: booked this week")
        await _until("the offer to C", lambda: offered_to(c, "c-fabworks"))
        _cli("job", "accept", job, *owner_c)
        console.print("the job moves on to C without an operator; Cleo accepts")
        for status in ("in_production", "shipped", "delivered"):
            _cli("job", "status", job, status, *owner_c)
        paid = 4250
        _cli("job", "complete", job, *owner_c, "--paid", str(paid), "--currency", "EUR")
        console.print(
            f"C makes, ships and delivers it; Ravi's cooperative pays {paid / 100:.2f} EUR"
        )

        console.rule("[bold]7. the ledger shares the value")

        async def distributed(node: DemoNode) -> Any:
            found = (await node.get(f"/api/v1/ledger/distributions?job={job}"))["distributions"]
            return found if found and found[0]["agreement"] == "agree" else None

        shares = {}
        for node in nodes:
            shares[node.name] = await _until(
                f"the distribution at {node.name}", lambda n=node: distributed(n)
            )
        parts = shares[c.name][0]["parts"]
        names = {keys[k][1]: k.capitalize() for k in keys}
        names[c.did] = "C's workshop"
        names[fund_did] = "the commons fund"
        for part in parts:
            who = names.get(part["agent"], part["agent"][:20])
            generation = f" (generation {part['generation']})" if "generation" in part else ""
            console.print(
                f"  {part['amount'] / 100:>8.2f} EUR  {part['reason']}{generation}: {who}"
            )
        console.print(
            f"parts sum to {sum(p['amount'] for p in parts) / 100:.2f} EUR; "
            "A, B and C each recompute it from the logs and agree"
        )

        console.rule("[bold]8. every node verifies and cosigns every other's log")
        await _sync_all(nodes)
        for node in nodes:
            async with NodeClient(node.url) as client:
                verified = await verify_remote_log(client)
            console.print(
                f"{node.name}: {verified.size} entries; every signature, authorisation "
                "and the root checked from outside"
            )
        for node in nodes:
            console.print(await _view(node, nodes))
        summary.update(
            {
                "nodes": {n.name: {"did": n.did, "url": n.url, "data": str(n.data)} for n in nodes},
                "design": original,
                "derivative": derivative,
                "proposal": proposal,
                "job": job,
                "paid": paid,
                "parts": parts,
                "policy": policy,
            }
        )
        console.print("\nweb interfaces:")
        for node in nodes:
            console.print(f"  {node.name:<18} {node.url}/ui/")
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    _RUNNING.extend(nodes)


_RUNNING: list[DemoNode] = []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--once", action="store_true", help="exit when the story is told")
    parser.add_argument("--data", help="where to keep the nodes (default: a temporary dir)")
    parser.add_argument("--summary", help="write what the story claims as JSON to this file")
    args = parser.parse_args(argv)
    root = Path(args.data) if args.data else Path(tempfile.mkdtemp(prefix="fabcommons-demo-"))
    console.print(f"data and logs of the nodes: {root}")
    try:
        summary: dict[str, Any] = {}
        asyncio.run(story(root, summary))
        if args.summary:
            Path(args.summary).write_text(json.dumps(summary, indent=2), encoding="utf-8")
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

"""`make demo`: real nodes on loopback telling the fabcommons story.

For now: one cooperative's node starts, admits a member, the member signs and
appends records through the API, and the log is verified from outside as any
peer would. `--once` exits at the end (CI); otherwise the node keeps running
until Ctrl-C so that you can explore it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from node.client import NodeClient
from node.clock import utc_now
from node.verifylog import verify_remote_log
from protocol.keys import AgentKey, save_key
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


async def _wait_healthy(url: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    async with NodeClient(url, timeout_s=2) as client:
        while True:
            try:
                await client.well_known()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)


async def _story(url: str, data: Path) -> None:
    member = AgentKey.generate()
    save_key(member, data.parent / "ana.key")
    token = (data / "admin.token").read_text(encoding="ascii").strip()
    async with NodeClient(url) as client:
        info = await client.well_known()
        console.print(f"[bold]1.[/bold] {info.name} is up at {url}")
        console.print(f"   node did {info.did}")
        admitted = await client.admit_member(member.did, token)
        console.print(
            f"[bold]2.[/bold] the operator admits Ana ({member.did[:24]}…): "
            f"member.admit at index {admitted['index']}"
        )
        body = MemberProfile(display_name="Ana Lima", contact="ana@coop-a.example").to_dict()
        record = Record(
            type=MemberProfile.TYPE, author=member.did, created=format_time(utc_now()), body=body
        )
        answer = await client.post_record(sign(record, member), member)
        console.print(
            f"[bold]3.[/bold] Ana signs her profile in her own key; the node appends it at "
            f"index {answer['index']} ({answer['id'][:19]}…)"
        )
        again = await client.post_record(sign(record, member), member)
        console.print(f"   sending it again changes nothing: same index {again['index']}")
        blob = await client.post_blob(b"G21 ; millimetres\nG28 ; home\n", member)
        console.print(f"[bold]4.[/bold] Ana uploads a file: blobs/sha256/{blob['sha256'][:16]}…")
        verified = await verify_remote_log(client)
        console.print(
            f"[bold]5.[/bold] verified from outside: {verified.size} entries, every signature "
            f"and authorisation checked, root matches the signed checkpoint"
        )
    console.print(f"\nweb: {url}/.well-known/fabcommons · API: {url}/api/openapi.json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--once", action="store_true", help="exit when the story is told")
    parser.add_argument("--data", help="where to keep the nodes (default: a temporary dir)")
    args = parser.parse_args(argv)
    root = Path(args.data) if args.data else Path(tempfile.mkdtemp(prefix="fabcommons-demo-"))
    data = root / "coop-a"
    port = _free_port()
    subprocess.run(
        _fabcommons("init", "--data", str(data), "--name", "Coop A Fab Lab", "--port", str(port)),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    log_file = (root / "coop-a.log").open("wb")
    server = subprocess.Popen(
        _fabcommons("serve", "--data", str(data)),
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        asyncio.run(_wait_healthy(url))
        asyncio.run(_story(url, data))
        if not args.once:
            console.print("the node keeps running; Ctrl-C to stop")
            with contextlib.suppress(KeyboardInterrupt):
                server.wait()
        return 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log_file.close()


if __name__ == "__main__":
    sys.exit(main())

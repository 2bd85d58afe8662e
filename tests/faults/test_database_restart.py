"""A PostgreSQL restart while clients append.

Guarantee: while the database restarts, the node answers every request with
either success or a 503 problem+json (never a 500, never a hang beyond the
client timeout); every append acknowledged before, during or after the
restart is in the log; the log is gap-free and its checkpoint is the RFC
9162 root of its leaves; once the database is back, appends succeed again
without restarting the node.

The database is a private PostgreSQL cluster made by initdb for this test on
a free port (the shared server on 5432 is never restarted); it needs the
server binaries of Debian's postgresql package and root (to run them as the
postgres user), which CI has.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from fednet import (
    FedNet,
    free_port,
    leaf_of,
    open_note,
    profile_envelope,
    record_id_of,
    tree_root,
)

from node.httpsig import sign_request_headers
from protocol.keys import AgentKey

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

PG_TIMEOUT_S = 60
CLIENTS = 8
LOAD_S = 6.0
REQUEST_TIMEOUT_S = 20.0


def _pg_bin() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    assert candidates, "PostgreSQL server binaries (Debian package postgresql) are missing"
    return candidates[-1].parent


def _as_postgres(*argv: str) -> None:
    done = subprocess.run(
        ["runuser", "-u", "postgres", "--", *argv],
        check=False,
        timeout=PG_TIMEOUT_S,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"{argv[0]} failed: {done.stdout}\n{done.stderr}"


@contextlib.contextmanager
def private_cluster() -> Iterator[tuple[str, Path, int]]:
    """initdb + start a cluster on a free port; yields (url, data dir, port); stops it."""
    assert os.geteuid() == 0, "the private cluster runs as the postgres user: needs root"
    assert shutil.which("runuser"), "runuser (util-linux) is missing"
    bin_dir = _pg_bin()
    # pytest's own temporary directories are private to root; postgres must reach this one.
    root = Path(tempfile.mkdtemp(prefix="fabcommons-pg-"))
    root.chmod(0o755)
    data = root / "pgdata"
    data.mkdir()
    shutil.chown(data, "postgres", "postgres")
    port = free_port()
    _as_postgres(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=on"
    # -l: the server must not inherit our pipes, or capturing its output never ends.
    _as_postgres(
        str(bin_dir / "pg_ctl"),
        "-D",
        str(data),
        "-l",
        str(data / "server.log"),
        "-o",
        options,
        "-w",
        "start",
    )
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres", data, port
    finally:
        with contextlib.suppress(subprocess.SubprocessError, AssertionError):
            _as_postgres(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


async def test_a_database_restart_under_load_loses_nothing_acknowledged(
    fednet: FedNet, tmp_path: Path
) -> None:
    with private_cluster() as (url, pg_data, port):
        node = fednet.node("A", database_url=url)
        await node.start()
        members = [AgentKey.generate() for _ in range(CLIENTS)]
        for member in members:
            await node.admit(member.did)

        acked: dict[str, int] = {}
        statuses: list[int] = []
        stop_at = time.monotonic() + LOAD_S
        restarted = asyncio.Event()

        async def client(member: AgentKey, session: aiohttp.ClientSession) -> None:
            n = 0
            while time.monotonic() < stop_at or not restarted.is_set():
                n += 1
                envelope = profile_envelope(member, f"{member.did[-6:]} {n} {random.random()}")
                body = leaf_of(envelope)
                url = node.url + "/api/v1/records"
                headers = sign_request_headers(
                    member, "POST", url, body, headers={"Content-Type": "application/json"}
                )
                try:
                    async with session.post(url, data=body, headers=headers) as response:
                        answer = await response.read()
                        statuses.append(response.status)
                        if response.status in (200, 201):
                            acked[record_id_of(envelope)] = json.loads(answer)["index"]
                        else:
                            problem = json.loads(answer)
                            assert problem["status"] == response.status, problem
                            assert response.status == 503, problem
                except (aiohttp.ClientConnectionError, TimeoutError) as exc:
                    raise AssertionError(f"the node stopped answering: {exc!r}") from exc
                await asyncio.sleep(0.01)

        async def restart() -> None:
            await asyncio.sleep(LOAD_S / 3)
            bin_dir = _pg_bin()
            options = f"-p {port} -k {pg_data} -c listen_addresses=127.0.0.1"
            await asyncio.to_thread(
                _as_postgres,
                str(bin_dir / "pg_ctl"),
                "-D",
                str(pg_data),
                "-l",
                str(pg_data / "server.log"),
                "-o",
                options,
                "-m",
                "fast",
                "-w",
                "restart",
            )
            restarted.set()

        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await asyncio.wait_for(
                asyncio.gather(restart(), *(client(m, session) for m in members)),
                timeout=LOAD_S + PG_TIMEOUT_S,
            )
        assert 500 not in statuses
        assert 503 in statuses, "the restart did not overlap the load"
        assert statuses.count(201) >= CLIENTS, statuses

        # Appends work again after the restart, with no operator action.
        member = members[0]
        envelope = profile_envelope(member, "after the restart")
        async with aiohttp.ClientSession(timeout=timeout) as session:
            body = leaf_of(envelope)
            url = node.url + "/api/v1/records"
            for _ in range(50):
                headers = sign_request_headers(
                    member, "POST", url, body, headers={"Content-Type": "application/json"}
                )
                async with session.post(url, data=body, headers=headers) as response:
                    if response.status in (200, 201):
                        acked[record_id_of(envelope)] = json.loads(await response.read())["index"]
                        break
                    assert response.status == 503, await response.text()
                await asyncio.sleep(0.2)
            else:
                raise AssertionError("appends did not recover after the restart")

        note = await open_note(node, None, node)
        size = note.checkpoint.size
        leaves = await node.leaves(size)
        assert tree_root(leaves) == note.checkpoint.root_hash
        by_id = {record_id_of_leaf(leaf): i for i, leaf in enumerate(leaves)}
        assert len(by_id) == size, "a record appears twice in the log"
        for rid, index in acked.items():
            assert by_id.get(rid) == index, f"acknowledged {rid} at {index} is not in the log"
        node.stop()


def record_id_of_leaf(leaf: bytes) -> str:
    import hashlib

    import rfc8785

    record = json.loads(leaf)["record"]
    return "sha256:" + hashlib.sha256(rfc8785.dumps(record)).hexdigest()

"""Fixtures of the adversarial tests: a victim node served in-process, and a lying peer.

The victim is a real node: `node.setup.init_node` in a temporary directory
(SQLite), served with `aiohttp_client(create_app(config))`; its federation
client fetches over HTTP from the evil peer, which listens on 127.0.0.1 on
a free port (tests/faults/peers/evil_peer.py). The victim's sync loop runs
once when a peer is added and then waits an hour, so the tests drive every
later round with `POST /api/v1/admin/peers/{did}/sync`. Every request a
test makes is bounded in time. Fixtures return factories.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from node.app import create_app
from node.config import load_config
from node.setup import init_node

# The helpers live beside this file; under --import-mode=importlib pytest does
# not put test directories on sys.path, so do it here, before importing them.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from evil_peer import EvilPeer
from victim_node import SYNC_INTERVAL_S, Victim, VictimFactory


@pytest.fixture(scope="session")
def victim_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data directory made by `init_node` (key, token, config, migrated SQLite)."""
    data_dir = tmp_path_factory.mktemp("template") / "victim"
    init_node(data_dir, name="Victim Coop")
    return data_dir


@pytest.fixture
async def make_victim(aiohttp_client: Any, tmp_path: Path, victim_template: Path) -> VictimFactory:
    """`await make_victim(**settings)`: a fresh node; settings override its config.yaml.

    Each victim is a copy of one `init_node` directory (modes kept, so the key
    stays 0600): the same identity, its own database.
    """
    counter = iter(range(100))

    async def make(**settings: Any) -> Victim:
        data_dir = tmp_path / f"victim{next(counter)}"
        await asyncio.to_thread(shutil.copytree, victim_template, data_dir)
        settings.setdefault("sync_interval_s", SYNC_INTERVAL_S)
        config = load_config(data_dir, env={}, **settings)
        client = await aiohttp_client(create_app(config))
        token = config.token_path.read_text(encoding="ascii").strip()
        return Victim(client=client, config=config, token=token)

    return make


@pytest.fixture
async def make_evil() -> AsyncIterator[Callable[[], Awaitable[EvilPeer]]]:
    """`await make_evil()`: a started lying peer on 127.0.0.1; closed after the test."""
    started: list[EvilPeer] = []

    async def make() -> EvilPeer:
        peer = EvilPeer()
        await peer.start()
        started.append(peer)
        return peer

    yield make
    for peer in started:
        await peer.close()

"""Creating a node's data directory: key, token, config, migrated database."""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import yaml

from node.config import CONFIG_FILE, KEY_FILE, TOKEN_FILE, NodeConfig
from node.errors import NodeExists
from node.store.database import migrate_sync
from protocol.checkpoint import NoteVerifier
from protocol.did import Did
from protocol.keys import AgentKey, save_key

__all__ = ["NodeExists", "NodeIdentity", "default_origin", "init_node"]


@dataclass(frozen=True, slots=True)
class NodeIdentity:
    did: Did
    origin: str
    vkey: str


def default_origin(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "node"
    return f"fabcommons/{slug}"


def _write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())


def init_node(
    data_dir: Path,
    *,
    name: str,
    origin: str | None = None,
    database_url: str | None = None,
    port: int | None = None,
) -> NodeIdentity:
    """Create a new node in data_dir. Raises NodeExists if one is there."""
    for existing in (CONFIG_FILE, KEY_FILE, TOKEN_FILE):
        if (data_dir / existing).exists():
            raise NodeExists(f"{data_dir / existing} exists: refusing to overwrite a node")
    origin = origin or default_origin(name)
    settings: dict[str, object] = {"name": name, "origin": origin}
    if database_url:
        settings["database_url"] = database_url
    if port:
        settings["port"] = port
    # Built first so that a bad setting is refused before anything is written.
    config = NodeConfig(
        data_dir=data_dir,
        name=name,
        origin=origin,
        database_url=database_url or "",
        port=port or 8700,
    )
    if not data_dir.exists():
        data_dir.mkdir(parents=True, mode=0o700)
    # The database first: if it cannot be reached, no node file is left
    # behind to block a retry.
    migrate_sync(config.database_url)
    key = AgentKey.generate()
    save_key(key, config.key_path)
    _write_secret(config.token_path, secrets.token_urlsafe(32) + "\n")
    (data_dir / CONFIG_FILE).write_text(
        "# fabcommons node configuration; FABCOMMONS_<SETTING> variables override it.\n"
        + yaml.safe_dump(settings, sort_keys=False),
        encoding="utf-8",
    )
    return NodeIdentity(key.did, origin, NoteVerifier(origin, key.public_key).vkey)

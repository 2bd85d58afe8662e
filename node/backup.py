"""A consistent copy of a node's data directory, taken while the node runs.

The order matters: the database snapshot is taken first (SQLite's online
backup API gives a consistent image even while the writer commits), then the
blobs. A record that names a blob is appended only after the blob is stored,
so every blob the snapshot refers to is already on disk when the blob
directory is copied. Keys and the token keep their 0600 mode.

PostgreSQL databases are not copied here: the operator's pg_dump (or base
backup) covers them, and the report says so.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

from node.config import KEY_FILE, TOKEN_FILE, load_config
from node.errors import NodeError
from node.store.database import is_postgres

__all__ = ["backup_node"]

_SQLITE_PREFIX = "sqlite+aiosqlite:///"
_PRIVATE = (KEY_FILE, TOKEN_FILE)


def _sqlite_path(url: str) -> Path:
    if not url.startswith(_SQLITE_PREFIX):
        raise NodeError(f"cannot back up database {url.split(':', 1)[0]}")
    return Path(url[len(_SQLITE_PREFIX) :])


def _copy_private(source: Path, target: Path) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    fd = os.open(target, flags, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(source.read_bytes())


def backup_node(data_dir: Path, out_dir: Path) -> list[str]:
    """Copy data_dir's node into the new directory out_dir; return a line per part."""
    config = load_config(data_dir)
    if out_dir.exists():
        raise NodeError(f"{out_dir} exists; a backup goes into a new directory")
    out_dir.mkdir(parents=True, mode=0o700)
    report: list[str] = []

    if is_postgres(config.database_url):
        report.append("database: PostgreSQL, not copied (use pg_dump or a base backup)")
    else:
        source = _sqlite_path(config.database_url)
        target = out_dir / source.name
        with (
            closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src,
            closing(sqlite3.connect(target)) as dst,
        ):
            src.backup(dst)
        target.chmod(0o600)
        report.append(f"database: {target.name} ({target.stat().st_size} bytes, consistent)")

    for name in ("config.yaml", *_PRIVATE):
        source = data_dir / name
        if name in _PRIVATE:
            _copy_private(source, out_dir / name)
        else:
            shutil.copy2(source, out_dir / name)
    report.append(f"keys and config: config.yaml, {KEY_FILE} and {TOKEN_FILE} (mode 0600)")

    blob_root = config.blob_dir / "sha256"
    count = 0
    if blob_root.is_dir():
        for blob in blob_root.rglob("*"):
            if blob.is_file():
                target = out_dir / "blobs" / "sha256" / blob.relative_to(blob_root)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(blob, target)
                count += 1
    report.append(f"blobs: {count} files")
    return report

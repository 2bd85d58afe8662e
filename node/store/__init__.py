"""Storage: schema, engines, migrations, the log store and the blob store.

ORM or Core rows never leave this package: callers get protocol objects or
plain dataclasses.
"""

from __future__ import annotations

from node.store.blobs import BlobStore, BlobTooLarge
from node.store.database import create_engine, is_postgres, migrate, migrate_sync
from node.store.logstore import LogRow, LogStore

__all__ = [
    "BlobStore",
    "BlobTooLarge",
    "LogRow",
    "LogStore",
    "create_engine",
    "is_postgres",
    "migrate",
    "migrate_sync",
]

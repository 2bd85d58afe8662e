"""A replay cache in the database, shared by every worker process of a node."""

from __future__ import annotations

from node.store.logstore import LogStore

__all__ = ["DatabaseNonceCache"]


class DatabaseNonceCache:
    def __init__(self, store: LogStore) -> None:
        self._store = store

    async def remember(
        self, keyid: str, nonce: str, *, created: int, expires: int, now: int
    ) -> bool:
        return await self._store.remember_nonce(keyid, nonce, expires=expires, now=now)

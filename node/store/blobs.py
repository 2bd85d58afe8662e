"""The content-addressed blob directory: <data>/blobs/sha256/ab/cdef….

Writes go to a temporary file that is fsynced and renamed into place, so a
blob is either complete under its hash or absent; a crash leaves at most a
stray temporary file, removed at start.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

__all__ = ["BlobStore", "BlobStoreFull", "BlobTooLarge", "is_sha256_hex"]

_HEX_RE = re.compile(r"[0-9a-f]{64}")


def is_sha256_hex(text: str) -> bool:
    return _HEX_RE.fullmatch(text) is not None


class BlobTooLarge(Exception):
    """The upload exceeds the configured limit."""


class BlobStoreFull(Exception):
    """The disk is full; nothing was stored."""


class BlobStore:
    """Stores immutable files by their SHA-256."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._tmp = root / "tmp"
        (root / "sha256").mkdir(parents=True, exist_ok=True)
        self._tmp.mkdir(parents=True, exist_ok=True)

    def clean_temporary(self) -> None:
        """Remove partial uploads a crash left behind."""
        for stray in self._tmp.iterdir():
            stray.unlink(missing_ok=True)

    def path(self, sha256_hex: str) -> Path:
        if not is_sha256_hex(sha256_hex):
            raise ValueError("not a lowercase SHA-256 hex digest")
        return self.root / "sha256" / sha256_hex[:2] / sha256_hex[2:]

    def exists(self, sha256_hex: str) -> bool:
        return self.path(sha256_hex).is_file()

    async def put(
        self, chunks: AsyncIterator[bytes], *, expected_sha256: bytes | None = None
    ) -> tuple[str, int]:
        """Store a stream; return (sha256 hex, size).

        Raises BlobTooLarge, BlobStoreFull, or ValueError when the content does
        not hash to expected_sha256 (then nothing is stored).
        """
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise BlobTooLarge(f"larger than {self.max_bytes} bytes")
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                await asyncio.to_thread(os.fsync, out.fileno())
            if expected_sha256 is not None and digest.digest() != expected_sha256:
                raise ValueError("the content does not match its Content-Digest")
            hexdigest = digest.hexdigest()
            await asyncio.to_thread(self._commit, tmp, self.path(hexdigest))
            return hexdigest, size
        except OSError as exc:
            if exc.errno in (28, 122):  # ENOSPC, EDQUOT
                raise BlobStoreFull("no space left for blobs") from exc
            raise
        finally:
            tmp.unlink(missing_ok=True)

    @staticmethod
    def _commit(tmp: Path, final: Path) -> None:
        if final.exists():
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(tmp, 0o644)
        os.replace(tmp, final)
        dir_fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

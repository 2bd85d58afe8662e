"""The node's own log: verify, queue, group-commit appends, serve proofs.

Requests verify signatures and schemas concurrently, then queue; one writer
task takes everything queued and commits it as one transaction with one
checkpoint (group commit), so throughput grows with concurrency while every
acknowledgement still follows a durable commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from node.store.logstore import AppendItem, AppendOutcome, LogRow, LogStore
from protocol.checkpoint import Checkpoint, NoteVerifier, sign_checkpoint
from protocol.did import Did
from protocol.errors import ProtocolError
from protocol.keys import AgentKey
from protocol.records import Envelope, Record, parse_body
from protocol.signing import leaf_bytes, open_leaf, record_id, sign, verify

__all__ = ["AppendResult", "LogService", "LogUnavailable", "ProofRequestError"]

logger = logging.getLogger(__name__)


class LogUnavailable(Exception):
    """The log could not be written (database down, shutting down); nothing was appended."""


class ProofRequestError(Exception):
    """A proof was asked for sizes or indexes the log cannot prove."""


@dataclass(frozen=True, slots=True)
class AppendResult:
    id: str
    index: int
    created: bool


class LogService:
    """Appends to and reads from the node's own log."""

    def __init__(self, store: LogStore, key: AgentKey, origin: str, *, batch_max: int) -> None:
        self.store = store
        self.key = key
        self.did: Did = key.did
        self.origin = origin
        self.verifier = NoteVerifier(origin, key.public_key)
        self.batch_max = batch_max
        self._queue: asyncio.Queue[tuple[AppendItem, asyncio.Future[AppendOutcome]]] = (
            asyncio.Queue()
        )
        self._writer: asyncio.Task[None] | None = None
        self.head: LogRow | None = None
        self.appended_total = 0
        self.batches_total = 0

    def sign(self, checkpoint: Checkpoint) -> bytes:
        return sign_checkpoint(checkpoint, self.key)

    async def start(self) -> None:
        await self.store.create_log(
            did=self.did, origin=self.origin, vkey=self.verifier.vkey, is_local=True, sign=self.sign
        )
        self.head = await self.store.head(self.did)
        self._writer = asyncio.create_task(self._write_loop(), name="log-writer")

    async def stop(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        while not self._queue.empty():
            _, fut = self._queue.get_nowait()
            if not fut.done():
                fut.set_exception(LogUnavailable("the node is shutting down"))
        if self.store.reader is not None:
            self.store.reader.close()

    @staticmethod
    def prepare(envelope: Envelope) -> AppendItem:
        """Verify signature and schema (no state needed). Raises ProtocolError."""
        record = verify(envelope)
        body = parse_body(record)
        leaf = leaf_bytes(envelope)
        return AppendItem(record=record, body=body, leaf=leaf, record_id=record_id(record))

    @staticmethod
    def prepare_leaf(data: bytes) -> AppendItem | None:
        """`prepare` for a body that is already a canonical leaf, in one pass; else None.

        What the reference client sends: parsing and checking the leaf as it
        is (open_leaf) spares serialising the record twice and the envelope
        once. None for anything that does not open and pass its schema, so
        that the caller's usual path gives the usual answer.
        """
        try:
            opened = open_leaf(data)
            body = parse_body(opened.envelope.record)
        except ProtocolError:
            return None
        record = opened.envelope.record
        return AppendItem(record=record, body=body, leaf=data, record_id=opened.record_id)

    async def append(self, envelope: Envelope) -> AppendResult:
        """Append a signed envelope; return its id and index once durable.

        Raises ProtocolError (bad or unauthorised record) or LogUnavailable.
        """
        item = self.prepare(envelope)
        outcome = await self.append_prepared(item)
        assert outcome.index is not None
        return AppendResult(item.record_id, outcome.index, outcome.created)

    async def append_prepared(self, item: AppendItem) -> AppendOutcome:
        if self._writer is None or self._writer.done():
            raise LogUnavailable("the log writer is not running")
        fut: asyncio.Future[AppendOutcome] = asyncio.get_running_loop().create_future()
        await self._queue.put((item, fut))
        outcome = await fut
        if outcome.error is not None:
            raise outcome.error
        return outcome

    async def append_own(
        self, record_type: str, body: dict[str, object], created: str
    ) -> AppendResult:
        """Sign a record with the node key and append it."""
        record = Record(type=record_type, author=self.did, created=created, body=body)
        return await self.append(sign(record, self.key))

    async def _write_loop(self) -> None:
        while True:
            first = await self._queue.get()
            batch = [first]
            while len(batch) < self.batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            items = [item for item, _ in batch]
            started = time.perf_counter()
            try:
                outcomes, head = await self.store.append_batch(self.did, items, self.sign)
            except asyncio.CancelledError:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(LogUnavailable("the node is shutting down"))
                raise
            except Exception as exc:  # the database failed: nothing of this batch is stored
                logger.exception("append of %d records failed", len(batch))
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(LogUnavailable(f"storage failed: {type(exc).__name__}"))
                continue
            self.head = head
            self.batches_total += 1
            self.appended_total += sum(1 for o in outcomes if o.created)
            logger.debug(
                "committed batch of %d in %.1f ms, size %d",
                len(batch),
                (time.perf_counter() - started) * 1000,
                head.size,
            )
            for (_, fut), outcome in zip(batch, outcomes, strict=True):
                if not fut.done():
                    fut.set_result(outcome)

    async def current_head(self) -> LogRow:
        """The stored head (re-read: another process may share the database)."""
        head = await self.store.head(self.did)
        if head is None:
            raise LogUnavailable("the log has not been created")
        self.head = head
        return head

    async def inclusion(self, index: int, tree_size: int) -> list[bytes]:
        head = await self.current_head()
        if not 0 <= index < tree_size <= head.size:
            raise ProofRequestError(
                f"need 0 <= index < tree_size <= {head.size}, "
                f"got index={index} tree_size={tree_size}"
            )
        return await self.store.inclusion_proof(self.did, index, tree_size)

    async def consistency(self, old: int, new: int) -> list[bytes]:
        head = await self.current_head()
        if not 0 < old <= new <= head.size:
            raise ProofRequestError(f"need 0 < from <= to <= {head.size}, got from={old} to={new}")
        return await self.store.consistency_proof(self.did, old, new)

"""Worker processes that open a followed log's leaves during sync.

Opening a leaf (`protocol.signing.check_leaves`: canonical form, shape,
signature, record id, leaf hash) is most of a follower's work and needs no
state, so `LeafWorkers` spreads it over child processes. Each child is a
fresh interpreter that imports `protocol` only (a third of a second, started
when a round first needs it, while the round's first batch is fetched) and
answers requests on its stdin and stdout; it exits when its stdin closes,
so a node that dies, even by SIGKILL, leaves no worker behind. (A
multiprocessing pool would fork the node with its sockets and threads, or
have a fork server import the whole node first.)

Frames are an 8-byte big-endian length and a `marshal` payload: a list of
leaves one way, check_leaves' tuples of plain values the other. marshal
reads nothing but values, and both ends are this interpreter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import marshal
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import protocol
from protocol.signing import CheckedLeaf, check_leaves

__all__ = ["CHUNK_LEAVES", "LeafWorkers"]

logger = logging.getLogger(__name__)

# Leaves per request: small enough that the workers share a batch evenly and
# answer early, large enough that a request's own cost vanishes.
CHUNK_LEAVES = 500
# A worker's answer is far smaller than this (about 400 bytes per leaf).
_MAX_FRAME = 256 * 1024 * 1024
_STOP_TIMEOUT_S = 5.0

_WORKER_CODE = """
import marshal, sys
from protocol.signing import check_leaves
read, write = sys.stdin.buffer.read, sys.stdout.buffer
while True:
    head = read(8)
    if len(head) < 8:
        break
    leaves = marshal.loads(read(int.from_bytes(head, "big")))
    answer = marshal.dumps(check_leaves(leaves))
    write.write(len(answer).to_bytes(8, "big") + answer)
    write.flush()
"""


class _Worker:
    """One child process; one request at a time."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, env: dict[str, str]) -> _Worker:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _WORKER_CODE,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )
        return cls(proc)

    async def check(self, leaves: Sequence[bytes]) -> list[CheckedLeaf | None]:
        stdin, stdout = self.proc.stdin, self.proc.stdout
        if stdin is None or stdout is None:
            raise ConnectionError("worker pipes are closed")
        payload = marshal.dumps(list(leaves))
        stdin.write(len(payload).to_bytes(8, "big") + payload)
        await stdin.drain()
        size = int.from_bytes(await stdout.readexactly(8), "big")
        if size > _MAX_FRAME:
            raise ConnectionError("worker answer too large")
        # Our own child's answer, values only (see the module docstring).
        answer: Any = marshal.loads(await stdout.readexactly(size))  # noqa: S302
        if not isinstance(answer, list) or len(answer) != len(leaves):
            raise ConnectionError("worker answered for other leaves")
        return answer

    async def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), _STOP_TIMEOUT_S)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()


class LeafWorkers:
    """A pool of `count` leaf-opening processes, started on first use; `close()` stops it.

    If a worker cannot be started, or fails, its share of the work is done
    in this process instead: sync slows down but never stalls.
    """

    def __init__(self, count: int) -> None:
        if count < 1:
            raise ValueError("a pool needs at least one worker")
        self.count = count
        # Idle workers; None stands for "no worker could be started".
        self._idle: asyncio.Queue[_Worker | None] = asyncio.Queue()
        self._live: set[_Worker] = set()
        self._starting = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self._disabled = False

    @property
    def pids(self) -> list[int]:
        """The process ids of the running workers."""
        return sorted(worker.proc.pid for worker in self._live)

    def _track(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def warm_up(self) -> None:
        """Start the missing workers in the background (a round is about to need them)."""
        while (
            not (self._closed or self._disabled) and len(self._live) + self._starting < self.count
        ):
            self._starting += 1
            self._track(asyncio.create_task(self._start_one()))

    async def _start_one(self) -> None:
        try:
            worker = await _Worker.start(_child_env())
        except OSError:
            logger.exception("could not start a sync worker process; opening leaves here")
            self._disabled = True
            self._idle.put_nowait(None)
            return
        finally:
            self._starting -= 1
        if self._closed:
            await worker.stop()
            return
        self._live.add(worker)
        self._idle.put_nowait(worker)

    async def check(self, leaves: Sequence[bytes]) -> list[CheckedLeaf | None]:
        """check_leaves over leaves, in chunks spread over the workers; results in order."""
        self.warm_up()
        requests = []
        for at in range(0, len(leaves), CHUNK_LEAVES):
            # A request outlives a cancelled caller, so that every answer is
            # read and no worker is left holding a stale one.
            request = asyncio.create_task(self._request(leaves[at : at + CHUNK_LEAVES]))
            self._track(request)
            requests.append(request)
        parts = await asyncio.shield(asyncio.gather(*requests))
        return [checked for part in parts for checked in part]

    async def _request(self, chunk: Sequence[bytes]) -> list[CheckedLeaf | None]:
        if self._closed or (self._disabled and not self._live):
            return check_leaves(chunk)
        worker = await self._idle.get()
        if worker is None:
            self._idle.put_nowait(None)  # wake the next waiter too
            return check_leaves(chunk)
        try:
            answer = await worker.check(chunk)
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            logger.warning("a sync worker process failed; starting another")
            self._live.discard(worker)
            with contextlib.suppress(Exception):
                await worker.stop()
            self.warm_up()
            return check_leaves(chunk)
        self._idle.put_nowait(worker)
        return answer

    async def close(self) -> None:
        """Stop every worker (idempotent); requests still running are cancelled."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        workers, self._live = list(self._live), set()
        for worker in workers:
            with contextlib.suppress(Exception):
                await worker.stop()


def _child_env() -> dict[str, str]:
    """This environment, with the directory this `protocol` came from first on the path."""
    root = str(Path(protocol.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env

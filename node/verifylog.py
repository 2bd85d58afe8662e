"""Verifying a node's whole log from outside, over HTTP.

Checks the well-known document binds the node's did to its log key, the
checkpoint's signature, every entry (canonical, signed, authorised at its
position, not repeated) and that the entries hash to the checkpoint's root.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from node.client import NodeClient
from node.errors import LogVerificationError
from protocol.checkpoint import NoteVerifier, open_checkpoint
from protocol.did import Did, public_key_from_did
from protocol.errors import InvalidCheckpoint, ProtocolError
from protocol.replay import LogReplay

__all__ = ["LogVerificationError", "VerifiedLog", "verify_remote_log"]


@dataclass(frozen=True, slots=True)
class VerifiedLog:
    did: Did
    origin: str
    size: int
    root: bytes
    members: int
    types: dict[str, int]


async def verify_remote_log(
    client: NodeClient, progress: Callable[[int, int], None] | None = None
) -> VerifiedLog:
    """Verify everything the node at client serves. Raises LogVerificationError."""
    info = await client.well_known()
    try:
        verifier = NoteVerifier.from_vkey(info.vkey)
        if verifier.name != info.origin:
            raise InvalidCheckpoint("the vkey's name is not the log origin")
        if verifier.public_key != public_key_from_did(info.did):
            raise InvalidCheckpoint("the log key is not the node's did key")
        signed = open_checkpoint(await client.checkpoint(), verifier)
    except ProtocolError as exc:
        raise LogVerificationError(f"checkpoint: {exc}") from exc
    size = signed.checkpoint.size
    replay = LogReplay.start(Did(info.did))
    types: dict[str, int] = {}
    async for batch in client.iter_entries(0, size):
        for leaf in batch:
            index = replay.size
            if index >= size:
                raise LogVerificationError("the node served more entries than its checkpoint holds")
            try:
                entry = replay.add(leaf)
            except ProtocolError as exc:
                raise LogVerificationError(f"entry {index}: {exc}") from exc
            types[entry.entry.record.type] = types.get(entry.entry.record.type, 0) + 1
        if progress is not None:
            progress(replay.size, size)
    try:
        replay.check_root(size, signed.checkpoint.root_hash)
    except ProtocolError as exc:
        raise LogVerificationError(str(exc)) from exc
    return VerifiedLog(
        did=Did(info.did),
        origin=info.origin,
        size=size,
        root=signed.checkpoint.root_hash,
        members=len(replay.authority.members),
        types=types,
    )

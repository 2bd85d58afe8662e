"""A node that catches up from a mirror passes on only what it verified (DESIGN.md §5).

node/api/federation.py: "A mirror serves only what it verified." Here C
follows A while A looks down to C (a proxy answers 503 to everything but A's
well-known document), so C reads A's log from M, a fake peer served by the
test that mirrors A. M serves A's genuine checkpoint and entries, plus
signature lines of the test's choosing after A's signature.

A signature line that C re-serves but that does not verify is harmful: a
verifier that knows the key it claims (C's own witness key, or a witness C
knows such as M) rejects the whole note. Go's sumdb/note `Open` takes the
first line of a known key and fails with InvalidSignatureError when it does
not verify, as the C2SP signed-note spec requires.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import AsyncIterator, Callable

import pytest
from fednet import (
    CountingProxy,
    FakeNode,
    FakeNodes,
    FedNet,
    FedNode,
    open_note,
    post_profiles,
    wait_for,
)

from protocol.checkpoint import (
    ALG_COSIGNATURE_V1,
    NoteVerifier,
    SignedCheckpoint,
    cosign_checkpoint,
    split_note,
    verify_cosignature,
)
from protocol.errors import ProtocolError
from protocol.keys import AgentKey

pytestmark = pytest.mark.slow


@pytest.fixture
async def fakes() -> AsyncIterator[FakeNodes]:
    server = FakeNodes()
    await server.start()
    try:
        yield server
    finally:
        await server.close()


def witness(name: str, public_key: bytes) -> NoteVerifier:
    return NoteVerifier(name, public_key, ALG_COSIGNATURE_V1)


def garbage_line(verifier: NoteVerifier) -> str:
    """A cosignature line with the witness's name and key hash and a bad signature."""
    # An 8-byte timestamp and 64 bytes that are not an Ed25519 signature of anything here.
    bad = hashlib.sha512(b"not a signature").digest()
    blob = verifier.key_hash + (1).to_bytes(8, "big") + bad
    return f"\u2014 {verifier.name} {base64.b64encode(blob).decode()}\n"


async def follow_through_mirror(
    fednet: FedNet, fakes: FakeNodes, extra_lines: Callable[[FedNode, FakeNode, bytes], str]
) -> tuple[FedNode, FedNode, FakeNode, SignedCheckpoint, bytes]:
    """A (3 records) is followed by C through the fake mirror M; returns a, c, m, A's
    genuine checkpoint and C's mirror of it as served."""
    a, c = fednet.node("A"), fednet.node("C")
    await a.start()
    await c.start()
    member = AgentKey.generate()
    await a.admit(member.did)
    await post_profiles(a, [member], 3, tag="mirror", clients=1)
    genuine = await open_note(a, None, a)
    leaves = await a.leaves(genuine.checkpoint.size)
    text, _ = split_note(genuine.note)

    m = fakes.add("M")
    m.mirrors[a.did] = (genuine.note + extra_lines(c, m, text).encode(), leaves)
    await c.add_peer(m.url)

    async def m_ok() -> bool:
        return (await c.peers())[m.did]["state"] == "ok"

    await wait_for(m_ok, "C to sync M's own (empty) log")
    proxy = CountingProxy(a.url, refuse=True)
    await proxy.start()
    try:
        added = await c.add_peer(proxy.url)
        assert added["did"] == a.did
        peer = await c.sync(a.did)
    finally:
        await proxy.close()
    assert peer["state"] == "ok", peer
    assert peer["verified_size"] == genuine.checkpoint.size, peer
    return a, c, m, genuine, await c.checkpoint(a.did)


def check_every_line_verifies(
    served: bytes, genuine: SignedCheckpoint, origin: str, witnesses: list[NoteVerifier]
) -> None:
    text, signatures = split_note(served)
    assert text == split_note(genuine.note)[0]
    known = {(w.name, w.key_hash): w for w in witnesses}
    for signature in signatures:
        if signature.name == origin:
            continue
        verifier = known.get((signature.name, signature.key_hash))
        assert verifier is not None, f"a line of an unknown key: {signature.line()}"
        try:
            verify_cosignature(text, signature, verifier)
        except ProtocolError as exc:
            raise AssertionError(
                f"C serves a line that does not verify ({exc}): {signature.line()}"
                f"the whole note:\n{served.decode()}"
            ) from exc


async def test_a_mirror_cannot_plant_a_line_in_the_followers_name(
    fednet: FedNet, fakes: FakeNodes
) -> None:
    def forged_for_c(c: FedNode, m: FakeNode, text: bytes) -> str:
        return garbage_line(witness(c.origin, c.public_key))

    a, c, _, genuine, served = await follow_through_mirror(fednet, fakes, forged_for_c)
    c_witness = witness(c.origin, c.public_key)
    assert garbage_line(c_witness).encode() not in served, served.decode()
    check_every_line_verifies(served, genuine, a.origin, [c_witness])


async def test_a_mirror_cannot_slip_a_bad_line_before_a_good_one(
    fednet: FedNet, fakes: FakeNodes
) -> None:
    """M sends a bad line in its own witness name, then a valid cosignature of its own.

    C may keep M's valid cosignature, but it must serve that one, not the bad
    line that came first with the same name and key hash.
    """

    def bad_then_good(c: FedNode, m: FakeNode, text: bytes) -> str:
        good = cosign_checkpoint(text, m.origin, m.key, timestamp=int(time.time())).line()
        return garbage_line(witness(m.origin, m.key.public_key)) + good

    a, c, m, genuine, served = await follow_through_mirror(fednet, fakes, bad_then_good)
    m_witness = witness(m.origin, m.key.public_key)
    check_every_line_verifies(
        served, genuine, a.origin, [witness(c.origin, c.public_key), m_witness]
    )

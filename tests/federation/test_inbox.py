"""POST /fed/v1/inbox on a real node: RFC 9421 signatures, replay window and nonce cache,
size and rate limits, and what a peer may push (cosignatures, equivocation evidence).

The peers that push are fake nodes served by the test (fednet.FakeNodes): a
well-known document for a key the test holds and a signed checkpoint of an
empty log, so that the node under test adds them as ordinary peers. F is the
one whose key the test uses to sign two checkpoints of one size with
different roots: valid fork evidence, which G (another fake peer) pushes.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fednet import FakeNodes, FedNet, FedNode, open_note, signed_headers, wait_for

from protocol.checkpoint import (
    ALG_COSIGNATURE_V1,
    Checkpoint,
    NoteVerifier,
    cosign_checkpoint,
    sign_checkpoint,
    split_note,
    verified_cosignatures,
)
from protocol.keys import AgentKey

pytestmark = pytest.mark.slow

MAX_REQUEST_BYTES = 64 * 1024
RATE_PER_S = 5.0
BURST = int(RATE_PER_S * 4)  # node/federation/service.py: bursts of four seconds' worth


@dataclass
class Setup:
    node: FedNode
    fakes: FakeNodes

    @property
    def inbox_url(self) -> str:
        return self.node.url + "/fed/v1/inbox"

    async def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        status, raw = await self.node.request("POST", "/fed/v1/inbox", data=body, headers=headers)
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw

    async def push(self, key: AgentKey, payload: Any, **kwargs: Any) -> tuple[int, Any]:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return await self.post(body, signed_headers(key, self.inbox_url, body, **kwargs))


@pytest.fixture
async def setup(fednet: FedNet) -> AsyncIterator[Setup]:
    # N syncs each fake once, when it is added, and then not for a minute: no round of the
    # background loop races the pushes (test_evidence_is_not_undone… makes that race on purpose).
    node = fednet.node(
        "N",
        inbox_rate_per_s=RATE_PER_S,
        max_request_bytes=MAX_REQUEST_BYTES,
        sync_interval_s=60,
        peer_timeout_s=30,
    )
    fakes = FakeNodes()
    await fakes.start()
    try:
        await node.start()
        for label in ("F", "G", "H"):
            fake = fakes.add(label)
            added = await node.add_peer(fake.url)
            assert added["did"] == fake.did

        async def all_synced() -> bool:
            peers = await node.peers()
            return all(p["state"] == "ok" for p in peers.values())

        await wait_for(all_synced, "N to sync each fake once", timeout_s=10)
        yield Setup(node, fakes)
    finally:
        await fakes.close()


def fork_evidence(fake: Any) -> dict[str, Any]:
    """Two checkpoints of the fake's log, both of size 5, with different roots."""
    return {
        "kind": "fork",
        "vkey": fake.vkey,
        "note_a": fake.sign_checkpoint(5, hashlib.sha256(b"tree a").digest()).decode(),
        "note_b": fake.sign_checkpoint(5, hashlib.sha256(b"tree b").digest()).decode(),
        "proof": [],
    }


def cosignature(key: AgentKey, name: str, checkpoint_text: bytes) -> str:
    return cosign_checkpoint(checkpoint_text, name, key, timestamp=int(time.time())).line()


async def test_inbox_refuses_what_it_must(setup: Setup) -> None:
    node, g = setup.node, setup.fakes.nodes["G"]
    f = setup.fakes.nodes["F"]
    signed = await open_note(node, None, node)
    size = signed.checkpoint.size
    text, _ = split_note(signed.note)
    good_line = cosignature(g.key, g.origin, text)
    raw = base64.b64decode(good_line.split(" ")[2])
    bad_line = good_line.replace(
        good_line.split(" ")[2], base64.b64encode(raw[:-1] + bytes([raw[-1] ^ 1])).decode()
    )
    same = fork_evidence(f)
    same["note_b"] = same["note_a"]
    stranger = setup.fakes.add("X")  # served, but not a peer of N
    other_name = NoteVerifier("fake/F-elsewhere", f.key.public_key)
    renamed = {
        **fork_evidence(f),
        "vkey": other_name.vkey,
        "note_a": sign_checkpoint(Checkpoint(other_name.name, 5, b"a" * 32), f.key).decode(),
        "note_b": sign_checkpoint(Checkpoint(other_name.name, 5, b"b" * 32), f.key).decode(),
    }
    hint = json.dumps({"kind": "hint"}).encode()
    replayed = signed_headers(g.key, setup.inbox_url, hint)
    assert (await setup.post(hint, replayed))[0] == 202

    cases: list[tuple[str, int, Callable[[], Awaitable[tuple[int, Any]]]]] = [
        ("unsigned", 401, lambda: setup.post(hint, {"Content-Type": "application/json"})),
        ("not-a-peer", 403, lambda: setup.push(AgentKey.generate(), {"kind": "hint"})),
        ("replayed", 401, lambda: setup.post(hint, replayed)),
        ("oversized", 413, lambda: setup.push(g.key, b"{" + b" " * MAX_REQUEST_BYTES + b"}")),
        ("stale-created", 401, lambda: setup.push(g.key, {"kind": "hint"}, now=time.time() - 600)),
        ("future-created", 401, lambda: setup.push(g.key, {"kind": "hint"}, now=time.time() + 600)),
        ("malformed-json", 400, lambda: setup.push(g.key, b'{"kind": "hint",')),
        ("unknown-kind", 400, lambda: setup.push(g.key, {"kind": "gossip"})),
        (
            "invalid-cosignature",
            422,
            lambda: setup.push(
                g.key, {"kind": "cosignature", "log": node.did, "size": size, "line": bad_line}
            ),
        ),
        (
            "cosignature-by-another-witness-name",
            422,
            lambda: setup.push(
                g.key,
                {
                    "kind": "cosignature",
                    "log": node.did,
                    "size": size,
                    "line": cosignature(g.key, "someone/else", text),
                },
            ),
        ),
        (
            "cosignature-for-a-size-never-had",
            404,
            lambda: setup.push(
                g.key,
                {"kind": "cosignature", "log": node.did, "size": size + 1000, "line": good_line},
            ),
        ),
        (
            "cosignature-for-another-log",
            400,
            lambda: setup.push(
                g.key, {"kind": "cosignature", "log": f.did, "size": size, "line": good_line}
            ),
        ),
        (
            "evidence-proving-nothing",
            422,
            lambda: setup.push(g.key, {"kind": "evidence", "evidence": same}),
        ),
        (
            "evidence-not-signed-by-the-log",
            422,
            lambda: setup.push(
                g.key,
                {"kind": "evidence", "evidence": {**fork_evidence(f), "vkey": g.vkey}},
            ),
        ),
    ]
    cases += [
        (
            "evidence-about-a-log-not-followed",
            422,
            lambda: setup.push(g.key, {"kind": "evidence", "evidence": fork_evidence(stranger)}),
        ),
        (
            "evidence-under-another-log-name",
            422,
            lambda: setup.push(g.key, {"kind": "evidence", "evidence": renamed}),
        ),
    ]
    wrong: list[str] = []
    for case_id, expected, request in cases:
        status, answer = await request()
        if status != expected:
            wrong.append(f"{case_id}: expected {expected}, got {status} {answer!r:.300}")
        elif not (isinstance(answer, dict) and answer.get("status") == expected):
            wrong.append(f"{case_id}: not a problem+json body: {answer!r:.300}")
    assert not wrong, "\n".join(wrong)

    # Nothing of that was stored: no cosignature on the checkpoint, no evidence, F still ok.
    assert (await node.checkpoint()) == signed.note
    assert (await node.get_json("/fed/v1/evidence")) == {"evidence": []}
    assert (await node.peers())[f.did]["state"] == "ok"


async def test_inbox_accepts_a_cosignature_and_fork_evidence(setup: Setup) -> None:
    node, fakes = setup.node, setup.fakes
    f, g = fakes.nodes["F"], fakes.nodes["G"]
    signed = await open_note(node, None, node)
    text, _ = split_note(signed.note)
    line = cosignature(g.key, g.origin, text)
    payload = {"kind": "cosignature", "log": node.did, "size": signed.checkpoint.size, "line": line}
    assert await setup.push(g.key, payload) == (202, {"accepted": "cosignature", "new": True})
    assert await setup.push(g.key, payload) == (202, {"accepted": "cosignature", "new": False})
    served = await node.checkpoint()
    assert served == signed.note + line.encode()
    served_text, signatures = split_note(served)
    witness = NoteVerifier(g.origin, g.key.public_key, ALG_COSIGNATURE_V1)
    assert set(verified_cosignatures(served_text, signatures, [witness])) == {g.key.public_key}

    evidence = fork_evidence(f)
    status, answer = await setup.push(g.key, {"kind": "evidence", "evidence": evidence})
    assert (status, answer) == (202, {"accepted": "evidence", "new": True})
    listed = (await node.get_json("/fed/v1/evidence"))["evidence"]
    assert [(e["log"], e["kind"], e["evidence"]) for e in listed] == [(f.did, "fork", evidence)]
    assert (await node.peers())[f.did]["state"] == "equivocating"
    # G, the messenger, is not blamed.
    assert (await node.peers())[g.did]["state"] == "ok"


async def test_evidence_is_not_undone_by_a_sync_round_in_flight(setup: Setup) -> None:
    """A peer marked `equivocating` while a sync round of it is in flight stays marked.

    F's checkpoint answer is held until the evidence against F has been
    accepted; the round then completes. The evidence must win: the round
    must not set F back to `ok` (and keep following and cosigning it).
    """
    node, fakes = setup.node, setup.fakes
    g = fakes.nodes["G"]
    f = fakes.add("F2")
    f.hold = asyncio.Event()
    await node.add_peer(f.url)
    await wait_for(lambda: f.checkpoint_requests > 0, "N to ask F2 for its checkpoint")
    status, _ = await setup.push(g.key, {"kind": "evidence", "evidence": fork_evidence(f)})
    assert status == 202
    assert (await node.peers())[f.did]["state"] == "equivocating"
    f.hold.set()
    # Rounds of one peer are serialised: this admin round starts once the held one is over.
    after = await node.sync(f.did)
    assert after["state"] == "equivocating", f"the round in flight set F2 back to {after!r}"
    assert (await node.peers())[f.did]["state"] == "equivocating"


async def test_a_request_replayed_after_a_restart_is_refused(setup: Setup) -> None:
    """The nonce cache outlives a restart: within the 5-minute window, a request seen
    before the node restarted is still a replay."""
    node, g = setup.node, setup.fakes.nodes["G"]
    hint = json.dumps({"kind": "hint"}).encode()
    headers = signed_headers(g.key, setup.inbox_url, hint)
    assert (await setup.post(hint, headers))[0] == 202
    assert (await setup.post(hint, headers))[0] == 401
    assert node.stop() == 0, "no graceful shutdown on SIGTERM"
    await node.start()
    status, answer = await setup.post(hint, headers)
    assert status == 401, f"replay accepted after a restart: {status} {answer!r:.300}"


async def test_inbox_rate_limits_a_flood_per_peer(setup: Setup) -> None:
    """H floods: the burst passes, then 429; G is not affected; H recovers at the rate."""
    g, h = setup.fakes.nodes["G"], setup.fakes.nodes["H"]
    hint = json.dumps({"kind": "hint"}).encode()
    # Signed beforehand and sent at once, so that little refills during the flood.
    requests = [signed_headers(h.key, setup.inbox_url, hint) for _ in range(3 * BURST)]
    started = time.monotonic()
    answers = await asyncio.gather(*(setup.post(hint, headers) for headers in requests))
    elapsed = time.monotonic() - started
    statuses = [status for status, _ in answers]
    assert set(statuses) <= {202, 429}, statuses
    accepted = statuses.count(202)
    # A token bucket: the whole burst, plus at most what refilled meanwhile (+1 for rounding).
    assert BURST <= accepted <= BURST + RATE_PER_S * elapsed + 1, (accepted, elapsed)
    assert 429 in statuses
    refused = next(answer for status, answer in answers if status == 429)
    assert refused["status"] == 429
    # Another peer is not limited by H's flood; H gets a token back within 1/rate s.
    assert (await setup.push(g.key, {"kind": "hint"}))[0] == 202
    await asyncio.sleep(1.5 / RATE_PER_S)
    assert (await setup.push(h.key, {"kind": "hint"}))[0] == 202

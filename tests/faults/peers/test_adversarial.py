"""A real node against a lying peer (issue 4): each lie ends in the right peer state,
nothing invalid is stored, and the node stays responsive throughout.

The victim follows tests/faults/peers/evil_peer.py over HTTP. Each test first
lets it verify an honest prefix of the evil log, then switches the peer to
one misbehaviour and runs a sync round. What the victim holds of the evil
log afterwards is read back from its mirror (`/fed/v1/logs/{did}/…`) and
checked against what the test knows to be honest: the leaves byte for byte,
every entry replayed with `protocol.replay.LogReplay`, and the root computed
here with hashlib (RFC 9162 §2.1), independently of protocol.merkle.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import rfc8785
from evil_peer import DUPLICATES, FORGERIES, HONEST_SIZE, UNAUTHORISED, EvilPeer, Mode
from fednet import tree_root
from victim_node import Victim, VictimFactory

from protocol.checkpoint import open_checkpoint
from protocol.errors import ProtocolError
from protocol.evidence import Evidence, check_evidence
from protocol.replay import LogReplay

EvilFactory = Callable[[], Awaitable[EvilPeer]]
# Lies in the log's content, each under a validly signed checkpoint: (mode, variant).
CONTENT_LIES = [
    *[(Mode.FORGED_ENTRY, name) for name in FORGERIES],
    *[(Mode.UNADMITTED_AUTHOR, name) for name in UNAUTHORISED],
    (Mode.WRONG_ENTRIES, ""),
    (Mode.NO_ENTRIES, ""),
    (Mode.EXTRA_ENTRIES, ""),
]


async def follow_honest(victim: Victim, evil: EvilPeer, size: int) -> None:
    """The victim follows the evil peer while it serves `size` honest entries."""
    evil.publish(size)
    peer = await victim.follow(evil)
    assert (peer["state"], peer["verified_size"]) == ("ok", size), peer
    await assert_holds_honest_prefix(victim, evil, size)


async def assert_holds_honest_prefix(victim: Victim, evil: EvilPeer, size: int) -> None:
    """The victim's mirror of the evil log is exactly the honest log's first `size` entries."""
    did = evil.key.did
    reply = await victim.get(f"/fed/v1/logs/{did}/checkpoint")
    assert reply.status == 200, reply.body
    # The note the evil peer signed for the honest tree of this size, with the
    # victim's own cosignatures after it (Ed25519 signatures are deterministic).
    assert reply.body.startswith(evil.honest_log(size).note)
    checkpoint = open_checkpoint(reply.body, evil.verifier).checkpoint
    assert checkpoint.size == size
    honest = list(evil.honest[:size])
    assert checkpoint.root_hash == tree_root(honest)

    leaves: list[bytes] = []
    while len(leaves) < size:
        page = await victim.get(
            f"/fed/v1/logs/{did}/entries", params={"start": str(len(leaves)), "end": str(size)}
        )
        assert page.status == 200, page.body
        lines = page.body.split(b"\n")
        assert lines[-1] == b""
        assert len(lines) > 1
        leaves.extend(lines[:-1])
    assert leaves == honest
    replay = LogReplay.start(did)
    for leaf in leaves:
        replay.add(leaf)
    replay.check_root(size, checkpoint.root_hash)
    # Nothing beyond the verified prefix is served.
    beyond = await victim.get(
        f"/fed/v1/logs/{did}/entries", params={"start": str(size), "end": str(size + 8)}
    )
    assert beyond.status == 400, beyond.body
    logs = (await victim.get("/fed/v1/logs")).json()["logs"]
    assert [(log["did"], log["size"]) for log in logs] == [(did, size)]
    assert (await victim.peer(did))["verified_size"] == size


async def assert_responsive(victim: Victim) -> None:
    """GET /healthz and GET /api/v1/peers each answer within one second."""
    for path in ("/healthz", "/api/v1/peers"):
        began = time.monotonic()
        reply = await victim.get(path, timeout=1.0)
        assert reply.status == 200, (path, reply.body)
        assert time.monotonic() - began < 1.0, path


async def assert_no_more_fetches(victim: Victim, evil: EvilPeer, state: str) -> None:
    """Later rounds leave a stopped peer alone, even once it serves the truth again."""
    before = evil.fetches()
    evil.publish(evil.published)
    for _ in range(2):
        peer = await victim.sync(evil.key.did)
        assert peer["state"] == state, peer
    assert evil.fetches() == before, evil.requests[-5:]


def evidence_against(items: list[dict[str, Any]], evil: EvilPeer) -> Evidence:
    """The one piece of evidence the victim serves, checked as any third party would."""
    assert len(items) == 1, items
    assert items[0]["log"] == evil.key.did
    evidence = Evidence.from_dict(items[0]["evidence"])
    assert items[0]["kind"] == evidence.kind
    verifier = check_evidence(evidence)
    assert verifier.public_key == evil.key.public_key
    assert verifier.vkey == evil.verifier.vkey
    return evidence


def test_the_evil_peer_lies_exactly_where_it_claims_to() -> None:
    """Control of the fixture itself, without a node: its honest log replays, each bad
    entry is refused by `LogReplay` at its own index and nowhere before, and its
    forks and shrinks have the sizes and roots they are meant to have."""
    evil = EvilPeer()
    honest = evil.publish(HONEST_SIZE)
    replay = LogReplay.start(evil.key.did)
    for leaf in honest.leaves:
        replay.add(leaf)
    replay.check_root(HONEST_SIZE, tree_root(evil.honest))
    open_checkpoint(honest.note, evil.verifier)

    evil.publish(5)
    for mode, variant in CONTENT_LIES[: len(FORGERIES) + len(UNAUTHORISED)]:
        served = evil.set_mode(mode, variant=variant)
        open_checkpoint(served.note, evil.verifier)
        replay = LogReplay.start(evil.key.did)
        *good, bad = served.leaves[:-1]
        for leaf in good:
            replay.add(leaf)
        with pytest.raises(ProtocolError):
            replay.add(bad)

    evil.publish(7)
    fork = evil.set_mode(Mode.FORK)
    assert fork.size == 7
    assert tree_root(fork.leaves) != tree_root(evil.honest[:7])
    for smaller in (1, 4, 5):
        shrunk = evil.set_mode(Mode.SHRINK_NOT_PREFIX, size=smaller)
        assert shrunk.size == smaller
        assert tree_root(shrunk.leaves) != tree_root(evil.honest[:smaller])
    prefix = evil.set_mode(Mode.SHRINK_PREFIX, size=4)
    assert prefix.leaves == evil.honest[:4]


async def test_the_honest_evil_peer_is_followed_and_verified(
    make_victim: VictimFactory, make_evil: EvilFactory
) -> None:
    """Control: while it tells the truth, the test peer is a valid peer the victim follows."""
    victim, evil = await make_victim(), await make_evil()
    await follow_honest(victim, evil, 5)
    evil.publish(11)
    peer = await victim.sync(evil.key.did)
    assert (peer["state"], peer["verified_size"], peer["fetched_entries"]) == ("ok", 11, 11)
    await assert_holds_honest_prefix(victim, evil, 11)
    # fetched_entries counts every entry fetched so far (5 + 6). The victim asked for
    # exactly the new entries, after a proof that 5 is a prefix of 11.
    assert "GET /fed/v1/proof/consistency?from=5&to=11" in evil.requests
    assert "GET /fed/v1/entries?start=5&end=11" in evil.requests
    assert await victim.evidence() == []


@pytest.mark.parametrize(
    ("mode", "variant"), CONTENT_LIES, ids=[f"{m}:{v}" if v else str(m) for m, v in CONTENT_LIES]
)
async def test_an_invalid_entry_makes_the_peer_invalid_and_nothing_is_stored(
    make_victim: VictimFactory, make_evil: EvilFactory, mode: Mode, variant: str
) -> None:
    """A validly signed checkpoint covering an entry that is forged, unauthorised or
    not the one committed to: the source is `invalid`, and no entry of the batch is
    kept, not even the valid one before the bad one (no honest checkpoint covers it)."""
    victim, evil = await make_victim(), await make_evil()
    await follow_honest(victim, evil, 5)
    served = evil.set_mode(mode, variant=variant)
    assert served.size > 5
    peer = await victim.sync(evil.key.did)
    assert (peer["state"], peer["verified_size"]) == ("invalid", 5), peer
    assert peer["detail"]
    await assert_holds_honest_prefix(victim, evil, 5)
    assert await victim.evidence() == []
    await assert_responsive(victim)
    await assert_no_more_fetches(victim, evil, "invalid")


async def test_with_small_batches_only_entries_before_a_forged_one_are_kept(
    make_victim: VictimFactory, make_evil: EvilFactory
) -> None:
    """With one-entry batches, the valid entry before the forged one is stored on its
    own, once the peer proved it consistent with the signed checkpoint
    (specs/03-federation.md §3.5: a bad leaf fails its own batch, not earlier ones).
    It is valid and authorised, and nothing at or after the forged entry is kept;
    the mirror's checkpoint stays the honest one."""
    victim, evil = await make_victim(sync_batch=1), await make_evil()
    await follow_honest(victim, evil, 5)
    evil.set_mode(Mode.FORGED_ENTRY, variant="flipped-signature-bit")
    peer = await victim.sync(evil.key.did)
    assert (peer["state"], peer["verified_size"]) == ("invalid", 6), peer
    did = evil.key.did
    note = (await victim.get(f"/fed/v1/logs/{did}/checkpoint")).body
    assert note.startswith(evil.honest_log(5).note)
    page = await victim.get(f"/fed/v1/logs/{did}/entries", params={"start": "0", "end": "9"})
    assert page.status == 200
    assert page.body.split(b"\n")[:-1] == [*evil.honest[:5], evil.log.leaves[5]]
    replay = LogReplay.start(did)
    for leaf in page.body.split(b"\n")[:-1]:
        replay.add(leaf)
    assert replay.frontier.root() == tree_root(list(evil.log.leaves[:6]))
    await assert_no_more_fetches(victim, evil, "invalid")


def record_id_of(leaf: bytes) -> str:
    """specs/01-records.md §5.1, with rfc8785 and hashlib: the id of the leaf's record."""
    record = json.loads(leaf)["record"]
    return "sha256:" + hashlib.sha256(rfc8785.dumps(record)).hexdigest()


def test_the_duplicate_lies_repeat_an_earlier_entry_byte_for_byte() -> None:
    """Control of the fixture: each duplicate lie serves, at index 6 after a published
    prefix of 5, a leaf equal to an earlier one (entry 5, the new entry, or entry 2,
    an honest one), which only the once-only rule refuses: every entry before it
    replays, and `LogReplay` refuses the repeat, naming both indices."""
    evil = EvilPeer()
    evil.publish(5)
    for variant, first in (("repeat-of-new-entry", 5), ("repeat-of-stored-entry", 2)):
        served = evil.set_mode(Mode.DUPLICATE_ENTRY, variant=variant)
        open_checkpoint(served.note, evil.verifier)
        assert served.size == 8
        assert served.leaves[:5] == evil.honest[:5]
        assert served.leaves[6] == served.leaves[first]
        assert len(set(served.leaves)) == 7
        replay = LogReplay.start(evil.key.did)
        for leaf in served.leaves[:6]:
            replay.add(leaf)
        rid = record_id_of(served.leaves[first])
        with pytest.raises(ProtocolError, match=f"entry 6 repeats record {rid} of entry {first}"):
            replay.add(served.leaves[6])
        assert replay.size == 6


# (variant, sync_batch, verified size after the round, index of the entry repeated).
# With the default batch the new entries form one batch, none of which is kept;
# with one-entry batches the new entry before the repeat is kept on its own.
DUPLICATE_CASES = [
    ("repeat-of-new-entry", 4000, 5, 5),
    ("repeat-of-new-entry", 1, 6, 5),
    ("repeat-of-stored-entry", 4000, 5, 2),
    ("repeat-of-stored-entry", 1, 6, 2),
]


@pytest.mark.parametrize(
    ("variant", "batch", "kept", "first"),
    DUPLICATE_CASES,
    ids=[f"{v}:batch-{b}" for v, b, _, _ in DUPLICATE_CASES],
)
async def test_an_entry_repeating_an_earlier_one_makes_the_peer_invalid(
    make_victim: VictimFactory,
    make_evil: EvilFactory,
    variant: str,
    batch: int,
    kept: int,
    first: int,
) -> None:
    """The same signed record appended twice (specs/01-records.md §6, check 6): the
    repeat comes in the batch of the entry it repeats, or repeats one the victim
    stored in an earlier round. Either way the peer is `invalid` with a reason that
    names both entries and the record, not retried forever on the database's unique
    constraint; what verified before the repeat's batch is kept, nothing after."""
    assert variant in DUPLICATES
    victim, evil = await make_victim(sync_batch=batch), await make_evil()
    await follow_honest(victim, evil, 5)
    served = evil.set_mode(Mode.DUPLICATE_ENTRY, variant=variant)
    rid = record_id_of(evil.honest[2] if first == 2 else evil.alternative(1))
    peer = await victim.sync(evil.key.did)
    assert (peer["state"], peer["verified_size"]) == ("invalid", kept), peer
    assert peer["detail"] == f"entry 6 repeats record {rid} of entry {first}", peer

    did = evil.key.did
    note = (await victim.get(f"/fed/v1/logs/{did}/checkpoint")).body
    assert note.startswith(evil.honest_log(5).note)
    page = await victim.get(f"/fed/v1/logs/{did}/entries", params={"start": "0", "end": "9"})
    assert page.status == 200, page.body
    stored = page.body.split(b"\n")[:-1]
    assert stored == [*evil.honest[:5], evil.alternative(1)][:kept]
    assert stored == list(served.leaves[:kept])
    beyond = await victim.get(
        f"/fed/v1/logs/{did}/entries", params={"start": str(kept), "end": "9"}
    )
    assert beyond.status == 400, beyond.body
    replay = LogReplay.start(did)
    for leaf in stored:
        replay.add(leaf)
    assert replay.frontier.root() == tree_root(stored)
    assert await victim.evidence() == []
    await assert_responsive(victim)
    await assert_no_more_fetches(victim, evil, "invalid")


@pytest.mark.parametrize("size", [5, 8], ids=["size-5", "size-8"])
async def test_a_fork_at_the_verified_size_is_equivocation_with_evidence(
    make_victim: VictimFactory, make_evil: EvilFactory, size: int
) -> None:
    """Two validly signed checkpoints of one size with different roots: `equivocating`,
    and the two notes are served as fork evidence that anyone can check."""
    victim, evil = await make_victim(), await make_evil()
    await follow_honest(victim, evil, size)
    fork = evil.set_mode(Mode.FORK)
    assert fork.size == size
    assert fork.note != evil.honest_log(size).note
    peer = await victim.sync(evil.key.did)
    assert (peer["state"], peer["verified_size"]) == ("equivocating", size), peer

    evidence = evidence_against(await victim.evidence(), evil)
    assert evidence.kind == "fork"
    assert {evidence.note_a, evidence.note_b} == {evil.honest_log(size).note, fork.note}
    await assert_holds_honest_prefix(victim, evil, size)
    await assert_responsive(victim)
    await assert_no_more_fetches(victim, evil, "equivocating")


async def test_a_fork_that_grows_is_equivocation_with_evidence(
    make_victim: VictimFactory, make_evil: EvilFactory
) -> None:
    """A larger checkpoint whose tree does not extend the verified one, with the
    consistency proof of its own tree: that proof implies another root for size 5
    than the one the log signed, which is `inconsistent` evidence (5 is not a power
    of two, so the proof carries the old root's ingredients)."""
    victim, evil = await make_victim(), await make_evil()
    await follow_honest(victim, evil, 5)
    grown = evil.set_mode(Mode.FORK_EXTENDED, size=9)
    peer = await victim.sync(evil.key.did)
    assert (peer["state"], peer["verified_size"]) == ("equivocating", 5), peer
    evidence = evidence_against(await victim.evidence(), evil)
    assert evidence.kind == "inconsistent"
    assert (evidence.note_a, evidence.note_b) == (evil.honest_log(5).note, grown.note)
    await assert_holds_honest_prefix(victim, evil, 5)
    await assert_no_more_fetches(victim, evil, "equivocating")


async def test_a_fork_that_grows_from_a_power_of_two_makes_the_peer_invalid(
    make_victim: VictimFactory, make_evil: EvilFactory
) -> None:
    """From size 4, RFC 9162 leaves the old root out of the proof, so the source's
    proof implies nothing about the log's size-4 tree: specs/03-federation.md §3.4
    and §6.5 make that a bad answer from the peer itself, `invalid`, not evidence.
    Nothing of the forked tree is stored."""
    victim, evil = await make_victim(), await make_evil()
    await follow_honest(victim, evil, 4)
    evil.set_mode(Mode.FORK_EXTENDED, size=9)
    peer = await victim.sync(evil.key.did)
    assert (peer["state"], peer["verified_size"]) == ("invalid", 4), peer
    assert await victim.evidence() == []
    await assert_holds_honest_prefix(victim, evil, 4)
    await assert_no_more_fetches(victim, evil, "invalid")


@pytest.mark.parametrize("smaller", [1, 4, 5, 6], ids=["to-1", "to-4", "to-5", "to-6"])
async def test_a_shrink_that_is_not_a_prefix_is_equivocation_with_evidence(
    make_victim: VictimFactory, make_evil: EvilFactory, smaller: int
) -> None:
    """After the victim verified a signed checkpoint of size 7, a signed checkpoint of
    a smaller size whose tree is not a prefix: `equivocating`, with `inconsistent`
    evidence from the victim's own stored tree (sizes 1 and 4 are powers of two, for
    which the evidence must carry the prefix's subtree hash)."""
    victim, evil = await make_victim(), await make_evil()
    await follow_honest(victim, evil, 7)
    small = evil.set_mode(Mode.SHRINK_NOT_PREFIX, size=smaller)
    assert small.note != evil.honest_log(smaller).note
    peer = await victim.sync(evil.key.did)
    assert (peer["state"], peer["verified_size"]) == ("equivocating", 7), peer
    evidence = evidence_against(await victim.evidence(), evil)
    assert evidence.kind == "inconsistent"
    assert (evidence.note_a, evidence.note_b) == (small.note, evil.honest_log(7).note)
    await assert_holds_honest_prefix(victim, evil, 7)
    await assert_responsive(victim)
    await assert_no_more_fetches(victim, evil, "equivocating")


@pytest.mark.parametrize("smaller", [0, 1, 4, 6], ids=["to-0", "to-1", "to-4", "to-6"])
async def test_a_shrink_to_a_prefix_is_merely_stale(
    make_victim: VictimFactory, make_evil: EvilFactory, smaller: int
) -> None:
    """An older checkpoint of the same log (a lagging server or cache) proves nothing
    against it: the peer stays `ok`, the victim keeps its larger verified log, and
    later rounds still follow the log as it grows."""
    victim, evil = await make_victim(), await make_evil()
    await follow_honest(victim, evil, 7)
    evil.set_mode(Mode.SHRINK_PREFIX, size=smaller)
    peer = await victim.sync(evil.key.did)
    assert (peer["state"], peer["verified_size"]) == ("ok", 7), peer
    await assert_holds_honest_prefix(victim, evil, 7)
    assert await victim.evidence() == []

    evil.publish(9)
    peer = await victim.sync(evil.key.did)
    assert (peer["state"], peer["verified_size"]) == ("ok", 9), peer
    await assert_holds_honest_prefix(victim, evil, 9)


# Oversized answers: mode, whether the stream can be held halfway for probing.
OVERSIZED = [
    (Mode.OVERSIZED_ENTRIES, True),
    (Mode.OVERSIZED_ENTRIES_DECLARED, False),
    (Mode.GZIP_BOMB_ENTRIES, False),
    (Mode.OVERSIZED_CHECKPOINT, True),
    (Mode.OVERSIZED_CHECKPOINT_DECLARED, False),
]


@pytest.mark.parametrize(("mode", "held"), OVERSIZED, ids=[str(m) for m, _ in OVERSIZED])
async def test_an_oversized_answer_makes_the_peer_invalid(
    make_victim: VictimFactory, make_evil: EvilFactory, mode: Mode, held: bool
) -> None:
    """An answer past the victim's limits (32 MiB of entries, 64 KiB of checkpoint;
    streamed, declared in Content-Length, or a gzip body that inflates past them) is
    `invalid`, not `unreachable` (specs/03-federation.md §3.5, §3.8: an oversized
    body is a bad answer). The peer did answer, and with something no honest log can
    produce: a signed note is at most 64 KiB (protocol/checkpoint.py MAX_NOTE_BYTES)
    and a leaf at most 128 KiB with no raw LF (specs/01-records.md §4), while these
    bodies are one unterminated line of megabytes. `unreachable` would also be
    retried with backoff, letting the peer make the victim read 32 MiB per round
    forever. The read stops at the limit and the node answers meanwhile."""
    victim, evil = await make_victim(), await make_evil()
    await follow_honest(victim, evil, 5)
    evil.set_mode(mode)
    if held:
        evil.hold = asyncio.Event()
    began = time.monotonic()
    round_ = asyncio.create_task(victim.sync(evil.key.did))
    try:
        if held:
            async with asyncio.timeout(10):
                await evil.midway.wait()
            await assert_responsive(victim)
            assert not round_.done()
            assert evil.hold is not None
            evil.hold.set()
        async with asyncio.timeout(15):
            peer = await round_
    finally:
        round_.cancel()
    assert time.monotonic() - began < 15
    assert (peer["state"], peer["verified_size"]) == ("invalid", 5), peer
    # Refused for its size, not for anything else (node/client.py read_limited).
    assert "larger than" in peer["detail"], peer
    await assert_holds_honest_prefix(victim, evil, 5)
    await assert_responsive(victim)
    await assert_no_more_fetches(victim, evil, "invalid")


STALLS = [
    Mode.STALL_CHECKPOINT,
    Mode.STALL_CONSISTENCY,
    Mode.STALL_ENTRIES_MID_BODY,
    Mode.DRIP_ENTRIES,
]


@pytest.mark.parametrize("mode", STALLS, ids=[str(m) for m in STALLS])
async def test_a_stalled_answer_makes_the_peer_unreachable_and_the_node_stays_responsive(
    make_victim: VictimFactory, make_evil: EvilFactory, mode: Mode
) -> None:
    """A peer that stops answering (before the headers, mid-body, or one byte at a
    time so that no read ever times out) costs one peer_timeout_s per request and
    leaves it `unreachable`; the node answers meanwhile, nothing is stored, and
    `unreachable` is not a stopped state: once the peer answers, sync resumes."""
    timeout_s = 1.0
    victim, evil = await make_victim(peer_timeout_s=timeout_s), await make_evil()
    await follow_honest(victim, evil, 5)
    evil.set_mode(mode)
    began = time.monotonic()
    round_ = asyncio.create_task(victim.sync(evil.key.did))
    try:
        async with asyncio.timeout(5):
            await evil.stalled.wait()
        await assert_responsive(victim)
        assert not round_.done()
        async with asyncio.timeout(10):
            peer = await round_
    finally:
        round_.cancel()
    elapsed = time.monotonic() - began
    assert timeout_s * 0.9 <= elapsed < timeout_s * 5, elapsed
    assert (peer["state"], peer["verified_size"]) == ("unreachable", 5), peer
    await assert_holds_honest_prefix(victim, evil, 5)

    evil.publish(9)
    peer = await victim.sync(evil.key.did)
    assert (peer["state"], peer["verified_size"]) == ("ok", 9), peer
    await assert_holds_honest_prefix(victim, evil, 9)


async def test_a_proof_for_other_numbers_than_asked_makes_the_peer_invalid(
    make_victim: VictimFactory, make_evil: EvilFactory
) -> None:
    """specs/02-log.md §7: a client MUST check that the numbers echoed in a proof are
    the ones it asked for. A consistency proof answered as {"from": 6, "to": 8} for
    from=5&to=7 is a malformed answer: the source is `invalid`."""
    victim, evil = await make_victim(), await make_evil()
    await follow_honest(victim, evil, 5)
    evil.set_mode(Mode.MISECHOED_PROOF)
    peer = await victim.sync(evil.key.did)
    assert "GET /fed/v1/proof/consistency?from=5&to=7" in evil.requests
    assert (peer["state"], peer["verified_size"]) == ("invalid", 5), peer


async def test_a_redirect_does_not_make_the_victim_fetch_from_another_host(
    make_victim: VictimFactory, make_evil: EvilFactory
) -> None:
    """A peer that answers its checkpoint with `302 Location: <another host>` must not
    turn the victim into its client of that host (server-side request forgery: the
    other host could be an internal service only the victim can reach). The answer
    is not a checkpoint, so the peer is `invalid` and its log does not move."""
    victim, evil, elsewhere = await make_victim(), await make_evil(), await make_evil()
    await follow_honest(victim, evil, 5)
    # The other host even serves a valid, larger checkpoint of the same log.
    elsewhere.publish(7)
    evil.redirect_to = elsewhere.url + "/fed/v1/checkpoint"
    evil.set_mode(Mode.REDIRECT_CHECKPOINT)
    peer = await victim.sync(evil.key.did)
    assert "GET /fed/v1/checkpoint" in evil.requests
    assert elsewhere.requests == []
    assert (peer["state"], peer["verified_size"]) == ("invalid", 5), peer


async def test_a_note_with_many_signature_lines_is_mirrored_as_a_valid_note(
    make_victim: VictimFactory, make_evil: EvilFactory
) -> None:
    """A checkpoint note may carry up to 100 signature lines (protocol/checkpoint.py
    MAX_SIGNATURES, as Go's note package). The evil peer fills them with unknown
    signers: the note is valid and the victim follows the log. The victim's mirror
    must still serve a note that others can open, or the peer has switched off the
    gossip of its log (DESIGN.md §5) through every node that follows it."""
    victim, evil = await make_victim(), await make_evil()
    evil.padding = 99
    evil.publish(5)
    assert len(evil.log.note.split(b"\n\n", 1)[1].splitlines()) == 100
    open_checkpoint(evil.log.note, evil.verifier)
    peer = await victim.follow(evil)
    assert (peer["state"], peer["verified_size"]) == ("ok", 5), peer
    # The victim cosigns what it verified just after the round's state is set.
    deadline = time.monotonic() + 5.0
    while True:
        reply = await victim.get(f"/fed/v1/logs/{evil.key.did}/checkpoint")
        assert reply.status == 200
        cosigned = f"\u2014 {victim.config.origin} ".encode() in reply.body
        if cosigned or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.02)
    assert cosigned, reply.body
    checkpoint = open_checkpoint(reply.body, evil.verifier).checkpoint
    assert (checkpoint.size, checkpoint.root_hash) == (5, tree_root(list(evil.honest[:5])))

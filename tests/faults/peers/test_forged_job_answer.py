"""A job.accept signed by anything but the workshop's owner key, found in a peer's log, makes
that log invalid at every follower (specs/05-capacity-and-jobs.md §6.2, issue 6).

The lying peer serves a log in which its node registers workshop "w" owned by
key O, O describes a machine, and then a job.accept for "w" is signed by a key
that is not O's (or by the peer's own node key). The victim, following the
peer, must stop at that entry and mark the peer `invalid`, naming the entry;
the same log with O's signature is followed without complaint.
"""

from __future__ import annotations

from typing import Any

import pytest
from evil_peer import EvilPeer, signed_leaf
from jobkit import key, machine_body, workshop_body

pytestmark = pytest.mark.parametrize("signer", ["owner", "stranger", "peer node"])


def _leaves(evil: EvilPeer, accept_signer: Any) -> list[bytes]:
    owner = key("evil workshop owner")
    accept = {
        "job": "sha256:" + "1" * 64,
        "job_log": key("some requester node").did,
        "workshop": "w",
        "offer": "sha256:" + "2" * 64,
    }
    return [
        signed_leaf(evil.key, "workshop.register", workshop_body("w", [owner.did]), 0),
        signed_leaf(owner, "machine", machine_body("w"), 1),
        signed_leaf(accept_signer, "job.accept", accept, 2),
    ]


async def test_a_forged_accept_in_a_log_makes_it_invalid(
    make_victim: Any, make_evil: Any, signer: str
) -> None:
    victim = await make_victim()
    evil = await make_evil()
    accept_signer = {
        "owner": key("evil workshop owner"),
        "stranger": evil.stranger,
        "peer node": evil.key,
    }[signer]
    evil.serve(_leaves(evil, accept_signer))
    peer = await victim.follow(evil)
    if signer == "owner":
        assert peer["state"] == "ok", peer
        assert peer["verified_size"] == 3
        return
    assert peer["state"] == "invalid", peer
    assert "entry 2" in peer["detail"]
    assert "Unauthorised" in peer["detail"]
    assert peer["verified_size"] < 3

"""protocol.replay: a log whose entry repeats an earlier entry's record is refused.

specs/01-records.md §6, check 6: no earlier entry of the log has the same
record id; §8.2 adds that this holds even where the rules would admit the
entry again (a repeated node.profile). Record ids are computed here with
rfc8785 and hashlib (§5.1), independently of protocol.signing.
"""

from __future__ import annotations

import copy
import hashlib
import json

import pytest
import rfc8785

from protocol.errors import InvalidRecord
from protocol.keys import AgentKey
from protocol.records import Record
from protocol.replay import LogReplay, RepeatedRecord
from protocol.signing import leaf_bytes, sign

NODE = AgentKey.from_seed(hashlib.sha256(b"replay/node").digest())
MEMBER = AgentKey.from_seed(hashlib.sha256(b"replay/member").digest())


def _leaf(key: AgentKey, type_: str, body: dict[str, object], second: int) -> bytes:
    record = Record(
        type=type_, author=key.did, created=f"2025-05-06T07:08:{second:02d}Z", body=body
    )
    return leaf_bytes(sign(record, key))


PROFILE = _leaf(NODE, "node.profile", {"name": "Replay Coop", "origin": "replay.example/log"}, 0)
ADMIT = _leaf(NODE, "member.admit", {"member": MEMBER.did, "role": "member"}, 1)
HELLO = _leaf(MEMBER, "member.profile", {"display_name": "Hello"}, 2)
AGAIN = _leaf(MEMBER, "member.profile", {"display_name": "Again"}, 3)
LOG = [PROFILE, ADMIT, HELLO, AGAIN]


def _record_id(leaf: bytes) -> str:
    return "sha256:" + hashlib.sha256(rfc8785.dumps(json.loads(leaf)["record"])).hexdigest()


def _replayed(leaves: list[bytes]) -> LogReplay:
    replay = LogReplay.start(NODE.did)
    for leaf in leaves:
        replay.add(leaf)
    return replay


def test_a_log_without_repeats_replays_and_remembers_each_id_with_its_index() -> None:
    replay = _replayed(LOG)
    assert replay.size == 4
    assert replay.seen_ids == {_record_id(leaf): i for i, leaf in enumerate(LOG)}


# (the entry repeated, its index): a member's profile, which its author may sign
# at any position, and the node's profile, which the node key may sign again.
REPEATS = [(HELLO, 2), (PROFILE, 0)]


@pytest.mark.parametrize(("leaf", "first"), REPEATS, ids=["member.profile", "node.profile"])
def test_an_entry_repeating_an_earlier_record_is_refused_with_both_indices(
    leaf: bytes, first: int
) -> None:
    replay = _replayed(LOG)
    authority, frontier = copy.deepcopy(replay.authority), replay.frontier.copy()
    seen = dict(replay.seen_ids)
    with pytest.raises(RepeatedRecord) as raised:
        replay.add(leaf)
    rid = _record_id(leaf)
    assert (raised.value.index, raised.value.record_id, raised.value.first) == (4, rid, first)
    assert isinstance(raised.value, InvalidRecord)
    assert str(raised.value) == f"record: entry 4 repeats record {rid} of entry {first}"
    # A refused entry changes nothing: the replay goes on from the same prefix.
    assert (replay.size, replay.frontier.root()) == (4, frontier.root())
    assert replay.authority == authority
    assert replay.seen_ids == seen
    fresh = _leaf(MEMBER, "member.profile", {"display_name": "Fresh"}, 9)
    assert replay.add(fresh).index == 4


def test_a_repeat_right_after_its_first_entry_is_refused() -> None:
    replay = _replayed(LOG[:3])
    with pytest.raises(
        RepeatedRecord, match=f"entry 3 repeats record {_record_id(HELLO)} of entry 2"
    ):
        replay.add(HELLO)

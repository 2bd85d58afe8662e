"""`make demo ARGS=--once` tells a story the three logs bear out.

The demo writes what it claims (ids, amounts, the policy) to a summary file;
after it exits, this test reads the three nodes' SQLite databases directly,
re-checks every leaf's signature with PyNaCl and every log's root against its
signed checkpoint (independent code: hashlib, rfc8785, PyNaCl), and finds
each claim in the right log: the designs and the job request at A, the
decline at B, the vote, the acceptance, the completion and the distribution
at C, with the parts summing to what was paid and following the policy.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from fednet import child_env, tree_root
from nacl.signing import VerifyKey

from protocol.did import public_key_from_did

pytestmark = pytest.mark.slow

DEMO_TIMEOUT_S = 300
PREFIX = b"fabcommons-record-v1\n"


def _log(data_dir: Path) -> tuple[list[dict[str, Any]], int, bytes, bytes]:
    """(envelopes in index order, checkpoint size, its root, its note) of a node's own log."""
    with closing(sqlite3.connect(data_dir / "node.db")) as db:
        did = db.execute("SELECT did FROM logs WHERE is_local").fetchone()[0]
        leaves = [
            bytes(row[0])
            for row in db.execute("SELECT leaf FROM entries WHERE log_did = ? ORDER BY idx", (did,))
        ]
        note = bytes(db.execute("SELECT checkpoint FROM logs WHERE did = ?", (did,)).fetchone()[0])
    lines = note.decode().split("\n")
    size, root = int(lines[1]), base64.b64decode(lines[2])
    assert size == len(leaves)
    assert tree_root(leaves) == root
    envelopes = []
    for leaf in leaves:
        envelope = json.loads(leaf)
        record = envelope["record"]
        key = VerifyKey(public_key_from_did(record["author"]))
        sig = base64.urlsafe_b64decode(envelope["sig"] + "==")
        key.verify(PREFIX + rfc8785.dumps(record), sig)
        envelope["id"] = "sha256:" + hashlib.sha256(rfc8785.dumps(record)).hexdigest()
        envelopes.append(envelope)
    return envelopes, size, root, note


def _of_type(log: list[dict[str, Any]], record_type: str) -> list[dict[str, Any]]:
    return [e for e in log if e["record"]["type"] == record_type]


def test_the_demo_story_matches_the_logs(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    summary_path = tmp_path / "summary.json"
    done = subprocess.run(
        [sys.executable, "-m", "node.demo", "--once", "--data", str(data),
         "--summary", str(summary_path)],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=DEMO_TIMEOUT_S,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    story = json.loads(summary_path.read_text(encoding="utf-8"))
    a, b, c = (
        story["nodes"][name]
        for name in ("Coop A Designers", "Coop B Makerspace", "Coop C Fab Works")
    )
    log_a, _, _, _ = _log(Path(a["data"]))
    log_b, _, _, _ = _log(Path(b["data"]))
    log_c, _, _, _ = _log(Path(c["data"]))

    # A: the original from OKH, the derivative citing it, and the job request.
    designs = {e["id"]: e["record"]["body"] for e in _of_type(log_a, "design")}
    assert story["design"] in designs
    assert designs[story["derivative"]]["derived_from"] == [story["design"]]
    assert designs[story["design"]]["license"] == "CC-BY-SA-4.0"
    assert designs[story["derivative"]]["license"] == "CC-BY-SA-4.0"
    assert story["job"] in {e["id"] for e in _of_type(log_a, "job.request")}
    assert _of_type(log_a, "design.analysis"), "A published no analysis"

    # B declined the job; C accepted, made and completed it.
    assert [e["record"]["body"]["job"] for e in _of_type(log_b, "job.decline")] == [story["job"]]
    assert [e["record"]["body"]["job"] for e in _of_type(log_c, "job.accept")] == [story["job"]]
    statuses = [e["record"]["body"]["status"] for e in _of_type(log_c, "job.status")]
    assert statuses == ["in_production", "shipped", "delivered"]
    (complete,) = _of_type(log_c, "job.complete")
    assert complete["record"]["body"]["paid"] == {"amount": story["paid"], "currency": "EUR"}

    # C's members voted the policy; the node put it in force citing the result.
    (proposal,) = [e for e in _of_type(log_c, "proposal") if e["id"] == story["proposal"]]
    ballots = [
        e for e in _of_type(log_c, "ballot") if e["record"]["body"]["proposal"] == proposal["id"]
    ]
    assert len(ballots) == 2
    assert {e["record"]["body"]["choice"] for e in ballots} == {"yes"}
    (result,) = _of_type(log_c, "proposal.result")
    (policy,) = _of_type(log_c, "ledger.policy")
    assert policy["record"]["body"]["decision"] == result["id"]
    for field, value in story["policy"].items():
        assert policy["record"]["body"][field] == value

    # The distribution: in C's log, after the completion, summing exactly to what was paid.
    (distribution,) = _of_type(log_c, "ledger.distribution")
    parts = distribution["record"]["body"]["parts"]
    assert parts == story["parts"]
    assert sum(p["amount"] for p in parts) == story["paid"]
    by_reason: dict[str, int] = {}
    for part in parts:
        by_reason[part["reason"]] = by_reason.get(part["reason"], 0) + part["amount"]
    # 70 / 20 / 10 % of 4250 cents: 2975, 850, 425 (exact, no remainder to place).
    assert story["paid"] == 4250
    assert by_reason == {"workshop": 2975, "designer": 850, "commons": 425}
    assert next(p["agent"] for p in parts if p["reason"] == "workshop") == c["did"]

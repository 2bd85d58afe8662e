"""`fabcommons ledger statement DID`: an agent's ledger entries, each proven (issue 8).

The statement comes from GET /api/v1/ledger/agents/{did}; this command
checks every inclusion proof itself against the checkpoint it names, and
that checkpoint's signature when it knows the log's key (the node's own,
or a peer's from /api/v1/peers). It prints a table, or CSV with --csv.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import csv
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from node.client import NodeClient
from node.errors import NodeClientError
from protocol.checkpoint import Checkpoint, NoteVerifier, open_checkpoint, split_note
from protocol.errors import ProtocolError
from protocol.merkle import leaf_hash, verify_inclusion
from protocol.records import Envelope
from protocol.signing import leaf_bytes

__all__ = ["register"]

CSV_COLUMNS = (
    "log",
    "index",
    "id",
    "type",
    "action",
    "provider",
    "receiver",
    "quantity",
    "unit",
    "reason",
    "amount",
    "currency",
    "confirmed",
    "corrected_by",
    "void",
    "proof",
)


async def _log_keys(client: NodeClient) -> dict[str, NoteVerifier]:
    """The verifier keys this node pins: its own and its peers'."""
    keys: dict[str, NoteVerifier] = {}
    known = await client.well_known()
    keys[known.did] = NoteVerifier.from_vkey(known.vkey)
    peers = await client._get_json("/api/v1/peers")
    for peer in peers.get("peers", []):
        try:
            keys[peer["did"]] = NoteVerifier.from_vkey(peer["vkey"])
        except (KeyError, TypeError, ProtocolError):
            continue
    return keys


def _checked_roots(
    checkpoints: dict[str, Any], keys: dict[str, NoteVerifier]
) -> dict[str, tuple[int, bytes, bool]]:
    """Per log: (size, root, signature verified) of the checkpoint the statement names."""
    out: dict[str, tuple[int, bytes, bool]] = {}
    for log, info in checkpoints.items():
        note = info["note"].encode("utf-8")
        verifier = keys.get(log)
        try:
            if verifier is not None:
                checkpoint = open_checkpoint(note, verifier).checkpoint
                out[log] = (checkpoint.size, checkpoint.root_hash, True)
            else:
                text, _ = split_note(note)
                checkpoint = Checkpoint.from_text(text)
                out[log] = (checkpoint.size, checkpoint.root_hash, False)
        except ProtocolError:
            continue
    return out


def _proof_state(entry: dict[str, Any], roots: dict[str, tuple[int, bytes, bool]]) -> str:
    """ "verified", "unsigned" (the root's signer is unknown here), "none" or "FAILED"."""
    proof = entry.get("proof")
    root = roots.get(entry["log"])
    if proof is None or root is None:
        return "none"
    try:
        leaf = leaf_bytes(Envelope.from_dict(entry["envelope"]))
        hashes = [base64.b64decode(h, validate=True) for h in proof["hashes"]]
        if proof["tree_size"] != root[0]:
            return "FAILED"
        verify_inclusion(leaf_hash(leaf), entry["index"], root[0], hashes, root[1])
    except (ProtocolError, ValueError, KeyError, TypeError):
        return "FAILED"
    return "verified" if root[2] else "unsigned"


def _rows(
    statement: dict[str, Any], roots: dict[str, tuple[int, bytes, bool]]
) -> list[dict[str, str]]:
    rows = []
    for entry in statement["entries"]:
        body = entry["envelope"]["record"]["body"]
        row = {column: "" for column in CSV_COLUMNS}
        row.update(
            log=entry["log"],
            index=str(entry["index"]),
            id=entry["id"],
            type=entry["type"],
            proof=_proof_state(entry, roots),
        )
        if entry["type"] == "ledger.contribution":
            quantity = body.get("effort_quantity") or body.get("resource_quantity") or {}
            row.update(
                action=body["action"],
                provider=body["provider"],
                receiver=body["receiver"],
                quantity=quantity.get("value", ""),
                unit=quantity.get("unit", ""),
                confirmed="yes" if entry.get("confirmed") else "no",
                corrected_by=entry.get("corrected_by") or "",
                void=entry.get("void") or "",
            )
        elif entry["type"] == "ledger.confirm":
            row.update(action="confirm", reason=body["contribution"])
        else:
            for part in entry.get("parts", []):
                reason = part["reason"]
                if "generation" in part:
                    reason += f" (generation {part['generation']})"
                rows.append(
                    {
                        **row,
                        "reason": reason,
                        "amount": str(part["amount"]),
                        "currency": entry.get("currency", ""),
                        "action": "transfer",
                    }
                )
            continue
        rows.append(row)
    return rows


def _short(text: str, keep: int = 12) -> str:
    return text if len(text) <= keep + 1 else text[:keep] + "…"


def _print_table(statement: dict[str, Any], rows: list[dict[str, str]], console: Console) -> None:
    table = Table(title=f"Ledger statement of {statement['agent']}")
    for column in ("log", "index", "type", "action", "quantity", "amount", "confirmed", "proof"):
        table.add_column(column, justify="right" if column in ("index", "amount") else "left")
    for row in rows:
        quantity = f"{row['quantity']} {row['unit']}".strip()
        amount = f"{row['amount']} {row['currency']}".strip()
        what = row["action"] + (f" — {row['reason']}" if row["reason"] and row["amount"] else "")
        table.add_row(
            _short(row["log"], 20),
            row["index"],
            row["type"].removeprefix("ledger."),
            what,
            quantity,
            amount,
            row["confirmed"] + (" (corrected)" if row["corrected_by"] else ""),
            row["proof"],
        )
    console.print(table)
    for money in statement["money"]:
        console.print(f"shared to this agent: {money['amount']} {money['currency']} (minor units)")
    for total in statement["contributions"]:
        console.print(
            f"contributed: {total['action']} {total['quantity']} {total['unit']} ({total['kind']})"
        )
    if statement.get("truncated"):
        console.print("[yellow]more entries exist: raise --limit[/yellow]")


async def _statement(
    node: str, did: str, limit: int
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    async with NodeClient(node) as client:
        statement: dict[str, Any] = await client._get_json(
            f"/api/v1/ledger/agents/{did}", limit=str(limit)
        )
        keys = await _log_keys(client)
    roots = _checked_roots(statement.get("checkpoints", {}), keys)
    return statement, _rows(statement, roots)


def cmd_statement(args: argparse.Namespace) -> int:
    statement, rows = asyncio.run(_statement(args.node, args.did, args.limit))
    if args.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    else:
        # A statement is wide: never squeeze it below 140 columns (it may scroll).
        width = max(140, Console().width)
        _print_table(statement, rows, Console(emoji=False, highlight=False, width=width))
    failed = [row for row in rows if row["proof"] == "FAILED"]
    if failed:
        raise NodeClientError(200, None, f"{len(failed)} inclusion proofs did not verify")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `fabcommons ledger statement` to the top-level parser."""
    ledger = sub.add_parser("ledger", help="the cooperative ledger").add_subparsers(
        dest="ledger_command", required=True
    )
    p = ledger.add_parser(
        "statement", help="an agent's ledger entries with verified inclusion proofs"
    )
    p.add_argument("did", help="the agent's did:key")
    p.add_argument("--node", required=True, help="the node's URL, e.g. http://127.0.0.1:8700")
    p.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    p.add_argument("--limit", type=int, default=200, help="at most this many entries (max 1000)")
    p.set_defaults(func=cmd_statement)

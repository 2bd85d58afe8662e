"""`fabcommons proposal create|show|list`, `fabcommons vote` and `fabcommons delegate` (issue 7).

Records are built and signed here, on the member's machine, with the key
in `--key`; the node only ever sees the signed envelope (specs/06-governance.md
§10). `vote` reads the proposal first to shape the ballot for its method:
one option (majority, supermajority, consent), a comma-separated list
(approval; ranked, in order of preference) or `option=score,…` (score).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from governance.terms import CONSENT_OPTIONS, METHODS
from node.client import NodeClient
from node.clock import utc_now
from node.errors import NodeError
from protocol.keys import AgentKey, load_key
from protocol.records import Record, format_time, is_record_id, parse_time
from protocol.signing import leaf_bytes, sign

__all__ = ["register"]

console = Console(emoji=False, highlight=False, soft_wrap=True)

_DURATION_RE = re.compile(r"([0-9]{1,7})([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_FRACTION_RE = re.compile(r"([0-9]{1,7})/([0-9]{1,7})")


class GovernanceCommandError(NodeError):
    """A governance command that cannot go on; the message says why."""


def _fraction(text: str, what: str) -> dict[str, int]:
    match = _FRACTION_RE.fullmatch(text)
    if match is None:
        raise GovernanceCommandError(f"{what} is a fraction such as 1/2, not {text!r}")
    return {"num": int(match.group(1)), "den": int(match.group(2))}


def _time(text: str, what: str) -> str:
    try:
        return format_time(parse_time(text))
    except ValueError as exc:
        raise GovernanceCommandError(f"{what}: {exc}") from exc


def _duration(text: str) -> timedelta:
    match = _DURATION_RE.fullmatch(text)
    if match is None:
        raise GovernanceCommandError(f"a duration is like 90s, 30m, 2h or 7d, not {text!r}")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def _signed_leaf(key: AgentKey, record_type: str, body: dict[str, Any]) -> bytes:
    record = Record(type=record_type, author=key.did, created=format_time(utc_now()), body=body)
    return leaf_bytes(sign(record, key))


def proposal_body(args: argparse.Namespace) -> dict[str, Any]:
    """The body of the proposal the arguments describe (validated by the node)."""
    if args.text_file:
        text = Path(args.text_file).read_text(encoding="utf-8")
    elif args.text:
        text = args.text
    else:
        raise GovernanceCommandError("give the proposal's text with --text or --text-file")
    options = args.option or (list(CONSENT_OPTIONS) if args.method == "consent" else [])
    now = utc_now()
    opens = _time(args.opens, "--opens") if args.opens else format_time(now)
    if args.closes:
        closes = _time(args.closes, "--closes")
    else:
        closes = format_time(parse_time(opens) + _duration(args.duration))
    body: dict[str, Any] = {
        "title": args.title,
        "text": text,
        "options": options,
        "method": args.method,
        "opens": opens,
        "closes": closes,
        "quorum": _fraction(args.quorum, "--quorum"),
    }
    if args.threshold:
        body["threshold"] = _fraction(args.threshold, "--threshold")
    if args.max_score is not None:
        body["max_score"] = args.max_score
    if args.delegation:
        body["delegation"] = args.delegation
    if args.action:
        try:
            body["action"] = json.loads(args.action)
        except ValueError as exc:
            raise GovernanceCommandError(f"--action is JSON: {exc}") from exc
    return body


def ballot_form(method: str, choice: str | None, *, abstain: bool) -> dict[str, Any]:
    """The ballot members for a method, from the command line's CHOICE."""
    if abstain:
        return {"abstain": True}
    if not choice:
        raise GovernanceCommandError("give a CHOICE, or --abstain")
    if method in ("majority", "supermajority", "consent"):
        return {"choice": choice}
    items = [c.strip() for c in choice.split(",") if c.strip()]
    if method == "approval":
        return {"approve": items}
    if method == "ranked":
        return {"ranking": items}
    scores: dict[str, int] = {}
    for item in items:
        option, sep, value = item.rpartition("=")
        if not sep or not value.isascii() or not value.isdigit():
            raise GovernanceCommandError(f"a score ballot is option=score,…; {item!r} is not")
        scores[option] = int(value)
    return {"scores": scores}


async def _create(args: argparse.Namespace) -> int:
    key = load_key(Path(args.key))
    body = proposal_body(args)
    async with NodeClient(args.node) as client:
        _, answer = await client.signed_post(
            key, "/api/v1/proposals", _signed_leaf(key, "proposal", body), "application/json"
        )
    console.print(f"proposal {answer['id']} at index {answer['index']}")
    console.print(f"voting from {body['opens']} until {body['closes']}")
    return 0


async def _vote(args: argparse.Namespace) -> int:
    if not is_record_id(args.proposal):
        raise GovernanceCommandError("PROPOSAL is a record id sha256:<64 hex>")
    key = load_key(Path(args.key))
    async with NodeClient(args.node) as client:
        proposal = await client.get_json(f"/api/v1/proposals/{args.proposal}")
        body = {
            "proposal": args.proposal,
            **ballot_form(proposal["method"], args.choice, abstain=args.abstain),
        }
        _, answer = await client.signed_post(
            key,
            f"/api/v1/proposals/{args.proposal}/ballots",
            _signed_leaf(key, "ballot", body),
            "application/json",
        )
    console.print(f"ballot {answer['id']} at index {answer['index']}")
    return 0


async def _delegate(args: argparse.Namespace) -> int:
    key = load_key(Path(args.key))
    body: dict[str, Any] = {"topic": args.topic}
    if args.delegate:
        body["delegate"] = args.delegate
    async with NodeClient(args.node) as client:
        answer = await client.signed_post(
            key, "/api/v1/records", _signed_leaf(key, "delegation", body), "application/json"
        )
    verb = f"to {args.delegate}" if args.delegate else "taken back"
    console.print(f"delegation on {args.topic} {verb}: record {answer[1]['id']}")
    return 0


def _tally_table(view: dict[str, Any]) -> Table:
    tally = view["tally"]
    table = Table(title=f"{view['title']} ({view['method']}, {view['status']})")
    table.add_column("option")
    table.add_column("count", justify="right")
    for option in view["options"]:
        mark = " (winner)" if tally.get("winner") == option else ""
        table.add_row(option + mark, str(tally["counts"].get(option, 0)))
    return table


async def _show(args: argparse.Namespace) -> int:
    async with NodeClient(args.node) as client:
        view = await client.get_json(f"/api/v1/proposals/{args.proposal}")
    if args.json:
        console.print_json(json.dumps(view))
        return 0
    tally = view["tally"]
    console.print(_tally_table(view))
    console.print(
        f"electorate {tally['electorate']}, voted {tally['voters']} "
        f"({tally['delegated']} by delegation, {tally['abstained']} abstaining); "
        f"quorum {'met' if tally['quorum_met'] else 'not met'}"
    )
    for n, round_ in enumerate(tally.get("rounds") or [], start=1):
        out = f" -> {round_['eliminated']} out" if "eliminated" in round_ else ""
        counts = ", ".join(f"{o} {c}" for o, c in round_["counts"].items())
        console.print(f"round {n}: {counts}; exhausted {round_['exhausted']}{out}")
    console.print(f"adopted: {'yes' if tally['adopted'] else 'no'} (final: {tally['final']})")
    if view.get("result"):
        console.print(f"result {view['result']['id']}: this node {view['result']['agreement']}")
    if view.get("execution"):
        console.print(f"action: {view['execution']['state']}")
    return 0


async def _list(args: argparse.Namespace) -> int:
    params = {"status": args.status} if args.status else {}
    async with NodeClient(args.node) as client:
        page = await client.get_json("/api/v1/proposals", **params)
    for view in page["proposals"]:
        winner = view["tally"].get("winner", "-")
        console.print(
            f"{view['id']}  {view['status']:<7} {view['method']:<13} {winner:<12} {view['title']}"
        )
    console.print(f"{len(page['proposals'])} of {page['total']}")
    return 0


def _run(coroutine: Any) -> int:
    result: int = asyncio.run(coroutine)
    return result


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this module's commands to the top-level parser."""
    proposal = sub.add_parser("proposal", help="governance proposals").add_subparsers(
        dest="proposal_command", required=True
    )
    p = proposal.add_parser("create", help="sign and submit a proposal as a member")
    p.add_argument("--key", required=True, help="the member's key file")
    p.add_argument("--node", required=True, help="the node's URL")
    p.add_argument("--title", required=True)
    p.add_argument("--text", help="the proposal's text (Markdown)")
    p.add_argument("--text-file", help="read the text from this file")
    p.add_argument("--option", action="append", help="an option (repeat; consent: fixed)")
    p.add_argument("--method", default="majority", choices=METHODS)
    p.add_argument("--opens", help="RFC 3339 UTC time voting opens (default: now)")
    p.add_argument("--closes", help="RFC 3339 UTC time voting closes")
    p.add_argument("--duration", default="7d", help="voting time if no --closes (90s, 2h, 7d)")
    p.add_argument("--quorum", default="1/2", help="share of the electorate that must vote")
    p.add_argument("--threshold", help="supermajority threshold, e.g. 2/3")
    p.add_argument("--max-score", type=int, help="highest score (score method)")
    p.add_argument("--delegation", help="topic whose delegations count for this proposal")
    p.add_argument("--action", help='JSON action, e.g. {"kind": "member.admit", "params": …}')
    p.set_defaults(func=lambda a: _run(_create(a)))

    p = proposal.add_parser("show", help="a proposal with its live or final tally")
    p.add_argument("proposal", help="the proposal's id")
    p.add_argument("--node", required=True, help="the node's URL")
    p.add_argument("--json", action="store_true", help="print the API's JSON")
    p.set_defaults(func=lambda a: _run(_show(a)))

    p = proposal.add_parser("list", help="proposals of every log the node follows")
    p.add_argument("--node", required=True, help="the node's URL")
    p.add_argument("--status", choices=["open", "closed"])
    p.set_defaults(func=lambda a: _run(_list(a)))

    p = sub.add_parser("vote", help="sign and cast a ballot as a member")
    p.add_argument("proposal", help="the proposal's id")
    p.add_argument(
        "choice",
        nargs="?",
        help="an option; approval/ranked: a,b,c; score: a=5,b=3",
    )
    p.add_argument("--abstain", action="store_true", help="count towards quorum, for no option")
    p.add_argument("--key", required=True, help="the member's key file")
    p.add_argument("--node", required=True, help="the node's URL")
    p.set_defaults(func=lambda a: _run(_vote(a)))

    p = sub.add_parser("delegate", help="lend your vote on a topic to another member")
    p.add_argument("topic", help="the topic, e.g. budget")
    p.add_argument("delegate", nargs="?", help="the member's did (omit to take it back)")
    p.add_argument("--key", required=True, help="the member's key file")
    p.add_argument("--node", required=True, help="the node's URL")
    p.set_defaults(func=lambda a: _run(_delegate(a)))

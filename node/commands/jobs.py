"""`fabcommons job …`: request, route, show, list, inbox, accept, decline, status, complete,
cancel (issue 6).

A member requests a job on their own node (`job request`); the node routes
it by itself. A workshop's owner reads the workshop's inbox on the
workshop's node and answers there (`job accept|decline|status|complete`);
every record is signed here, on the client, with `--key`, and submitted
with POST /api/v1/records. specs/05-capacity-and-jobs.md §12.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from rich.console import Console

from node.client import NodeClient
from node.clock import utc_now
from node.commands.capacity import CapacityCommandError, sign_and_post
from protocol.errors import InvalidRecord
from protocol.keys import load_key
from protocol.records import format_time, parse_time
from registry.jobs import (
    STATUSES,
    JobAccept,
    JobCancel,
    JobComplete,
    JobDecline,
    JobRequest,
    JobStatus,
)

__all__ = ["register"]

console = Console(emoji=False, highlight=False, soft_wrap=True)


def _request_body(args: argparse.Namespace, node_did: str) -> dict[str, Any]:
    deadline = args.deadline or format_time(
        utc_now().replace(microsecond=0) + timedelta(days=args.deadline_days)
    )
    body: dict[str, Any] = {
        "design": args.design,
        "design_log": args.design_log or node_did,
        "file": args.file,
        "quantity": args.quantity,
        "process": args.process,
        "material": args.material,
        "deliver_to": {
            "lat": args.lat,
            "lon": args.lon,
            "country": args.country,
            "region": args.region,
        },
        "deadline": deadline,
        "budget": {"amount": args.budget, "currency": args.currency},
        "response_window_s": args.response_window_s,
    }
    if getattr(args, "note", None):
        body["note"] = args.note
    JobRequest.from_dict(body)
    return body


def _print_ranking(answer: dict[str, Any]) -> None:
    for r in answer["ranking"]:
        estimate = r["estimate"]
        price = estimate["price"]
        console.print(
            f"{r['rank']}. {r['workshop']}/{r['offer']} ({r['log']}): "
            f"{price['amount']} {price['currency']} (minor units), {estimate['hours']} h, "
            f"{estimate['distance_m'] // 1000} km, done by {estimate['completion']}, "
            f"score {r['score']}",
            markup=False,
        )


async def _route(args: argparse.Namespace) -> int:
    async with NodeClient(args.node) as client:
        body = _request_body(args, (await client.well_known()).did)
        answer = await client.post_json("/api/v1/jobs/route", body)
    if args.json:
        console.print(json.dumps(answer, indent=2), markup=False)
        return 0
    for warning in answer["warnings"]:
        console.print(f"[yellow]warning[/yellow] {warning}")
    _print_ranking(answer)
    for e in answer["excluded"]:
        reasons = "; ".join(f"{r['code']}: {r['detail']}" for r in e["reasons"])
        console.print(f"left out {e['workshop']}/{e['offer']} ({e['log'][-8:]}): {reasons}")
    return 0


async def _request(args: argparse.Namespace) -> int:
    key = load_key(Path(args.key))
    async with NodeClient(args.node) as client:
        body = _request_body(args, (await client.well_known()).did)
        answer = await sign_and_post(client, key, JobRequest.TYPE, body)
    console.print("[bold]job requested[/bold]: the node routes it now")
    console.print(f"id      {answer['id']}")
    console.print(f"index   {answer['index']}")
    return 0


async def _show(args: argparse.Namespace) -> int:
    async with NodeClient(args.node) as client:
        view = await client.get_json(f"/api/v1/jobs/{args.job}")
    if args.json:
        console.print(json.dumps(view, indent=2), markup=False)
        return 0
    console.print(f"job     {view['id']}")
    console.print(f"state   {view['state']}")
    if view["workshop"]:
        console.print(f"workshop {view['workshop']['workshop']} ({view['workshop']['log']})")
    if view["cancel_reason"]:
        console.print(f"cancel  {view['cancel_reason']}")
    for offer in view["offers"]:
        console.print(
            f"offer {offer['rank']}: {offer['workshop']} ({offer['workshop_log'][-8:]}) "
            f"-> {offer['outcome']}"
        )
    for item in view["history"]:
        mark = "" if item["counted"] else " (does not count)"
        console.print(f"{item['created']} {item['type']} in {item['log']}{mark}", markup=False)
    return 0


async def _list(args: argparse.Namespace) -> int:
    params = {"state": args.state} if args.state else {}
    async with NodeClient(args.node) as client:
        rows = (await client.get_json("/api/v1/jobs", **params))["jobs"]
    for row in rows:
        shop = row["workshop"]["workshop"] if row["workshop"] else "-"
        console.print(f"{row['id']} {row['state']} {shop} offers={row['offers']}", markup=False)
    return 0


async def _inbox(args: argparse.Namespace) -> int:
    async with NodeClient(args.node) as client:
        log = args.log or (await client.well_known()).did
        inbox = await client.get_json(f"/api/v1/workshops/{log}/{args.workshop}/jobs")
    console.print("[bold]offered[/bold]")
    for item in inbox["offered"]:
        request, offer = item["request"], item["offer"]
        price = offer["estimate"]["price"]
        console.print(
            f"{item['id']}: {request['quantity']} × {request['process']} in "
            f"{request['material']}, estimate {price['amount']} {price['currency']}, "
            f"answer by {offer['respond_by']}",
            markup=False,
        )
    for title in ("assigned", "closed"):
        console.print(f"[bold]{title}[/bold]")
        for row in inbox[title]:
            console.print(f"{row['id']} {row['state']}")
    return 0


async def _live_offer(client: NodeClient, job: str, log: str, workshop: str) -> dict[str, Any]:
    """The job's live offer to this workshop, as the workshop's node sees it."""
    view = await client.get_json(f"/api/v1/jobs/{job}")
    live = view["offers"][-1] if view["offers"] and view["state"] == "offered" else None
    if live is None or live["workshop_log"] != log or live["workshop"] != workshop:
        raise CapacityCommandError(f"job {job} has no open offer to {workshop} (yet?)")
    if parse_time(live["respond_by"]) <= utc_now():
        raise CapacityCommandError(
            f"the offer lapsed at {live['respond_by']}: the job has moved on"
        )
    return {"job": job, "job_log": view["log"], "workshop": workshop, "offer": live["id"]}


async def _answer(args: argparse.Namespace) -> int:
    key = load_key(Path(args.key))
    async with NodeClient(args.node) as client:
        log = (await client.well_known()).did
        if args.job_command in ("accept", "decline"):
            body = await _live_offer(client, args.job, log, args.workshop)
            if args.job_command == "accept":
                record_type = JobAccept.TYPE
                if args.note:
                    body["note"] = args.note
            else:
                record_type = JobDecline.TYPE
                if args.reason:
                    body["reason"] = args.reason
        else:
            view = await client.get_json(f"/api/v1/jobs/{args.job}")
            body = {"job": args.job, "job_log": view["log"], "workshop": args.workshop}
            if args.job_command == "status":
                record_type = JobStatus.TYPE
                body["status"] = args.status
            else:
                record_type = JobComplete.TYPE
                body["paid"] = {"amount": args.paid, "currency": args.currency}
            if args.note:
                body["note"] = args.note
        answer = await sign_and_post(client, key, record_type, body)
    console.print(f"[bold]{record_type}[/bold] {answer['id']} (index {answer['index']})")
    return 0


async def _cancel(args: argparse.Namespace) -> int:
    key = load_key(Path(args.key))
    body = JobCancel.from_dict({"job": args.job, "reason": args.reason}).to_dict()
    async with NodeClient(args.node) as client:
        answer = await sign_and_post(client, key, JobCancel.TYPE, body)
    console.print(f"[bold]job.cancel[/bold] {answer['id']} (index {answer['index']})")
    return 0


def _run(coroutine: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            result: int = asyncio.run(coroutine(args))
        except InvalidRecord as exc:
            raise CapacityCommandError(f"{exc.field}: {exc.reason}") from exc
        return result

    return run


def _request_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--node", required=True, help="the requester's node URL")
    p.add_argument("--design", required=True, help="the design's record id")
    p.add_argument("--design-log", help="the log holding the design (default: the node's)")
    p.add_argument("--file", required=True, help="sha256 of the model file to make")
    p.add_argument("--quantity", type=int, default=1)
    p.add_argument("--process", required=True, help="e.g. fdm")
    p.add_argument("--material", required=True, help="e.g. pla")
    p.add_argument("--lat", required=True, help='deliver to: latitude, 6 decimals ("52.520008")')
    p.add_argument("--lon", required=True, help="deliver to: longitude, 6 decimals")
    p.add_argument("--country", required=True, help="deliver to: ISO 3166-1 alpha-2")
    p.add_argument("--region", default="", help="deliver to: region")
    p.add_argument("--deadline", help="RFC 3339 UTC")
    p.add_argument("--deadline-days", type=int, default=14, help="default deadline, in days")
    p.add_argument("--budget", type=int, required=True, help="in minor units (12345 = 123.45)")
    p.add_argument("--currency", required=True, help="ISO 4217, e.g. EUR")
    p.add_argument("--response-window-s", type=int, default=86_400)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `job` commands to the top-level parser."""
    job = sub.add_parser("job", help="manufacturing jobs").add_subparsers(
        dest="job_command", required=True
    )
    p = job.add_parser("request", help="ask for a part to be made (member)")
    p.add_argument("--key", required=True, help="the member's key file")
    _request_args(p)
    p.add_argument("--note")
    p.set_defaults(func=_run(_request))

    p = job.add_parser("route", help="show how a request would be routed now (nothing signed)")
    _request_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_run(_route))

    p = job.add_parser("show", help="a job's state and history")
    p.add_argument("job")
    p.add_argument("--node", required=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_run(_show))

    p = job.add_parser("list", help="jobs from every verified log")
    p.add_argument("--node", required=True)
    p.add_argument("--state")
    p.set_defaults(func=_run(_list))

    p = job.add_parser("inbox", help="a workshop's offered, assigned and closed jobs")
    p.add_argument("--node", required=True, help="the workshop's node")
    p.add_argument("--workshop", required=True)
    p.add_argument("--log", help="the workshop's log (default: the node's own)")
    p.set_defaults(func=_run(_inbox))

    for name, text in (
        ("accept", "accept the job offered to your workshop (owner)"),
        ("decline", "decline the job offered to your workshop (owner)"),
        ("status", "report progress: " + ", ".join(STATUSES)),
        ("complete", "close a delivered job with the amount paid"),
    ):
        p = job.add_parser(name, help=text)
        p.add_argument("job")
        p.add_argument("--key", required=True, help="the workshop owner's key file")
        p.add_argument("--node", required=True, help="the workshop's node")
        p.add_argument("--workshop", required=True)
        if name == "status":
            p.add_argument("status", choices=STATUSES)
        if name == "complete":
            p.add_argument("--paid", type=int, required=True, help="in minor units")
            p.add_argument("--currency", required=True)
        if name == "decline":
            p.add_argument("--reason")
        else:
            p.add_argument("--note")
        p.set_defaults(func=_run(_answer))

    p = job.add_parser("cancel", help="cancel your job (after assignment: ask the workshop)")
    p.add_argument("job")
    p.add_argument("--key", required=True, help="the requester's key file")
    p.add_argument("--node", required=True, help="the requester's node")
    p.add_argument("--reason", required=True)
    p.set_defaults(func=_run(_cancel))

"""`fabcommons workshop …`, `fabcommons machine publish`, `fabcommons offer …` (issue 6).

The operator registers and retires the node's workshops (with the bearer
token in the data directory); a workshop's owner signs its machines and
offers here, on the client, with `--key`, and submits them with POST
/api/v1/records. `workshop import-okw` does both for an Open Know-Where
file; `workshop export-okw` writes one. specs/05-capacity-and-jobs.md §12.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from node.client import NodeClient
from node.clock import utc_now
from node.config import load_config
from node.errors import NodeError
from protocol.errors import InvalidRecord
from protocol.keys import AgentKey, load_key
from protocol.records import Record, format_time
from protocol.signing import sign
from registry.capacity import Machine, Offer, OfferWithdraw, WorkshopRegister
from registry.okw import OkwError, import_records, parse_okw

__all__ = ["CapacityCommandError", "register", "sign_and_post", "volume_arg"]

console = Console(emoji=False, highlight=False, soft_wrap=True)
MAX_OKW_BYTES = 4 * 1024 * 1024


class CapacityCommandError(NodeError):
    """A capacity command that cannot go on; the message says why."""


def volume_arg(text: str) -> tuple[str, str, str]:
    """X,Y,Z in mm (e.g. 220,220,250 or 220.5,220,250) as decimal3 strings."""
    parts = text.split(",")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError("give X,Y,Z in mm, e.g. 220,220,250")
    out = []
    for part in parts:
        whole, _, frac = part.strip().partition(".")
        # isascii(): str.isdigit() also admits digits int() refuses (e.g. "²").
        if (
            not (whole + frac).isascii()
            or not whole.isdigit()
            or (frac and (not frac.isdigit() or len(frac) > 3))
        ):
            raise argparse.ArgumentTypeError(f"{part!r} is not a length in mm (3 decimals at most)")
        out.append(f"{int(whole)}.{frac.ljust(3, '0')}")
    return out[0], out[1], out[2]


def _decimal3(text: str) -> str:
    return volume_arg(f"{text},1,1")[0]


def _operator(args: argparse.Namespace) -> tuple[str, str]:
    """(node URL, admin token) from the data directory."""
    config = load_config(Path(args.data))
    token = config.token_path.read_text(encoding="ascii").strip()
    return args.node or config.public_url, token


async def sign_and_post(
    client: NodeClient, key: AgentKey, record_type: str, body: dict[str, Any]
) -> dict[str, Any]:
    record = Record(type=record_type, author=key.did, created=format_time(utc_now()), body=body)
    return await client.post_record(sign(record, key), key)


def _place(args: argparse.Namespace) -> dict[str, str]:
    return {"lat": args.lat, "lon": args.lon, "country": args.country, "region": args.region}


def _printed(what: str, answer: dict[str, Any]) -> None:
    console.print(f"[bold]{what}[/bold]")
    console.print(f"id      {answer['id']}")
    console.print(f"index   {answer['index']}")


# workshop register / retire / import-okw / export-okw


async def _register(args: argparse.Namespace) -> int:
    url, token = _operator(args)
    body: dict[str, Any] = {
        "workshop": args.slug,
        "name": args.name,
        "place": _place(args),
        "owners": args.owner,
    }
    if args.description:
        body["description"] = args.description
    if args.url:
        body["url"] = args.url
    WorkshopRegister.from_dict(body)  # refuse a bad body before sending it
    async with NodeClient(url) as client:
        answer = await client.post_json("/api/v1/admin/workshops", body, token=token)
    _printed(f"workshop {args.slug} registered", answer)
    return 0


async def _retire(args: argparse.Namespace) -> int:
    url, token = _operator(args)
    body = {"reason": args.reason} if args.reason else {}
    async with NodeClient(url) as client:
        answer = await client.post_json(
            f"/api/v1/admin/workshops/{args.slug}/retire", body, token=token
        )
    _printed(f"workshop {args.slug} retired", answer)
    return 0


def _read_okw(path: Path) -> Any:
    if path.stat().st_size > MAX_OKW_BYTES:
        raise CapacityCommandError(f"{path} is larger than {MAX_OKW_BYTES} bytes")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise CapacityCommandError(f"{path} is not valid {path.suffix[1:] or 'YAML'}") from exc


async def _import_okw(args: argparse.Namespace) -> int:
    url, token = _operator(args)
    key = load_key(Path(args.owner_key))
    try:
        plan = import_records(
            parse_okw(_read_okw(Path(args.file))),
            workshop=args.slug,
            owners=[key.did, *args.owner],
            name=args.name,
            country=args.country,
            region=args.region,
            lat=args.lat,
            lon=args.lon,
            build_volume_mm=args.build_volume,
        )
    except OkwError as exc:
        raise CapacityCommandError("cannot import: " + "; ".join(exc.problems)) from exc
    async with NodeClient(url) as client:
        answer = await client.post_json(
            "/api/v1/admin/workshops", plan.workshop.to_dict(), token=token
        )
        _printed(f"workshop {plan.workshop.workshop} registered", answer)
        for machine in plan.machines:
            answer = await sign_and_post(client, key, Machine.TYPE, machine.to_dict())
            console.print(f"machine {machine.machine} ({machine.kind}): {answer['id']}")
    for reason in plan.skipped:
        console.print(f"[yellow]skipped[/yellow] {reason}")
    return 0


async def _export_okw(args: argparse.Namespace) -> int:
    async with NodeClient(args.node) as client:
        log = args.log or (await client.well_known()).did
        path = f"/api/v1/workshops/{log}/{args.workshop}/okw"
        facility = await client.get_json(path, flavour=args.flavour)
    if args.flavour == "yaml":
        text = yaml.safe_dump(facility, sort_keys=False, allow_unicode=True)
    else:
        text = json.dumps(facility, indent=2, ensure_ascii=False) + "\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        console.print(f"wrote {args.out}")
    else:
        console.print(text, end="", markup=False)
    return 0


# machine publish


async def _machine(args: argparse.Namespace) -> int:
    key = load_key(Path(args.key))
    x, y, z = args.build_volume
    body: dict[str, Any] = {
        "workshop": args.workshop,
        "machine": args.machine,
        "kind": args.kind,
        "processes": args.process,
        "materials": args.material or [],
        "build_volume_mm": {"x": x, "y": y, "z": z},
        "precision_mm": _decimal3(args.precision),
    }
    for name in ("name", "make", "model"):
        if getattr(args, name):
            body[name] = getattr(args, name)
    if args.inactive:
        body["active"] = False
    Machine.from_dict(body)
    async with NodeClient(args.node) as client:
        _printed(
            f"machine {args.machine} published", await sign_and_post(client, key, "machine", body)
        )
    return 0


# offer publish / withdraw / list


def _serves(args: argparse.Namespace) -> dict[str, Any]:
    serves: dict[str, Any] = {}
    if args.country:
        serves["countries"] = args.country
    if args.region:
        regions = []
        for item in args.region:
            country, sep, region = item.partition(":")
            if not sep:
                raise CapacityCommandError(
                    f"--region {item!r}: write COUNTRY:Region, e.g. DE:Berlin"
                )
            regions.append({"country": country, "region": region})
        serves["regions"] = regions
    if args.radius_km is not None:
        serves["radius_km"] = args.radius_km
    if not serves:
        raise CapacityCommandError(
            "say where the offer delivers: --country, --region or --radius-km"
        )
    return serves


async def _offer(args: argparse.Namespace) -> int:
    key = load_key(Path(args.key))
    now = utc_now()
    body: dict[str, Any] = {
        "workshop": args.workshop,
        "offer": args.offer,
        "machine": args.machine,
        "processes": args.process,
        "materials": args.material,
        "price": {
            "currency": args.currency,
            "setup": args.setup,
            "per_cm3": args.per_cm3,
            "per_hour": args.per_hour,
        },
        "rate_cm3_per_hour": _decimal3(args.rate),
        "lead_time_days": args.lead_time_days,
        "capacity_hours_per_week": args.capacity_hours_per_week,
        "valid_from": args.valid_from or format_time(now.replace(microsecond=0)),
        "valid_until": args.valid_until
        or format_time(now.replace(microsecond=0) + timedelta(days=args.valid_days)),
        "serves": _serves(args),
    }
    if args.note:
        body["note"] = args.note
    Offer.from_dict(body)
    async with NodeClient(args.node) as client:
        _printed(f"offer {args.offer} published", await sign_and_post(client, key, "offer", body))
    return 0


async def _withdraw(args: argparse.Namespace) -> int:
    key = load_key(Path(args.key))
    body: dict[str, Any] = {"workshop": args.workshop, "offer": args.offer}
    if args.reason:
        body["reason"] = args.reason
    OfferWithdraw.from_dict(body)
    async with NodeClient(args.node) as client:
        answer = await sign_and_post(client, key, OfferWithdraw.TYPE, body)
    _printed(f"offer {args.offer} withdrawn", answer)
    return 0


async def _list_offers(args: argparse.Namespace) -> int:
    params = {k: v for k, v in (("process", args.process), ("material", args.material)) if v}
    async with NodeClient(args.node) as client:
        offers = (await client.get_json("/api/v1/offers", **params))["offers"]
    for o in offers:
        price = o["price"]
        console.print(
            f"{o['workshop']}/{o['offer']} ({o['log']}) on {o['machine']}: "
            f"{' '.join(o['processes'])} in {' '.join(o['materials'])}; "
            f"setup {price['setup']}, per cm³ {price['per_cm3']}, per hour {price['per_hour']} "
            f"{price['currency']} (minor units); lead time {o['lead_time_days']} days",
            markup=False,
        )
    if not offers:
        console.print("no open offers")
    return 0


def _run(coroutine: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            result: int = asyncio.run(coroutine(args))
        except InvalidRecord as exc:
            raise CapacityCommandError(f"{exc.field}: {exc.reason}") from exc
        return result

    return run


def _node_args(p: argparse.ArgumentParser, *, key: bool = True) -> None:
    if key:
        p.add_argument("--key", required=True, help="the workshop owner's key file (PKCS#8 PEM)")
    p.add_argument("--node", required=True, help="the workshop's node URL")


def _operator_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="the node's data directory (admin token)")
    p.add_argument("--node", help="the node's URL (default: public_url from config)")


def _place_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lat", required=True, help='latitude, 6 decimals ("52.520008")')
    p.add_argument("--lon", required=True, help='longitude, 6 decimals ("13.404954")')
    p.add_argument("--country", required=True, help="ISO 3166-1 alpha-2 code (DE)")
    p.add_argument("--region", default="", help="region (text)")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `workshop`, `machine` and `offer` commands to the top-level parser."""
    workshop = sub.add_parser("workshop", help="workshops (operator)").add_subparsers(
        dest="workshop_command", required=True
    )
    p = workshop.add_parser("register", help="register a workshop of this node (node signs)")
    _operator_args(p)
    p.add_argument("--slug", required=True, help="the workshop's name in the log (a-z0-9-)")
    p.add_argument("--name", required=True, help="display name")
    _place_args(p)
    p.add_argument("--owner", action="append", required=True, help="owner did (repeatable)")
    p.add_argument("--description")
    p.add_argument("--url")
    p.set_defaults(func=_run(_register))

    p = workshop.add_parser("retire", help="retire a workshop of this node")
    _operator_args(p)
    p.add_argument("slug")
    p.add_argument("--reason")
    p.set_defaults(func=_run(_retire))

    p = workshop.add_parser("import-okw", help="register a workshop and its machines from OKW")
    _operator_args(p)
    p.add_argument("file", help="an Open Know-Where facility file (.yaml, .yml or .json)")
    p.add_argument("--owner-key", required=True, help="the owner's key: signs the machines")
    p.add_argument("--owner", action="append", default=[], help="more owner dids")
    p.add_argument("--slug", help="the workshop's name (default: from the facility's name)")
    p.add_argument("--name", help="display name (default: the facility's)")
    p.add_argument("--lat")
    p.add_argument("--lon")
    p.add_argument("--country", help="ISO 3166-1 alpha-2 (when OKW has none or free text)")
    p.add_argument("--region")
    p.add_argument(
        "--build-volume", type=volume_arg, help="X,Y,Z mm for equipment that does not say"
    )
    p.set_defaults(func=_run(_import_okw))

    p = workshop.add_parser("export-okw", help="write a workshop as an OKW facility file")
    p.add_argument("--node", required=True, help="a node URL")
    p.add_argument("--log", help="the log holding the workshop (default: the node's own)")
    p.add_argument("--workshop", required=True)
    p.add_argument("--flavour", choices=["json", "yaml"], default="yaml")
    p.add_argument("--out", help="file to write (default: print)")
    p.set_defaults(func=_run(_export_okw))

    machine = sub.add_parser("machine", help="machines (workshop owner)").add_subparsers(
        dest="machine_command", required=True
    )
    p = machine.add_parser("publish", help="describe (or update) a machine of a workshop")
    _node_args(p)
    p.add_argument("--workshop", required=True)
    p.add_argument("--machine", required=True, help="the machine's name (a-z0-9-)")
    p.add_argument("--kind", required=True, help="e.g. 3d-printer, laser-cutter, cnc-mill")
    p.add_argument("--process", action="append", required=True, help="e.g. fdm (repeatable)")
    p.add_argument("--material", action="append", help="e.g. pla (repeatable)")
    p.add_argument("--build-volume", type=volume_arg, required=True, help="X,Y,Z in mm")
    p.add_argument("--precision", default="0.100", help="mm (default 0.100)")
    p.add_argument("--name")
    p.add_argument("--make")
    p.add_argument("--model")
    p.add_argument("--inactive", action="store_true", help="out of service")
    p.set_defaults(func=_run(_machine))

    offer = sub.add_parser("offer", help="capacity offers").add_subparsers(
        dest="offer_command", required=True
    )
    p = offer.add_parser("publish", help="offer capacity on a machine (a new version replaces)")
    _node_args(p)
    p.add_argument("--workshop", required=True)
    p.add_argument("--offer", required=True, help="the offer's name (a-z0-9-)")
    p.add_argument("--machine", required=True)
    p.add_argument("--process", action="append", required=True)
    p.add_argument("--material", action="append", required=True)
    p.add_argument("--currency", required=True, help="ISO 4217, e.g. EUR")
    p.add_argument("--setup", type=int, required=True, help="per job, in minor units")
    p.add_argument("--per-cm3", type=int, required=True, help="per cm³ of part, minor units")
    p.add_argument("--per-hour", type=int, required=True, help="per machine hour, minor units")
    p.add_argument("--rate", required=True, help="cm³ the machine makes per hour")
    p.add_argument("--lead-time-days", type=int, default=2)
    p.add_argument("--capacity-hours-per-week", type=int, default=40)
    p.add_argument("--valid-from", help="RFC 3339 UTC (default now)")
    p.add_argument("--valid-until", help="RFC 3339 UTC (default: --valid-days from now)")
    p.add_argument("--valid-days", type=int, default=90)
    p.add_argument("--country", action="append", help="a country served (repeatable)")
    p.add_argument("--region", action="append", help="COUNTRY:Region served (repeatable)")
    p.add_argument("--radius-km", type=int, help="delivers within this distance")
    p.add_argument("--note")
    p.set_defaults(func=_run(_offer))

    p = offer.add_parser("withdraw", help="withdraw an open offer")
    _node_args(p)
    p.add_argument("--workshop", required=True)
    p.add_argument("--offer", required=True)
    p.add_argument("--reason")
    p.set_defaults(func=_run(_withdraw))

    p = offer.add_parser("list", help="open offers from every verified log")
    _node_args(p, key=False)
    p.add_argument("--process")
    p.add_argument("--material")
    p.set_defaults(func=_run(_list_offers))

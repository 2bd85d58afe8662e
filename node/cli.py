"""The `fabcommons` command line. The only place that configures logging or prints."""

from __future__ import annotations

import argparse
import asyncio
import base64
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from node.client import NodeClient
from node.commands import capacity, designs, governance, jobs, ledger
from node.config import ConfigError, load_config
from node.errors import NodeError
from node.verifylog import verify_remote_log
from protocol.errors import ProtocolError
from protocol.keys import AgentKey, save_key

__all__ = ["main"]

console = Console(emoji=False, highlight=False, soft_wrap=True)
err_console = Console(stderr=True, emoji=False, highlight=False, soft_wrap=True)


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )


def cmd_init(args: argparse.Namespace) -> int:
    # Imported here: Alembic takes most of a second to import, and only init needs it.
    from node.setup import init_node

    identity = init_node(
        Path(args.data),
        name=args.name,
        origin=args.origin,
        database_url=args.database_url,
        port=args.port,
    )
    console.print(f"[bold]node created[/bold] in {args.data}")
    console.print(f"did     {identity.did}")
    console.print(f"origin  {identity.origin}")
    console.print(f"vkey    {identity.vkey}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from node.app import create_app

    config = load_config(Path(args.data), host=args.host, port=args.port)
    _configure_logging(args.log_level)
    app = create_app(config)
    web.run_app(
        app,
        host=config.host,
        port=config.port,
        print=lambda _: logging.getLogger("node").info(
            "listening on http://%s:%d", config.host, config.port
        ),
        access_log=None,
        shutdown_timeout=10,
    )
    return 0


def cmd_key_new(args: argparse.Namespace) -> int:
    key = AgentKey.generate()
    save_key(key, Path(args.out))
    console.print(key.did, soft_wrap=True)
    return 0


async def _rotate(node: str, old: AgentKey, new: AgentKey, identity: str | None) -> int:
    from datetime import UTC, datetime

    from protocol.did import Did
    from protocol.membership import KeyRotate, sign_rotation
    from protocol.records import Record, b64url_decode, format_time
    from protocol.signing import sign

    who = Did(identity) if identity else old.did
    body = KeyRotate(
        identity=who,
        new_key=new.did,
        new_key_sig=b64url_decode(sign_rotation(who, old.did, new)),
    )
    record = Record(
        type=KeyRotate.TYPE,
        author=old.did,
        created=format_time(datetime.now(UTC)),
        body=body.to_dict(),
    )
    async with NodeClient(node) as client:
        result = await client.post_record(sign(record, old), old)
    console.print(f"{who} now signs with {new.did}")
    console.print(f"record {result['id']} at index {result['index']}")
    return 0


def cmd_key_rotate(args: argparse.Namespace) -> int:
    from protocol.keys import load_key

    old = load_key(Path(args.key))
    new = load_key(Path(args.new_key))
    if old.did == new.did:
        raise NodeError("the new key is the current key")
    return asyncio.run(_rotate(args.node, old, new, args.identity))


def cmd_backup(args: argparse.Namespace) -> int:
    from node.backup import backup_node

    report = backup_node(Path(args.data), Path(args.out))
    console.print(f"[bold]backup written[/bold] to {args.out}")
    for line in report:
        console.print(f"  {line}")
    return 0


async def _verify(url: str, quiet: bool) -> int:

    async with NodeClient(url) as client:
        with Progress(
            TextColumn("verifying"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err_console,
            disable=quiet,
        ) as bar:
            task = bar.add_task("entries", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            result = await verify_remote_log(client, progress)
    console.print(f"[green]verified[/green] {result.origin} ({result.did})")
    console.print(f"size    {result.size}")
    console.print(f"root    {base64.b64encode(result.root).decode()}")
    console.print(f"members {result.members}")
    for record_type, count in sorted(result.types.items()):
        console.print(f"  {record_type:<20} {count}")
    return 0


def cmd_log_verify(args: argparse.Namespace) -> int:
    return asyncio.run(_verify(args.url, args.quiet))


def cmd_log_recover(args: argparse.Namespace) -> int:
    from node.federation.recover import recover_offline

    config = load_config(Path(args.data))
    _configure_logging("warning")
    result = asyncio.run(
        recover_offline(
            config.database_url,
            args.sources,
            timeout_s=config.peer_timeout_s,
            batch_size=config.sync_batch,
        )
    )
    for url, size in sorted(result.seen.items()):
        console.print(f"{url} holds this log at size {size}")
    for url, why in sorted(result.unread.items()):
        console.print(f"{url}: nothing read ({why})")
    if not result.seen:
        raise NodeError("could not read this log's copy from any peer; nothing was changed")
    if result.recovered:
        console.print(
            f"[green]recovered[/green] {result.recovered} entries from {result.source}: "
            f"size {result.size_before} -> {result.size_after}"
        )
    else:
        console.print(f"nothing to recover: the log is at size {result.size_after}")
    return 0


async def _admit(node: str, token: str, did: str, role: str) -> int:

    async with NodeClient(node) as client:
        result = await client.admit_member(did, token, role)
    console.print(f"admitted {did} as {role}: record {result['id']} at index {result['index']}")
    return 0


def cmd_member_admit(args: argparse.Namespace) -> int:
    config = load_config(Path(args.data))
    token = config.token_path.read_text(encoding="ascii").strip()
    node = args.node or config.public_url
    return asyncio.run(_admit(node, token, args.did, args.role))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fabcommons", description="A fabcommons peer node and its tools."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("init", help="create a new node (key, config, database, admin token)")
    p.add_argument("--data", required=True, help="the node's data directory")
    p.add_argument("--name", required=True, help="the cooperative's display name")
    p.add_argument("--origin", help="the log origin (checkpoint key name); default from name")
    p.add_argument("--database-url", help="SQLAlchemy URL; default SQLite in the data directory")
    p.add_argument("--port", type=int, help="port `serve` listens on (default 8700)")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("serve", help="run the node until SIGINT/SIGTERM")
    p.add_argument("--data", required=True, help="the node's data directory")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (default 8700)")
    p.add_argument("--log-level", default="info", help="debug, info, warning, error")
    p.set_defaults(func=cmd_serve)

    key = sub.add_parser("key", help="agent keys").add_subparsers(dest="key_command", required=True)
    p = key.add_parser("new", help="make a member/workshop key file (mode 0600); prints its did")
    p.add_argument("--out", required=True, help="where to write the PKCS#8 PEM key")
    p.set_defaults(func=cmd_key_new)
    p = key.add_parser(
        "rotate", help="move a member's identity to a new key (both keys sign key.rotate)"
    )
    p.add_argument("--key", required=True, help="the identity's current key file")
    p.add_argument("--new-key", required=True, help="the new key file (make it with key new)")
    p.add_argument("--node", required=True, help="the URL of the member's node")
    p.add_argument("--identity", help="the identity's did, when the current key was rotated to")
    p.set_defaults(func=cmd_key_rotate)

    p = sub.add_parser(
        "backup", help="copy a node's data directory consistently, while it runs (SQLite)"
    )
    p.add_argument("--data", required=True, help="the node's data directory")
    p.add_argument("--out", required=True, help="a new directory for the backup")
    p.set_defaults(func=cmd_backup)

    log = sub.add_parser("log", help="logs").add_subparsers(dest="log_command", required=True)
    p = log.add_parser("verify", help="verify a node's whole log from outside")
    p.add_argument("url", help="the node's base URL, e.g. http://127.0.0.1:8700")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_log_verify)
    p = log.add_parser(
        "recover",
        help="with the node stopped: copy back own-log entries that peers mirror (after a restore)",
    )
    p.add_argument("--data", required=True, help="the node's data directory")
    p.add_argument(
        "--from",
        dest="sources",
        action="append",
        default=[],
        metavar="URL",
        help="a peer's base URL (repeatable; default: every peer the node follows)",
    )
    p.set_defaults(func=cmd_log_recover)

    member = sub.add_parser("member", help="members").add_subparsers(
        dest="member_command", required=True
    )
    p = member.add_parser("admit", help="admit a member (operator; uses <data>/admin.token)")
    p.add_argument("did", help="the member's did:key")
    p.add_argument("--data", required=True, help="the node's data directory")
    p.add_argument("--role", default="member", choices=["member", "operator"])
    p.add_argument("--node", help="the node's URL (default: public_url from config)")
    p.set_defaults(func=cmd_member_admit)
    for commands in (designs, capacity, jobs, governance, ledger):
        commands.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
        return result
    except (ConfigError, ProtocolError) as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        return 1
    except NodeError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        return 1
    except FileExistsError as exc:
        err_console.print(f"[red]error:[/red] {exc.filename} exists; refusing to overwrite")
        return 1
    except OSError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

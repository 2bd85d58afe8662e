"""`fabcommons design publish` and `fabcommons design import-okh` (issue 5).

Both upload the design's files with signed POST /api/v1/blobs, build and
sign the `design` record here, on the client, with the member's key, and
submit it with POST /api/v1/records; the node checks the files and the
licence (specs/04-designs.md §7). They print the design's id and log index.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
from pathlib import Path
from typing import Any

from rich.console import Console

from node.client import NodeClient
from node.clock import utc_now
from node.errors import NodeError
from protocol.keys import AgentKey, load_key
from protocol.records import Record, format_time
from protocol.signing import sign
from registry.designs import MODEL_UNITS, Author, Design, DesignFile
from registry.licences import COMMONS_LICENCE, check_publishable
from registry.okh import ImportPlan, media_type_for, read_manifest

__all__ = ["register"]

console = Console(emoji=False, highlight=False, soft_wrap=True)
err_console = Console(stderr=True, emoji=False, highlight=False, soft_wrap=True)

MAX_FILES = 100
_MESHES = frozenset({"stl", "obj", "ply", "3mf", "glb"})
_ROLES = {
    "step": "source",
    "stp": "source",
    "scad": "source",
    "fcstd": "source",
    "dxf": "drawing",
    "svg": "drawing",
    "pdf": "instructions",
    "md": "instructions",
    "txt": "instructions",
    "csv": "bom",
    "jpg": "photo",
    "jpeg": "photo",
    "png": "photo",
}


class DesignCommandError(NodeError):
    """A design command that cannot go on; the message says why."""


def _role(name: str) -> str:
    ext = name.rpartition(".")[2].lower() if "." in name else ""
    if ext in _MESHES:
        return "model"
    return _ROLES.get(ext, "source")


def _files_of(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DesignCommandError(f"{path} is neither a file nor a directory")
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise DesignCommandError(f"{path} holds no files")
    if len(files) > MAX_FILES:
        raise DesignCommandError(f"{path} holds {len(files)} files; a design holds {MAX_FILES}")
    return files


def _hash(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


async def _upload(client: NodeClient, key: AgentKey, path: Path) -> tuple[str, int]:
    # Blobs are read whole: the node's own limit (max_blob_bytes) bounds them.
    data = path.read_bytes()
    answer = await client.post_blob(data, key)
    expected = hashlib.sha256(data).hexdigest()
    if answer.get("sha256") != expected:
        raise DesignCommandError(f"the node stored {path.name} under another hash")
    console.print(f"uploaded {path.name} ({len(data)} bytes) sha256:{expected}")
    return expected, len(data)


async def _submit(client: NodeClient, key: AgentKey, design: Design) -> None:
    record = Record(
        type=Design.TYPE, author=key.did, created=format_time(utc_now()), body=design.to_dict()
    )
    answer = await client.post_record(sign(record, key), key)
    console.print(f"[bold]design published[/bold]: {design.title}")
    console.print(f"id      {answer['id']}")
    console.print(f"index   {answer['index']}")


async def _publish(args: argparse.Namespace) -> int:
    key = load_key(Path(args.key))
    path = Path(args.path)
    files = _files_of(path)
    title = args.title or (path.name if path.is_dir() else path.stem)
    body: dict[str, Any] = {
        "title": title,
        "summary": args.summary or "",
        "description": Path(args.description).read_text(encoding="utf-8")
        if args.description
        else "",
        "license": args.license,
        "authors": [Author(name=args.author or key.did, did=key.did).to_dict()],
        "version": args.version,
        "supersedes": args.supersedes,
        "derived_from": list(dict.fromkeys(args.derived_from)),
        "files": [],
        "processes": list(dict.fromkeys(args.process)),
        "materials": list(dict.fromkeys(args.material)),
        "tags": list(dict.fromkeys(args.tag)),
    }
    # Refuse a bad field or licence before uploading anything.
    Design.from_dict(body)
    check_publishable(args.license)
    async with NodeClient(args.node) as client:
        design_files = []
        for file in files:
            sha, size = await _upload(client, key, file)
            role = _role(file.name)
            design_files.append(
                DesignFile(
                    name=file.name,
                    media_type=media_type_for(file.name),
                    sha256=sha,
                    size=size,
                    role=role,
                    units=args.units if role == "model" else None,
                )
            )
        body["files"] = [f.to_dict() for f in design_files]
        await _submit(client, key, Design.from_dict(body))
    return 0


def _print_plan(plan: ImportPlan) -> None:
    console.print(f"manifest ({plan.format}): {plan.title}, licence {plan.license}")
    for note in plan.notes:
        err_console.print(f"note: {note}")


async def _import_okh(args: argparse.Namespace) -> int:
    key = load_key(Path(args.key))
    manifest = Path(args.manifest)
    beside = {
        p.name: p
        for p in manifest.parent.iterdir()
        if p.is_file() and p != manifest and not p.name.startswith(".")
    }
    fallback = [Author(name=args.author, did=key.did)] if args.author else []
    plan = read_manifest(
        manifest.read_bytes(),
        manifest.name,
        local_names=sorted(beside),
        units=args.units,
        fallback_authors=fallback,
    )
    _print_plan(plan)
    async with NodeClient(args.node) as client:
        hashes = {}
        for name in plan.local_names():
            hashes[name] = await _upload(client, key, beside[name])
        # An exported design carries its hashes: upload the files that are here and match.
        for planned in plan.files:
            here = beside.get(planned.name)
            if planned.sha256 is None or here is None:
                continue
            if _hash(here) == (planned.sha256, planned.size):
                await _upload(client, key, here)
            else:
                err_console.print(f"note: {planned.name} here differs from the manifest's hash")
        await _submit(client, key, plan.to_design(hashes))
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    return asyncio.run(_publish(args))


def cmd_import_okh(args: argparse.Namespace) -> int:
    return asyncio.run(_import_okh(args))


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--key", required=True, help="the member's key file (PKCS#8 PEM)")
    p.add_argument("--node", required=True, help="the node's URL, e.g. http://127.0.0.1:8700")
    p.add_argument(
        "--units",
        default="mm",
        choices=sorted(MODEL_UNITS),
        help="units of the model files (default mm)",
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `design publish` and `design import-okh` to the top-level parser."""
    design = sub.add_parser("design", help="open designs").add_subparsers(
        dest="design_command", required=True
    )
    p = design.add_parser(
        "publish", help="upload a design's files, sign its record with --key and publish it"
    )
    p.add_argument("path", metavar="DIR|FILE", help="a file, or a directory of files")
    _common(p)
    p.add_argument("--title", help="default: the directory's name or the file's stem")
    p.add_argument("--summary", help="one line")
    p.add_argument("--description", metavar="FILE", help="a Markdown file")
    p.add_argument(
        "--license", default=COMMONS_LICENCE, help=f"SPDX id (default {COMMONS_LICENCE})"
    )
    p.add_argument("--author", help="the author's display name (default: the key's did)")
    p.add_argument("--version", default="1", help="the design's version (default 1)")
    p.add_argument("--supersedes", metavar="ID", help="the earlier version this one replaces")
    p.add_argument(
        "--derived-from", metavar="ID", action="append", default=[], help="a design it adapts"
    )
    p.add_argument("--process", action="append", default=[], help="e.g. fdm, laser-cutting")
    p.add_argument("--material", action="append", default=[], help="e.g. pla, plywood-3mm")
    p.add_argument("--tag", action="append", default=[], help="a search tag")
    p.set_defaults(func=cmd_publish)

    p = design.add_parser(
        "import-okh",
        help="publish a design from an OKH v1 (YAML) or OKH-LOSH (TOML) manifest",
    )
    p.add_argument("manifest", metavar="MANIFEST", help="okh.yml, okh.toml, …")
    _common(p)
    p.add_argument("--author", help="credited (with the key's did) if the manifest names no one")
    p.set_defaults(func=cmd_import_okh)

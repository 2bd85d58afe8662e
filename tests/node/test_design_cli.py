"""`fabcommons design publish` and `design import-okh` against an in-process node.

The CLI runs in a worker thread (it starts its own event loop) and talks HTTP
to the node the test serves on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from node.cli import main
from node.corpus import corpus_dir
from protocol.keys import save_key

CORPUS = corpus_dir()
SWITCH = CORPUS / "designs" / "switch-plate-gopro"
pytestmark = pytest.mark.parametrize("backend", ["sqlite"])


@pytest.fixture
async def member(node_factory: Any, make_key: Any, tmp_path: Path) -> tuple[Any, Path, Any]:
    node = await node_factory()
    key = make_key("cli/ada")
    await node.admit(key.did)
    path = tmp_path / "ada.key"
    save_key(key, path)
    return node, path, key


async def run(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _id(out: str) -> str:
    match = re.search(r"^id\s+(sha256:[0-9a-f]{64})$", out, re.MULTILINE)
    assert match, out
    return match.group(1)


async def test_import_okh_publishes_the_switch_plate(member: Any, capsys: Any) -> None:
    node, key_path, key = member
    code, out, err = await run(
        capsys,
        "design",
        "import-okh",
        str(SWITCH / "okh.yml"),
        "--key",
        str(key_path),
        "--node",
        node.url(""),
    )
    assert code == 0, err
    got = (await node.get(f"/api/v1/designs/{_id(out)}")).json()
    assert got["title"] == "Switch Plate - GoPro Compatible"
    assert got["author"] == key.did
    assert [a["name"] for a in got["authors"]] == ["Anna Millbourn", "Jake McIvor"]
    stl = (SWITCH / "Switch_Plate_GoPro_Compatible.stl").read_bytes()
    files = {f["name"]: f for f in got["files"]}
    assert files["Switch_Plate_GoPro_Compatible.stl"]["sha256"] == hashlib.sha256(stl).hexdigest()
    assert all(f["available"] for f in got["files"])
    assert "okh-manifest-version" in err  # the notes say what was not used


async def test_import_okh_of_an_exported_design_reuses_its_hashes(
    member: Any, capsys: Any, tmp_path: Path
) -> None:
    node, key_path, _ = member
    args = ("--key", str(key_path), "--node", node.url(""))
    code, out, _ = await run(capsys, "design", "import-okh", str(SWITCH / "okh.yml"), *args)
    assert code == 0
    first = _id(out)
    exported = tmp_path / "again" / "okh.toml"
    exported.parent.mkdir()
    exported.write_bytes((await node.get(f"/api/v1/designs/{first}/okh.toml")).body)
    shutil.copy(SWITCH / "Switch_Plate_GoPro_Compatible.stl", exported.parent)
    code, out, err = await run(capsys, "design", "import-okh", str(exported), *args)
    assert code == 0, err
    second = _id(out)
    bodies = [(await node.get(f"/api/v1/designs/{i}")).json()["body"] for i in (first, second)]
    assert bodies[0] == bodies[1]


async def test_publish_a_directory(member: Any, capsys: Any, tmp_path: Path) -> None:
    node, key_path, key = member
    folder = tmp_path / "Cable clip"
    folder.mkdir()
    (folder / "clip.stl").write_bytes(b"solid clip\nendsolid clip\n")
    (folder / "notes.md").write_text("Print at 0.2 mm.\n")
    (folder / ".hidden").write_text("not published")
    code, out, err = await run(
        capsys,
        "design",
        "publish",
        str(folder),
        "--key",
        str(key_path),
        "--node",
        node.url(""),
        "--units",
        "inch",
        "--process",
        "fdm",
        "--author",
        "Ada",
        "--tag",
        "cable",
    )
    assert code == 0, err
    got = (await node.get(f"/api/v1/designs/{_id(out)}")).json()
    assert got["title"] == "Cable clip"
    assert got["license"] == "CC-BY-SA-4.0"
    assert got["authors"] == [{"name": "Ada", "did": key.did}]
    assert got["processes"] == ["fdm"]
    assert got["tags"] == ["cable"]
    assert sorted((f["name"], f["role"], f.get("units")) for f in got["files"]) == [
        ("clip.stl", "model", "inch"),
        ("notes.md", "instructions", None),
    ]


async def test_clear_errors(member: Any, capsys: Any, tmp_path: Path) -> None:
    node, key_path, _ = member
    args = ("--key", str(key_path), "--node", node.url(""))
    code, _, err = await run(
        capsys, "design", "import-okh", str(CORPUS / "manifests" / "okh-losh-nimble.toml"), *args
    )
    assert code == 1
    assert "CERN-OHL-S-2.0" in err
    part = tmp_path / "part.stl"
    part.write_bytes(b"solid p\nendsolid p\n")
    code, out, _ = await run(capsys, "design", "publish", str(part), *args)
    assert code == 0
    parent = _id(out)
    code, _, err = await run(
        capsys,
        "design",
        "publish",
        str(part),
        *args,
        "--title",
        "Remix",
        "--license",
        "CC-BY-4.0",
        "--derived-from",
        parent,
    )
    assert code == 1
    assert "share-alike" in err
    assert "CC-BY-4.0" in err
    code, _, err = await run(capsys, "design", "publish", str(part), *args, "--license", "MIT")
    assert code == 1
    assert "MIT" in err
    code, _, err = await run(capsys, "design", "publish", str(tmp_path / "nothing"), *args)
    assert code == 1
    assert "neither a file nor a directory" in err

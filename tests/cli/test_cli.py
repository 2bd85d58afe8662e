"""The `fabcommons` command line: help, init, key new, serve, member admit.

End-to-end cases run the installed console script as a child process (with
umask 0, so that a file mode that relies on the umask shows); the many small
refusals call the same entry point, `node.cli.main`, in process. Expected
values are computed here: dids with a local base58btc encoder, verifier keys
and record ids with hashlib and rfc8785, keys read back with `cryptography`.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import rfc8785
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
)
from fabnodes import b58btc, parse_init_output

from node.cli import main

RUN_TIMEOUT_S = 60.0
STARTUP_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 15.0
SECRET_FILES = ("node.key", "admin.token")
NODE_FILES = ("config.yaml", "node.key", "admin.token")


# -- independent computations ----------------------------------------------------------------


def _public_key_of_file(path: Path) -> bytes:
    """Read a key file as PKCS#8 PEM with `cryptography`; return the raw Ed25519 public key."""
    pem = path.read_bytes()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n"), pem[:40]
    key = load_pem_private_key(pem, password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _did_of_file(path: Path) -> str:
    return "did:key:z" + b58btc(b"\xed\x01" + _public_key_of_file(path))


def _vkey(origin: str, public_key: bytes) -> str:
    material = b"\x01" + public_key
    key_hash = hashlib.sha256(origin.encode() + b"\n" + material).digest()[:4]
    return f"{origin}+{key_hash.hex()}+{base64.b64encode(material).decode()}"


def _new_did(seed_name: str) -> str:
    seed = hashlib.sha256(seed_name.encode()).digest()
    public = (
        Ed25519PrivateKey.from_private_bytes(seed)
        .public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
    )
    return "did:key:z" + b58btc(b"\xed\x01" + public)


# -- running the command -----------------------------------------------------------------------


def _cli_argv() -> list[str]:
    script = Path(sys.executable).parent / "fabcommons"
    return [str(script)] if script.exists() else [sys.executable, "-m", "node.cli"]


def _env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("FABCOMMONS_") and k != "FORCE_COLOR"
    }
    env["NO_COLOR"] = "1"
    return env


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """The console script, as a user runs it, with umask 0."""
    return subprocess.run(
        [*_cli_argv(), *map(str, args)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=RUN_TIMEOUT_S,
        umask=0,
        check=False,
    )


Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """node.cli.main in process: (exit code, stdout, stderr)."""
    for name in list(os.environ):
        if name.startswith("FABCOMMONS_"):
            monkeypatch.delenv(name)

    def run(*args: str | Path) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _snapshot(directory: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every file under directory: contents, mtime_ns, mode."""
    return {
        str(p.relative_to(directory)): (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_mode)
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@dataclass
class Served:
    data: Path
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> int:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                return self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=STOP_TIMEOUT_S)
        return self.proc.returncode


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[Path], Served]]:
    """Start `fabcommons serve --data D` (port from D's config) and wait for /healthz."""
    started: list[Served] = []

    def start(data: Path) -> Served:
        port = yaml.safe_load((data / "config.yaml").read_text())["port"]
        log = tmp_path / f"serve-{len(started)}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [*_cli_argv(), "serve", "--data", str(data)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=_env(),
                start_new_session=True,
            )
        served = Served(data, f"http://127.0.0.1:{port}", proc, log)
        started.append(served)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"serve exited early:\n{log.read_text()}"
            with contextlib.suppress(urllib.error.URLError, OSError):
                if _get_json(served.url + "/healthz")["status"] == "ok":
                    return served
            time.sleep(0.05)
        raise AssertionError(f"/healthz never answered:\n{log.read_text()}")

    yield start
    for served in started:
        served.stop()


def _init_in_process(cli: Cli, data: Path, *extra: str) -> dict[str, str]:
    code, out, err = cli("init", "--data", data, "--name", "Test Coop", *extra)
    assert code == 0, err
    return parse_init_output(out)


# -- help --------------------------------------------------------------------------------------

HELP = [
    ((), ("init", "serve", "key", "log", "member")),
    (("init",), ("--data", "--name", "--origin", "--database-url", "--port")),
    (("serve",), ("--data", "--host", "--port", "--log-level")),
    (("key",), ("new",)),
    (("key", "new"), ("--out",)),
    (("log",), ("verify", "recover")),
    (("log", "verify"), ("url", "--quiet")),
    (("log", "recover"), ("--data", "--from")),
    (("member",), ("admit",)),
    (("member", "admit"), ("did", "--data", "--role", "--node")),
]


@pytest.mark.parametrize(("command", "mentions"), HELP, ids=[" ".join(c) or "top" for c, _ in HELP])
def test_help_of_every_command(
    command: tuple[str, ...], mentions: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(" ".join(("usage: fabcommons", *command))), out
    for word in mentions:
        assert word in out, f"{word!r} missing from the help of {command}"


@pytest.mark.parametrize("command", [(), ("key",), ("log",), ("member",)], ids=str)
def test_a_missing_subcommand_is_a_usage_error(
    command: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(list(command))
    assert exited.value.code == 2
    assert "usage: fabcommons" in capsys.readouterr().err


def test_the_console_script_prints_help() -> None:
    done = _run("--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: fabcommons")


# -- init --------------------------------------------------------------------------------------


def test_init_creates_a_private_key_a_token_and_a_config(tmp_path: Path) -> None:
    data = tmp_path / "coop"
    done = _run("init", "--data", data, "--name", "Fab Lab Zürich", "--port", "8765")
    assert done.returncode == 0, done.stderr
    printed = parse_init_output(done.stdout)
    assert set(printed) == {"did", "origin", "vkey"}, done.stdout

    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for name in SECRET_FILES:
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name
    assert printed["did"] == _did_of_file(data / "node.key")
    assert printed["did"].startswith("did:key:z6Mk")
    assert printed["vkey"] == _vkey(printed["origin"], _public_key_of_file(data / "node.key"))

    token = (data / "admin.token").read_text(encoding="ascii").strip()
    assert len(token) >= 32
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert token not in done.stdout + done.stderr

    config = yaml.safe_load((data / "config.yaml").read_text(encoding="utf-8"))
    assert config["name"] == "Fab Lab Zürich"
    assert config["origin"] == printed["origin"]
    assert config["port"] == 8765
    assert "+" not in printed["origin"]
    assert " " not in printed["origin"]

    with contextlib.closing(sqlite3.connect(data / "node.db")) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert {"logs", "entries", "checkpoints"} <= tables


def test_init_takes_an_explicit_origin(tmp_path: Path, cli: Cli) -> None:
    printed = _init_in_process(cli, tmp_path / "coop", "--origin", "example.org/coop")
    assert printed["origin"] == "example.org/coop"
    assert printed["vkey"].startswith("example.org/coop+")


def test_init_refuses_to_run_twice_and_changes_nothing(tmp_path: Path, cli: Cli) -> None:
    data = tmp_path / "coop"
    _init_in_process(cli, data)
    before = _snapshot(data)
    dir_mode = data.stat().st_mode

    done = _run("init", "--data", data, "--name", "Second")
    assert done.returncode == 1
    assert "exists" in done.stderr
    assert "Traceback" not in done.stderr
    assert _snapshot(data) == before
    assert data.stat().st_mode == dir_mode


@pytest.mark.parametrize("existing", NODE_FILES)
def test_init_refuses_a_directory_holding_any_node_file(
    existing: str, tmp_path: Path, cli: Cli
) -> None:
    data = tmp_path / "coop"
    data.mkdir(mode=0o755)
    (data / existing).write_text("keep me\n")
    before = _snapshot(data)
    code, _out, err = cli("init", "--data", data, "--name", "Coop")
    assert code == 1
    assert existing in err
    assert _snapshot(data) == before
    assert stat.S_IMODE(data.stat().st_mode) == 0o755


@pytest.mark.parametrize(
    "args",
    [("--origin", "has space"), ("--origin", "a+b"), ("--port", "-1")],
    ids=["origin-with-space", "origin-with-plus", "negative-port"],
)
def test_init_refuses_a_bad_setting_before_writing_anything(
    args: tuple[str, ...], tmp_path: Path, cli: Cli
) -> None:
    data = tmp_path / "coop"
    code, _out, err = cli("init", "--data", data, "--name", "Coop", *args)
    assert code == 1
    assert err.startswith("error:")
    assert not data.exists() or list(data.iterdir()) == []


def test_a_failed_init_leaves_no_half_made_node(tmp_path: Path, cli: Cli) -> None:
    """A database that cannot be reached fails init without leaving files that block a retry."""
    data = tmp_path / "coop"
    unreachable = f"postgresql+asyncpg://postgres@127.0.0.1:{_free_port()}/nothing"
    code, _out, err = cli("init", "--data", data, "--name", "Coop", "--database-url", unreachable)
    assert code == 1
    assert err.startswith("error:")
    left = sorted(p.name for p in data.iterdir()) if data.exists() else []
    assert not set(left) & set(NODE_FILES), f"init failed but left {left} behind"
    # So that the operator can simply run init again.
    _init_in_process(cli, data)


# -- key new -----------------------------------------------------------------------------------


def test_key_new_writes_a_private_pkcs8_key_and_prints_its_did(tmp_path: Path) -> None:
    path = tmp_path / "alice.key"
    done = _run("key", "new", "--out", path)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert done.stdout.strip() == _did_of_file(path)


def test_key_new_makes_a_new_key_each_time(tmp_path: Path, cli: Cli) -> None:
    dids = set()
    for name in ("a.key", "b.key"):
        code, out, err = cli("key", "new", "--out", tmp_path / name)
        assert code == 0, err
        assert out.strip() == _did_of_file(tmp_path / name)
        dids.add(out.strip())
    assert len(dids) == 2


def test_key_new_refuses_to_overwrite(tmp_path: Path, cli: Cli) -> None:
    path = tmp_path / "alice.key"
    path.write_bytes(b"precious\n")
    os.chmod(path, 0o600)
    before = _snapshot(tmp_path)
    code, out, err = cli("key", "new", "--out", path)
    assert code == 1
    assert "exists" in err
    assert out == ""
    assert _snapshot(tmp_path) == before


def test_key_new_into_a_missing_directory_is_a_clear_error(tmp_path: Path, cli: Cli) -> None:
    code, _out, err = cli("key", "new", "--out", tmp_path / "missing" / "alice.key")
    assert code == 1
    assert err.startswith("error:")


# -- serve -------------------------------------------------------------------------------------


@pytest.mark.parametrize("exists", [True, False], ids=["empty-dir", "missing-dir"])
def test_serve_on_a_directory_without_a_node_says_to_run_init(
    exists: bool, tmp_path: Path, cli: Cli
) -> None:
    data = tmp_path / "coop"
    if exists:
        data.mkdir()
    code, _out, err = cli("serve", "--data", data, "--port", str(_free_port()))
    assert code != 0
    assert "fabcommons init" in err
    assert data.exists() == exists
    assert not exists or list(data.iterdir()) == []


def test_serve_refuses_a_node_key_others_can_read(tmp_path: Path, cli: Cli) -> None:
    data = tmp_path / "coop"
    _init_in_process(cli, data)
    os.chmod(data / "node.key", 0o640)
    # A child process, bounded: were the key accepted, serve would run forever.
    done = _run("serve", "--data", data, "--port", str(_free_port()))
    assert done.returncode == 1
    assert "chmod 600" in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_on_a_port_in_use_is_a_clear_error(tmp_path: Path, cli: Cli) -> None:
    data = tmp_path / "coop"
    _init_in_process(cli, data)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        done = _run("serve", "--data", data, "--port", str(taken.getsockname()[1]))
    assert done.returncode == 1
    assert "address already in use" in done.stderr.lower()
    assert "Traceback" not in done.stderr


def test_serve_answers_and_stops_cleanly_on_sigterm(
    tmp_path: Path, cli: Cli, serve: Callable[[Path], Served]
) -> None:
    data = tmp_path / "coop"
    printed = _init_in_process(cli, data, "--port", str(_free_port()))
    served = serve(data)
    info = _get_json(served.url + "/.well-known/fabcommons")
    assert info["did"] == printed["did"] == _did_of_file(data / "node.key")
    assert info["log"] == {"origin": printed["origin"], "vkey": printed["vkey"]}
    assert served.stop() == 0
    assert "Traceback" not in served.log.read_text()


# -- member admit ------------------------------------------------------------------------------


def test_member_admit_against_a_running_node(
    tmp_path: Path, cli: Cli, serve: Callable[[Path], Served]
) -> None:
    data = tmp_path / "coop"
    printed = _init_in_process(cli, data, "--port", str(_free_port()))
    served = serve(data)
    alice, bob = _new_did("alice"), _new_did("bob")

    # The real command, with the node's URL taken from its config.
    done = _run("member", "admit", alice, "--data", data)
    assert done.returncode == 0, done.stderr
    match = re.fullmatch(
        rf"admitted {re.escape(alice)} as member: record (sha256:[0-9a-f]{{64}}) at index 0\s*",
        done.stdout,
    )
    assert match, done.stdout

    with urllib.request.urlopen(served.url + "/fed/v1/entries?start=0&end=1", timeout=10) as r:
        leaf = r.read().rstrip(b"\n")
    entry = json.loads(leaf)
    assert "sha256:" + hashlib.sha256(rfc8785.dumps(entry["record"])).hexdigest() == match[1]
    assert entry["record"]["type"] == "member.admit"
    assert entry["record"]["author"] == printed["did"]
    assert entry["record"]["body"] == {"member": alice, "role": "member"}

    code, out, err = cli("member", "admit", alice, "--data", data)
    assert code == 1
    assert "already" in err

    code, out, err = cli(
        "member", "admit", bob, "--data", data, "--role", "operator", "--node", served.url
    )
    assert code == 0, err
    assert out.startswith(f"admitted {bob} as operator: record sha256:")
    assert out.rstrip().endswith("at index 1")

    members = _get_json(served.url + "/api/v1/members")["members"]
    roles = {m["did"]: m["role"] for m in members}
    assert roles == {alice: "member", bob: "operator"}

    code, out, err = cli("member", "admit", "did:key:zNotAKey", "--data", data)
    assert code == 1
    assert err.startswith("error:")

    assert served.stop() == 0
    code, out, err = cli("member", "admit", _new_did("carol"), "--data", data)
    assert code == 1
    assert err.startswith("error:")

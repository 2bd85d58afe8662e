"""Fixtures for cross-implementation tests against Go's golang.org/x/mod/sumdb.

The Go programs in tests/interop/go/ are built once per test session, offline,
in GOPATH mode against the x/mod source Debian's golang-golang-x-mod-dev
installs. Without `go` or that source the tests are skipped, unless
FABCOMMONS_REQUIRE_INTEROP=1 (set by CI), in which case they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

GO_SOURCE = Path(__file__).parent / "go"
PROGRAMS = ("verify", "prove")
# Debian's golang-golang-x-mod-dev; FABCOMMONS_GOPATH may name another GOPATH
# root that holds src/golang.org/x/mod.
DEFAULT_GOPATH = "/usr/share/gocode"
_XMOD_FILES = ("sumdb/note/note.go", "sumdb/tlog/tlog.go")
_RUN_TIMEOUT_S = 120


class GoToolError(AssertionError):
    """A Go program refused its input; `message` is its stderr."""

    def __init__(self, program: str, returncode: int, message: str) -> None:
        super().__init__(f"{program} exited {returncode}: {message}")
        self.program = program
        self.returncode = returncode
        self.message = message


@dataclass(frozen=True)
class GoTools:
    """The built Go programs; each call sends one JSON command on stdin."""

    bin_dir: Path
    build_command: tuple[str, ...]

    def _call(self, program: str, command: Mapping[str, Any]) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [str(self.bin_dir / program)],
            input=json.dumps(command).encode("utf-8"),
            capture_output=True,
            timeout=_RUN_TIMEOUT_S,
            check=False,
        )

    def run(self, program: str, command: Mapping[str, Any]) -> dict[str, Any]:
        """Run a program and return its JSON answer. Raises GoToolError on refusal."""
        proc = self._call(program, command)
        if proc.returncode != 0:
            raise GoToolError(program, proc.returncode, proc.stderr.decode("utf-8", "replace"))
        answer: dict[str, Any] = json.loads(proc.stdout)
        return answer

    def refusal(self, program: str, command: Mapping[str, Any]) -> str:
        """Run a program that must refuse its input; return its message."""
        proc = self._call(program, command)
        assert proc.returncode == 1, (
            f"{program} accepted what it should refuse: {proc.stdout!r} {proc.stderr!r}"
        )
        message = proc.stderr.decode("utf-8", "replace")
        assert message.startswith(f"{program}: "), message
        return message

    def verify(self, command: Mapping[str, Any]) -> dict[str, Any]:
        """Check a note and proofs with note.Open, tlog.CheckRecord and tlog.CheckTree."""
        return self.run("verify", command)

    def prove(self, command: Mapping[str, Any]) -> dict[str, Any]:
        """Compute roots and proofs with tlog.TreeHash, ProveRecord and ProveTree."""
        return self.run("prove", command)


def _unavailable(reason: str) -> None:
    if os.environ.get("FABCOMMONS_REQUIRE_INTEROP") == "1":
        pytest.fail(f"FABCOMMONS_REQUIRE_INTEROP=1 but {reason}", pytrace=False)
    pytest.skip(f"Go interop unavailable: {reason}")


@pytest.fixture(scope="session")
def go_tools(tmp_path_factory: pytest.TempPathFactory) -> GoTools:
    """Build the Go interop programs once per session; skip (or fail in CI) without Go."""
    go = shutil.which("go")
    if go is None:
        _unavailable("no `go` on PATH (Debian: apt-get install golang-go)")
    gopath_root = os.environ.get("FABCOMMONS_GOPATH", DEFAULT_GOPATH)
    xmod = Path(gopath_root) / "src" / "golang.org" / "x" / "mod"
    missing = [f for f in _XMOD_FILES if not (xmod / f).is_file()]
    if missing:
        _unavailable(
            f"golang.org/x/mod source not found under {xmod} "
            "(Debian: apt-get install golang-golang-x-mod-dev)"
        )
    assert go is not None

    work = tmp_path_factory.mktemp("go-interop")
    bin_dir = work / "bin"
    bin_dir.mkdir()
    env = {
        **os.environ,
        # GOPATH mode resolves golang.org/x/mod from the packaged source, so
        # the build needs no module download and no network at all.
        "GO111MODULE": "off",
        "GOPATH": f"{work / 'gopath'}{os.pathsep}{gopath_root}",
        "GOCACHE": str(work / "cache"),
        "GOFLAGS": "",
        "GOPROXY": "off",
        "CGO_ENABLED": "0",
    }
    command = (go, "build", "-o", f"{bin_dir}{os.sep}", *(f"./{p}" for p in PROGRAMS))
    proc = subprocess.run(
        command, cwd=GO_SOURCE, env=env, capture_output=True, timeout=300, check=False
    )
    if proc.returncode != 0:
        # Go and x/mod are present, so a failed build is a real failure.
        pytest.fail(
            f"building the Go interop programs failed:\n{proc.stderr.decode('utf-8', 'replace')}",
            pytrace=False,
        )
    return GoTools(bin_dir=bin_dir, build_command=command)

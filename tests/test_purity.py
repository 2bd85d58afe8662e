"""The pure core (protocol/, registry/, governance/) stays pure.

STYLE.md §1: the core imports neither aiohttp nor SQLAlchemy (nor their
drivers), and reads neither the environment nor the wall clock. The first test
imports every core module in a fresh interpreter where those packages cannot
be imported; the second looks for clock and environment reads in the source.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE_PACKAGES = ("protocol", "registry", "governance")
BLOCKED = ("aiohttp", "sqlalchemy", "aiosqlite", "asyncpg")

# Runs in a fresh interpreter: the blocker is installed before anything else
# is imported, so a core module that imports a blocked package, directly or
# through another module, fails with ImportError.
_IMPORT_ALL = textwrap.dedent(
    """
    import importlib
    import json
    import pkgutil
    import sys

    BLOCKED = {blocked!r}

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{{name}} is blocked: the core must not import it")
            return None

    def reraise(name):
        raise

    sys.meta_path.insert(0, Blocker())
    imported = []
    for package_name in {packages!r}:
        package = importlib.import_module(package_name)
        imported.append(package_name)
        for info in pkgutil.walk_packages(package.__path__, package_name + ".", reraise):
            importlib.import_module(info.name)
            imported.append(info.name)
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        blocker_works = True
    else:
        blocker_works = False
    print(json.dumps({{"imported": imported, "leaked": leaked, "blocker_works": blocker_works}}))
    """
)


def _core_files() -> list[Path]:
    return sorted(p for pkg in CORE_PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def test_core_imports_without_io_packages() -> None:
    script = _IMPORT_ALL.format(blocked=BLOCKED, packages=CORE_PACKAGES)
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.splitlines()[-1])
    assert report["blocker_works"] is True
    assert report["leaked"] == []
    expected = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in _core_files()
    }
    # walk_packages found every module file of the core, so none was skipped.
    assert set(report["imported"]) == expected


def test_blocker_catches_an_indirect_import(tmp_path: Path) -> None:
    """The check can fail: a module that imports sqlalchemy through another is refused."""
    package = tmp_path / "impure"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "_helper.py").write_text("import sqlalchemy.orm\n")
    (package / "module.py").write_text("from impure import _helper\n")
    script = _IMPORT_ALL.format(blocked=BLOCKED, packages=("impure",))
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode != 0
    assert "sqlalchemy.orm is blocked" in proc.stderr or "sqlalchemy is blocked" in proc.stderr


# Attribute chains that read the wall clock or the environment.
_FORBIDDEN_CALLS = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "time_ns"),
    ("os", "getenv"),
}
_FORBIDDEN_ATTRIBUTES = {("os", "environ"), ("os", "environb")}
_FORBIDDEN_FROM_IMPORTS = {
    ("os", "environ"),
    ("os", "environb"),
    ("os", "getenv"),
    ("time", "time"),
    ("time", "time_ns"),
}


def _dotted_tail(node: ast.expr) -> tuple[str, str] | None:
    """(owner, attribute) of `owner.attribute` or `x.owner.attribute`."""
    if not isinstance(node, ast.Attribute):
        return None
    value = node.value
    if isinstance(value, ast.Name):
        return value.id, node.attr
    if isinstance(value, ast.Attribute):
        return value.attr, node.attr
    return None


def impurities(source: str) -> list[str]:
    """Clock and environment reads in one module's source, as `line: what`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and _dotted_tail(node.func) in _FORBIDDEN_CALLS:
            owner, attr = _dotted_tail(node.func) or ("", "")
            found.append(f"{node.lineno}: {owner}.{attr}()")
        elif isinstance(node, ast.Attribute) and _dotted_tail(node) in _FORBIDDEN_ATTRIBUTES:
            found.append(f"{node.lineno}: {node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module in ("os", "time"):
            for alias in node.names:
                if (node.module, alias.name) in _FORBIDDEN_FROM_IMPORTS:
                    found.append(f"{node.lineno}: from {node.module} import {alias.name}")
    return found


IMPURE_SOURCES = [
    pytest.param("from datetime import datetime\nx = datetime.now()\n", id="datetime.now"),
    pytest.param("import datetime\nx = datetime.datetime.utcnow()\n", id="datetime.utcnow"),
    pytest.param("import datetime as dt\nx = dt.datetime.now(dt.UTC)\n", id="dt.datetime.now"),
    pytest.param("import time\nx = time.time()\n", id="time.time"),
    pytest.param("import os\nx = os.environ['HOME']\n", id="os.environ"),
    pytest.param("import os\nx = os.environ.get('HOME')\n", id="os.environ.get"),
    pytest.param("import os\nx = os.getenv('HOME')\n", id="os.getenv"),
    pytest.param("from os import environ\n", id="from-os-import-environ"),
    pytest.param("from time import time\n", id="from-time-import-time"),
]


@pytest.mark.parametrize("source", IMPURE_SOURCES)
def test_impurity_check_finds(source: str) -> None:
    assert impurities(source) != []


PURE_SOURCES = [
    pytest.param('"""Never calls datetime.now() or reads os.environ."""\n', id="docstring"),
    pytest.param("# time.time() is never called\n", id="comment"),
    pytest.param("def tally(*, now):\n    return now.isoformat()\n", id="now-parameter"),
    pytest.param("import os\nfd = os.open('x', os.O_RDONLY)\n", id="os.open"),
    pytest.param(
        "from datetime import UTC, datetime\nx = datetime(2025, 1, 1, tzinfo=UTC)\n",
        id="datetime-constructor",
    ),
]


@pytest.mark.parametrize("source", PURE_SOURCES)
def test_impurity_check_allows(source: str) -> None:
    assert impurities(source) == []


@pytest.mark.parametrize("path", _core_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_reads_no_clock_or_environment(path: Path) -> None:
    assert impurities(path.read_text(encoding="utf-8")) == []

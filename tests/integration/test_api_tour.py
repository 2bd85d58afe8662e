"""docs/api-tour.md runs: its `sh` blocks, in order, as one script against a real node.

Guarantee: every curl example in the tour works as written against the
current node (the blocks carry their own checks with `test`), so the
documentation cannot drift from the API.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from fednet import CLI_TIMEOUT_S, FedNet, child_env, cli_argv

pytestmark = pytest.mark.slow

TOUR = Path(__file__).resolve().parents[2] / "docs" / "api-tour.md"
_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)


def test_the_tour_has_examples() -> None:
    blocks = _BLOCK.findall(TOUR.read_text(encoding="utf-8"))
    assert len(blocks) >= 10


async def test_every_example_of_the_tour_runs(fednet: FedNet, tmp_path: Path) -> None:
    assert shutil.which("curl"), "curl is needed to run the tour"
    node = fednet.node("A")
    await node.start()
    blocks = _BLOCK.findall(TOUR.read_text(encoding="utf-8"))
    script = "set -euo pipefail\n" + "\n".join(blocks)
    work = tmp_path / "work"
    work.mkdir()
    fab = " ".join(cli_argv())
    env = {
        **child_env(),
        "NODE": node.url,
        "DATA": str(node.path),
        "WORK": str(work),
        "FAB": str(tmp_path / "fabcommons"),
    }
    wrapper = tmp_path / "fabcommons"
    wrapper.write_text(f'#!/bin/sh\nexec {fab} "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    done = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=CLI_TIMEOUT_S * 4,
        check=False,
    )
    assert done.returncode == 0, f"the tour failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"

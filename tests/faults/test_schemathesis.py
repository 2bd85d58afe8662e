"""Schemathesis against a running node's own /api/openapi.json.

Guarantee: no request that the published API description allows a client to
shape (every operation, fuzzed within and just outside its schema, and
chained statefully) makes the node answer with a 5xx. The operator's token
is sent so that the admin operations are exercised past their
authentication; agent-signed operations answer 401 to unsigned fuzz, which
is itself checked (no 5xx on the way there).

The run is bounded (examples per operation, request timeout, a fixed seed so
that CI is reproducible) and the node is a real `fabcommons serve` process.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from fednet import FedNet, child_env

pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = 20
RUN_TIMEOUT_S = 600


async def test_no_generated_request_makes_the_node_fail(fednet: FedNet, tmp_path: Path) -> None:
    # Routing is rate-limited per client (2/s by default); the fuzzer is one client.
    node = fednet.node("A", route_rate_per_s=1000)
    await node.start()
    schemathesis = Path(sys.executable).with_name("schemathesis")
    assert schemathesis.exists(), "schemathesis is in the test extra of pyproject.toml"
    done = subprocess.run(
        [
            str(schemathesis),
            "run",
            f"{node.url}/api/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            str(EXAMPLES_PER_OPERATION),
            "--seed",
            "20261126",
            "--request-timeout",
            "20",
            "--header",
            f"Authorization: Bearer {node.token}",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path / "report"),
        ],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=RUN_TIMEOUT_S,
        check=False,
        cwd=tmp_path,
    )
    summary = f"exit {done.returncode}: " + done.stdout[-3000:]
    assert done.returncode == 0, f"schemathesis found failures:\n{summary}\n{done.stderr[-2000:]}"
    counts = re.search(r"(\d+) generated, (\d+) passed\s*$", done.stdout, re.MULTILINE)
    assert counts is not None, summary
    assert int(counts.group(1)) == int(counts.group(2)) > 1000, summary
    assert (await node.request("GET", "/healthz"))[0] == 200
    node.stop()

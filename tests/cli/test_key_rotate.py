"""`fabcommons key rotate`: a member moves to a new key; the old key stops counting."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from fednet import CLI_TIMEOUT_S, FedNet, child_env, cli_argv, profile_envelope

from node.client import NodeClient
from node.errors import NodeClientError
from protocol.keys import AgentKey, save_key

pytestmark = pytest.mark.slow


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cli_argv(), *args],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=CLI_TIMEOUT_S,
        check=False,
    )


async def test_rotate_moves_the_identity_to_the_new_key(fednet: FedNet, tmp_path: Path) -> None:
    node = fednet.node("A")
    await node.start()
    old, new = AgentKey.generate(), AgentKey.generate()
    save_key(old, tmp_path / "old.key")
    save_key(new, tmp_path / "new.key")
    await node.admit(old.did)

    done = _cli(
        "key", "rotate", "--key", str(tmp_path / "old.key"),
        "--new-key", str(tmp_path / "new.key"), "--node", node.url,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{old.did} now signs with {new.did}" in done.stdout

    async with NodeClient(node.url) as client:
        answer = await client.post_record(profile_envelope(new, "new key"), new)
        assert answer["index"] >= 2
        with pytest.raises(NodeClientError) as refused:
            await client.post_record(profile_envelope(old, "old key"), old)
    assert 400 <= refused.value.status < 500
    assert "retired key" in refused.value.problem["detail"]

    same = _cli(
        "key", "rotate", "--key", str(tmp_path / "new.key"),
        "--new-key", str(tmp_path / "new.key"), "--node", node.url,
    )  # fmt: skip
    assert same.returncode == 1
    assert "the new key is the current key" in same.stderr

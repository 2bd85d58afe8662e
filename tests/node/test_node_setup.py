"""What a node's configuration changes about who is trusted: the proxy URL and the token file."""

from __future__ import annotations

import pytest

from node.app import create_app
from node.config import load_config
from node.httpsig import sign_request_headers
from node.setup import init_node

PATH = "/api/v1/blobs"
PUBLIC = "https://coop.example.org"

# Request authentication only: SQLite alone is enough.
AUTH_ONLY = pytest.mark.parametrize("backend", ["sqlite"])


async def _post(node, key, signed_url: str, extra: dict[str, str] | None = None):
    body = b"a file"
    headers = sign_request_headers(
        key, "POST", signed_url, body, headers={"Content-Type": "text/plain"}
    )
    return await node.request("POST", PATH, data=body, headers=headers | (extra or {}))


@AUTH_ONLY
async def test_behind_a_proxy_requests_are_checked_against_the_public_url(
    node_factory, make_key, check_problem
):
    node = await node_factory(behind_proxy=True, public_url=PUBLIC)
    ada = make_key("ada")
    await node.admit(ada.did)
    assert (await _post(node, ada, PUBLIC + PATH)).status == 201
    # Signed for the address the node listens on: not what clients use.
    check_problem(await _post(node, ada, node.url(PATH)), 401)
    # Forwarded headers are never trusted to say which URL was signed.
    forwarded = {
        "X-Forwarded-Host": "evil.example",
        "X-Forwarded-Proto": "https",
        "Forwarded": "host=evil.example;proto=https",
    }
    check_problem(await _post(node, ada, "https://evil.example" + PATH, forwarded), 401)


@AUTH_ONLY
async def test_without_a_proxy_the_public_url_is_not_what_is_checked(
    node_factory, make_key, check_problem
):
    node = await node_factory(public_url=PUBLIC)
    ada = make_key("ada")
    await node.admit(ada.did)
    check_problem(await _post(node, ada, PUBLIC + PATH), 401)
    assert (await _post(node, ada, node.url(PATH))).status == 201


def test_init_writes_secrets_readable_by_the_owner_only(tmp_path):
    identity = init_node(tmp_path / "n", name="Coop")
    config = load_config(tmp_path / "n", env={})
    assert identity.did.startswith("did:key:z6Mk")
    for path in (config.key_path, config.token_path):
        assert path.stat().st_mode & 0o777 == 0o600, path
    assert len(config.token_path.read_text(encoding="ascii").strip()) >= 32


def test_an_admin_token_others_can_read_is_refused(tmp_path):
    init_node(tmp_path / "n", name="Coop")
    config = load_config(tmp_path / "n", env={})
    config.token_path.chmod(0o644)
    with pytest.raises(ValueError, match="readable by others"):
        create_app(config)

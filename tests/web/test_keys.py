"""Keys in the browser: canonical JSON, did:key, PKCS#8 import, signed records and requests.

Expected values come from outside node/web: rfc8785 for canonical bytes,
PyNaCl for signatures (Ed25519 is deterministic, so the browser's signature
of a record must equal PyNaCl's byte for byte), hashlib for record ids.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import nacl.signing
import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from webui import UI, check_traffic

pytestmark = pytest.mark.slow

MAX_SAFE = 2**53 - 1
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def did_of(public_key: bytes) -> str:
    """did:key by the did:key spec, written out here (not protocol/did.py)."""
    data = b"\xed\x01" + public_key
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, rem = divmod(number, 58)
        out = B58[rem] + out
    return "did:key:z" + out


def pem_of(seed: bytes) -> str:
    key = Ed25519PrivateKey.from_private_bytes(seed)
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()


def _scalar_char(c: str) -> bool:
    code = ord(c)
    return not (0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE)


# Strings of the profile: any scalar value but surrogates and noncharacters,
# weighted towards what breaks serialisers (controls, quotes, astral planes).
_chars = st.one_of(
    st.characters(exclude_categories=("Cs",)).filter(_scalar_char),
    st.sampled_from(
        [
            '"',
            "\\",
            "/",
            "\b",
            "\f",
            "\n",
            "\r",
            "\t",
            "\x00",
            "\x1f",
            "\x7f",
            "\u2028",
            "\u2029",
            "\ufeff",
            "\uff61",
            "\U0001f600",
            "\U0010fffd",
            "é",
        ]
    ),
)
_text = st.text(_chars, max_size=12)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-MAX_SAFE, MAX_SAFE),
    st.sampled_from([0, -1, MAX_SAFE, -MAX_SAFE, 2**31, -(2**31), 10**15]),
    _text,
)
json_values = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(_text, children, max_size=6)
    ),
    max_leaves=25,
)


def canonical_in_browser(ui: UI, values: list[Any]) -> list[str]:
    """The hex of the browser's canonical bytes of each value (sent as ASCII-only JSON)."""
    result: list[str] = ui.page.evaluate(
        """async (texts) => {
            const { canonicalBytes } = await import('/ui/static/js/jcs.js');
            const { hex } = await import('/ui/static/js/bytes.js');
            return texts.map((t) => hex(canonicalBytes(JSON.parse(t))));
        }""",
        [json.dumps(v, ensure_ascii=True) for v in values],
    )
    return result


def refused_in_browser(ui: UI, texts: list[str]) -> list[str]:
    """For each JSON text (parsed by the browser), the JcsError message or 'accepted'."""
    result: list[str] = ui.page.evaluate(
        """async (texts) => {
            const { canonicalize, JcsError } = await import('/ui/static/js/jcs.js');
            return texts.map((t) => {
                try { canonicalize(JSON.parse(t)); return 'accepted'; }
                catch (e) {
                    return e instanceof JcsError ? 'refused: ' + e.message : 'other: ' + e;
                }
            });
        }""",
        texts,
    )
    return result


def test_canonical_json_matches_rfc8785(web_node, make_ui):
    ui = make_ui(web_node)
    ui.goto("/ui/")

    # The worked example of specs/01-records.md §2.4 (RFC 8785 §3.2.3's order).
    example = {
        "b": [1, '\u00e9\u001f\u2028"\\/', True, None, -MAX_SAFE],
        "a": {"\U0001f600": 1, "\uff61": 2, "\u00e9": 3, "z": {}},
        "A": [],
    }
    expected = (
        "7b2241223a5b5d2c2261223a7b227a223a7b7d2c22c3a9223a332c22f09f9880"
        "223a312c22efbda1223a327d2c2262223a5b312c22c3a95c7530303166e280a8"
        "5c225c5c2f222c747275652c6e756c6c2c2d3930303731393932353437343039"
        "39315d7d"
    )
    assert canonical_in_browser(ui, [example]) == [expected]
    assert rfc8785.dumps(example).hex() == expected

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(st.lists(json_values, min_size=8, max_size=8))
    def compare(values: list[Any]) -> None:
        browser = canonical_in_browser(ui, values)
        for value, got in zip(values, browser, strict=True):
            assert got == rfc8785.dumps(value).hex(), value

    compare()

    # Outside the profile the browser refuses, as protocol/canonical.py does.
    outcomes = refused_in_browser(
        ui,
        [
            "1.5",
            "[9007199254740992]",
            "-9007199254740992",
            '"\\ud800"',
            '{"\\udc00x": 1}',
            '"\\uffff"',
            '"\\ufdd0"',
            '"\\ud83f\\udffe"',
            "[" * 33 + "]" * 33,
            "1e300",
        ],
    )
    assert all(o.startswith("refused: ") for o in outcomes), outcomes
    assert (
        refused_in_browser(ui, ["[" * 32 + "]" * 32, "-0", '"\\ud83d\\ude00"']) == ["accepted"] * 3
    )


def test_imported_key_signs_records_the_node_accepts(web_node, make_ui):
    seed = hashlib.sha256(b"web-ui-member").digest()
    signer = nacl.signing.SigningKey(seed)
    did = did_of(bytes(signer.verify_key))
    ui = make_ui(web_node)
    ui.goto("/ui/key")
    ui.page.get_by_label("or paste it here").fill(pem_of(seed))
    ui.page.get_by_role("button", name="Import key").click()
    ui.page.locator("#my-did").wait_for()
    assert ui.page.locator("#my-did").text_content() == did
    assert (
        ui.page.locator("#key-text").input_value() == ""
    )  # the pasted key is not left on the page

    # The stored key cannot be read back out of the browser.
    extractable = ui.page.evaluate(
        """async () => {
            const { currentKey } = await import('/ui/static/js/keys.js');
            const key = await currentKey();
            let exported = 'refused';
            try { await crypto.subtle.exportKey('pkcs8', key.privateKey); exported = 'exported'; }
            catch (e) { /* InvalidAccessError */ }
            return [key.privateKey.extractable, exported];
        }"""
    )
    assert extractable == [False, "refused"]

    ui.admit(did)
    record = {
        "v": 1,
        "type": "member.profile",
        "author": did,
        "created": "2026-01-02T03:04:05Z",
        "body": {"display_name": "Ada 😀 Lovelace", "contact": "ada@example.org"},
    }
    answer = ui.page.evaluate(
        """async (record) => {
            const { currentKey } = await import('/ui/static/js/keys.js');
            const { signRecord } = await import('/ui/static/js/records.js');
            const { signedPost } = await import('/ui/static/js/api.js');
            const signed = await signRecord(await currentKey(), record);
            const reply = await signedPost('/api/v1/records', signed.leaf);
            return { sig: signed.envelope.sig, id: signed.id, reply };
        }""",
        record,
    )
    jcs_record = rfc8785.dumps(record)
    expected_sig = signer.sign(b"fabcommons-record-v1\n" + jcs_record).signature
    assert answer["sig"] == base64.urlsafe_b64encode(expected_sig).rstrip(b"=").decode()
    expected_id = "sha256:" + hashlib.sha256(jcs_record).hexdigest()
    assert answer["id"] == expected_id
    assert answer["reply"]["id"] == expected_id
    stored = ui.get_json(f"/fed/v1/records/{expected_id}")
    assert stored["index"] == answer["reply"]["index"]
    assert stored["envelope"] == {"record": record, "sig": answer["sig"]}

    # The same through the profile form.
    ui.page.get_by_label("Display name").fill("Ada L.")
    ui.page.get_by_role("button", name="Sign and publish profile").click()
    status = ui.page.locator("#profile-status")
    status.wait_for()
    record_id = status.get_attribute("data-record-id")
    assert record_id is not None
    envelope = ui.get_json(f"/fed/v1/records/{record_id}")["envelope"]
    assert envelope["record"]["body"] == {"display_name": "Ada L."}
    signer.verify_key.verify(
        b"fabcommons-record-v1\n" + rfc8785.dumps(envelope["record"]),
        base64.urlsafe_b64decode(envelope["sig"] + "=="),
    )
    ui.shot("key-imported")
    posts = [s for s in check_traffic(ui, [seed]) if s.method == "POST"]
    assert {s.url.removeprefix(ui.node.url) for s in posts} == {"/api/v1/records"}
    for sent in posts:
        assert re.fullmatch(
            r'sig=\("@method" "@target-uri" "content-digest"\);created=\d+;'
            rf'keyid="{did}";alg="ed25519";nonce="[A-Za-z0-9_-]{{22}}"',
            sent.headers["signature-input"],
        )


def test_generated_key_backup_and_did(web_node, make_ui):
    ui = make_ui(web_node)
    ui.goto("/ui/key")
    ui.shot("key-signed-out")
    ui.page.get_by_role("button", name="Create my key").click()
    link = ui.page.get_by_role("link", name="Download backup key file")
    link.wait_for()
    with ui.page.expect_download() as download_info:
        link.click()
    pem = download_info.value.path().read_text(encoding="ascii")
    lines = pem.splitlines()
    assert lines[0] == "-----BEGIN PRIVATE KEY-----"
    assert lines[-1] == "-----END PRIVATE KEY-----"
    der = base64.b64decode("".join(lines[1:-1]))
    assert der[:16] == bytes.fromhex("302e020100300506032b657004220420")
    assert len(der) == 48
    seed = der[16:]
    did = did_of(bytes(nacl.signing.SigningKey(seed).verify_key))
    assert ui.page.locator("#my-did").text_content() == did
    assert ui.page.locator("#who").text_content().startswith("Signed in as")
    ui.shot("key-generated")

    # A reload keeps the key (IndexedDB); the backup is not offered again.
    ui.page.reload()
    ui.page.locator("#my-did").wait_for()
    assert ui.page.locator("#my-did").text_content() == did
    assert ui.page.locator("#backup").is_hidden()

    # Not a member yet: the node refuses the profile, and the form says so.
    ui.page.get_by_label("Display name").fill("Grace")
    ui.page.get_by_role("button", name="Sign and publish profile").click()
    error = ui.page.locator("#profile-form [data-form-error]")
    error.wait_for()
    assert "authorised" in error.text_content().lower()
    assert ui.page.get_by_label("Display name").input_value() == "Grace"

    ui.admit(did)
    ui.page.get_by_role("button", name="Sign and publish profile").click()
    ui.page.locator("#profile-status").wait_for()
    members = ui.get_json("/api/v1/members")["members"]
    assert did in {m["did"] for m in members}
    check_traffic(ui, [seed])


def test_failed_submit_shows_the_problem_next_to_the_field(web_node, make_ui):
    seed = hashlib.sha256(b"web-ui-problem").digest()
    ui = make_ui(web_node, viewport={"width": 390, "height": 844})  # a phone
    ui.goto("/ui/key")
    ui.page.get_by_label("or paste it here").fill(pem_of(seed))
    ui.page.get_by_role("button", name="Import key").click()
    ui.page.locator("#my-did").wait_for()
    ui.admit(did_of(bytes(nacl.signing.SigningKey(seed).verify_key)))

    too_long = "N" * 201  # member.profile's display_name is 1 to 200 characters
    name = ui.page.get_by_label("Display name")
    name.fill(too_long)
    ui.page.get_by_label("Contact (optional)").fill("me@example.org")
    ui.page.get_by_role("button", name="Sign and publish profile").click()
    slot = ui.page.locator("#display-name-error")
    slot.wait_for()
    # The node's problem detail (422 invalid-record, field body.display_name), next to the field.
    assert "200 characters" in slot.text_content()
    assert name.get_attribute("aria-invalid") == "true"
    assert "display-name-error" in name.get_attribute("aria-describedby")
    assert name.input_value() == too_long
    assert ui.page.get_by_label("Contact (optional)").input_value() == "me@example.org"
    ui.shot("problem-next-to-field-phone")

    # A bad key file is refused next to its field, and the text stays.
    ui.page.evaluate("async () => (await import('/ui/static/js/keys.js')).forgetKey()")
    ui.page.reload()
    ui.page.get_by_label("or paste it here").fill(
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    )
    ui.page.get_by_role("button", name="Import key").click()
    ui.page.locator("#key-text-error").wait_for()
    assert "Ed25519" in ui.page.locator("#key-text-error").text_content()
    assert "AAAA" in ui.page.get_by_label("or paste it here").input_value()


def spec_example(name: str) -> str:
    """A fenced example block of specs/08-node-api.md (its test vectors)."""
    text = (Path(__file__).resolve().parents[2] / "specs" / "08-node-api.md").read_text()
    match = re.search(rf"```\w+ example={re.escape(name)}\n(.*?)\n```", text, re.DOTALL)
    assert match is not None, name
    return match.group(1)


def test_request_signature_matches_the_spec_vector(web_node, make_ui):
    # specs/08-node-api.md §2.1: the member (seed 01…01) posts at created=1737021600
    # with the nonce bm9uY2UtMDAwMDAwMQ to https://fablab.example/api/v1/records.
    ui = make_ui(web_node)
    ui.goto("/ui/")
    headers = ui.page.evaluate(
        """async ([pem, body]) => {
            const { importPem } = await import('/ui/static/js/keys.js');
            const { signatureHeaders } = await import('/ui/static/js/httpsig.js');
            const key = await importPem(pem);
            const bytes = new TextEncoder().encode(body);
            return signatureHeaders(key, 'POST', '/api/v1/records', bytes, {
                now: 1737021600 * 1000, nonce: 'bm9uY2UtMDAwMDAwMQ', origin: 'https://fablab.example',
            });
        }""",
        [pem_of(bytes([1]) * 32), spec_example("httpsig-1-body")],
    )
    expected = dict(line.split(": ", 1) for line in spec_example("httpsig-1-headers").splitlines())
    assert headers == {k: v for k, v in expected.items() if k != "Content-Type"}

"""The RFC 9421 fast path of node/httpsig.py against the library it stands in for.

The fast path may only ever accept, and only what `http-message-signatures`
accepts, with the same signature parameters; for everything else it must
step aside (return None) so that the library decides. Requests are generated
by hand (strings and PyNaCl, not the code under test) around the reference
signer's form, with the variations a client or an attacker could send. The
signature bases it builds must be byte-identical to the library signer's.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from datetime import UTC, datetime
from typing import Any

import http_message_signatures as hms
import nacl.signing
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from node import httpsig
from protocol.did import did_from_public_key

WINDOW = 300
SEEDS = [bytes([n]) * 32 for n in (1, 2, 3)]
KEYS = [nacl.signing.SigningKey(seed) for seed in SEEDS]
DIDS = [did_from_public_key(bytes(k.verify_key)) for k in KEYS]
PROFILE_PARAMS = ("created", "keyid", "alg", "nonce")
COVERED = '("@method" "@target-uri" "content-digest")'

_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _sf_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _library(
    method: str, url: str, headers: Any, body: bytes | None, window: int = WINDOW
) -> dict[str, Any] | None:
    try:
        return httpsig._verify_with_library(method, url, headers, body, window)
    except httpsig.RequestSignatureError:
        return None


def _fast(
    method: str, url: str, headers: Any, body: bytes | None, window: int = WINDOW
) -> dict[str, Any] | None:
    return httpsig._verify_fast(method, url, headers, body, window)


# ------------------------------------------------------------------ generated requests

_URL_CHARS = st.sampled_from([*"abcXYZ019-._~!$&'()*+,;=:@/", "%41", "%7e", "%zz", " ", "é"])
_SEGMENT = st.lists(_URL_CHARS, max_size=6).map("".join)


@st.composite
def urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["http", "https", "HTTPS"]))
    host = draw(
        st.sampled_from(["fablab.example", "FabLab.Example", "127.0.0.1", "[::1]", "[::zz]"])
    )
    port = draw(st.sampled_from(["", ":8700", ":443", ":0080", ":"]))
    path = draw(st.sampled_from(["", "/api/v1/records"])) + draw(
        st.one_of(st.just(""), _SEGMENT.map(lambda s: "/" + s))
    )
    query = draw(st.one_of(st.just(""), _SEGMENT.map(lambda s: "?" + s)))
    return f"{scheme}://{host}{port}{path}{query}"


_ODD_NONCES = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30),
    st.text(alphabet='"\\é\t\x7f', min_size=1, max_size=3),
)
_PLAIN_NONCES = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters='"\\'),
    min_size=8,
    max_size=128,
)
DEVIATIONS = (
    "odd-nonce", "created-form", "created-far", "keyid", "alg", "param-order", "drop-param",
    "extra-param", "covered", "digest-body", "digest-form", "signed-url", "signer", "tamper",
    "sig-form", "label", "other-label", "padding", "second-member", "header-case", "multidict",
    "split-line", "name-twice", "fold", "method",
)  # fmt: skip


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, Any, bytes]:
    """A request signed by hand in the reference form, with zero to two deviations."""
    deviate = draw(st.sets(st.sampled_from(DEVIATIONS), max_size=2))

    def pick(name: str, normal: Any, odd: st.SearchStrategy[Any]) -> Any:
        return draw(odd) if name in deviate else normal

    method = pick("method", "POST", st.sampled_from(["PUT", "GET", "OPTIONS", "PATCH", "P OST"]))
    url = draw(urls())
    body = draw(st.binary(max_size=40))
    key_index = draw(st.integers(0, len(KEYS) - 1))
    did = DIDS[key_index]
    now = int(time.time())
    created = str(now + draw(st.integers(-2 * WINDOW + 2, WINDOW - 2)))
    created = pick(
        "created-far", created, st.sampled_from([str(now + WINDOW + 3), str(now - 2 * WINDOW - 3)])
    )
    created = pick(
        "created-form", created, st.sampled_from([f"0{now}", f"{now}.0", "-1", "9" * 16])
    )
    params: list[tuple[str, str]] = [
        ("created", created),
        (
            "keyid",
            _sf_string(pick("keyid", did, st.sampled_from([DIDS[(key_index + 1) % 3], "x"]))),
        ),
        ("alg", _sf_string(pick("alg", "ed25519", st.sampled_from(["hmac-sha256", "ED25519"])))),
        ("nonce", _sf_string(pick("odd-nonce", draw(_PLAIN_NONCES), _ODD_NONCES))),
    ]
    params = pick("param-order", params, st.permutations(params))
    drop = pick("drop-param", None, st.sampled_from(["alg", "nonce", "created", "keyid"]))
    params = [(n, v) for n, v in params if n != drop]
    if "extra-param" in deviate:
        extra = draw(st.sampled_from([("expires", str(now + 60)), ("tag", '"t"'), ("x", "1")]))
        params.insert(draw(st.integers(0, len(params))), extra)
    covered = pick(
        "covered",
        COVERED,
        st.sampled_from(
            [
                '("@target-uri" "@method" "content-digest")',
                '("@method" "@target-uri")',
                '("@method" "@target-uri" "content-digest";sf)',
                '("@method" "@target-uri" "content-digest" "@authority")',
                '("@method" "@target-uri" "content-digest" "content-digest")',
                '("@method"  "@target-uri" "content-digest")',
            ]
        ),
    )
    param_text = covered + "".join(f";{n}={v}" for n, v in params)
    digest_body = pick("digest-body", body, st.just(body + b"x"))
    sha256 = _b64(hashlib.sha256(digest_body).digest())
    digest = pick(
        "digest-form",
        f"sha-256=:{sha256}:",
        st.sampled_from(
            [
                f"sha-256=:{sha256.rstrip('=')}:",
                f"sha-256=:{sha256[:-2]}Q=:",
                f"sha-512=:{_b64(hashlib.sha512(digest_body).digest())}:",
                f"sha-256=:{sha256}:, sha-512=:{_b64(hashlib.sha512(digest_body).digest())}:",
                f"sha-256=:{sha256}:;p=1",
            ]
        ),
    )
    signed_url = pick("signed-url", url, st.sampled_from([url.lower(), url + "x", url.upper()]))
    components = {"@method": method, "@target-uri": signed_url, "content-digest": digest}
    lines = [f'"{name}": {value}' for name, value in components.items() if f'"{name}"' in covered]
    base = "\n".join([*lines, f'"@signature-params": {param_text}'])
    signer = KEYS[pick("signer", key_index, st.just((key_index + 1) % 3))]
    signature = signer.sign(base.encode("utf-8")).signature
    if "tamper" in deviate:
        signature = bytes([signature[0] ^ 1]) + signature[1:]
    sig_text = _b64(signature)
    sig_text = pick(
        "sig-form", sig_text, st.sampled_from([sig_text.rstrip("="), sig_text[:-3] + "B=="])
    )
    label = pick("label", "sig", st.sampled_from(["pyhms", "a*b", "Sig", "1x", "x-1.y"]))
    other_label = pick("other-label", label, st.just("sig2"))
    pad = pick("padding", "", st.sampled_from([" ", "\t", " \t "]))
    second = pick("second-member", "", st.sampled_from([", b=()", ", sig2=:AAAA:"]))
    input_value = pad + f"{label}={param_text}" + second + pad
    signature_value = pad + f"{other_label}=:{sig_text}:" + pad
    case = "header-case" in deviate
    fields = [
        ("Content-Type", "application/json"),
        ("content-digest" if case else "Content-Digest", digest),
        ("signature-input" if case else "Signature-Input", input_value),
        ("SIGNATURE" if case else "Signature", signature_value),
    ]
    headers: Any = dict(fields)
    if "multidict" in deviate:
        headers = CIMultiDict(fields)
    if "split-line" in deviate:
        # The same field on two lines: the library joins them with ", ".
        name, value = fields[draw(st.integers(1, 3))]
        cut = draw(st.integers(0, len(value)))
        headers = CIMultiDict(fields)
        headers[name] = value[:cut]
        headers.add(name, value[cut:])
    if "name-twice" in deviate and isinstance(headers, dict):
        name, value = fields[draw(st.integers(1, 3))]
        headers[name.lower() if name[0].isupper() else name.title()] = value
    if "fold" in deviate:
        name, value = fields[draw(st.integers(1, 3))]
        headers[name] = value.replace("=", "=\r\n ", 1)
    return method, url, headers, body


@_SETTINGS
@given(requests())
def test_fast_path_accepts_only_what_the_library_accepts(
    request_: tuple[str, str, Any, bytes],
) -> None:
    method, url, headers, body = request_
    fast = _fast(method, url, headers, body)
    event("fast path accepted" if fast is not None else "fast path stepped aside")
    if fast is not None:
        assert _library(method, url, headers, body) == fast


@_SETTINGS
@given(requests())
def test_fast_path_without_a_body_accepts_only_what_the_library_accepts(
    request_: tuple[str, str, Any, bytes],
) -> None:
    """A streamed upload: body=None, the digest is the caller's to check."""
    method, url, headers, _ = request_
    fast = _fast(method, url, headers, None)
    if fast is not None:
        assert _library(method, url, headers, None) == fast


# ------------------------------------------------------------------ the reference form


def _reference_request(
    key: nacl.signing.SigningKey, method: str, url: str, body: bytes, created: int, nonce: str,
    label: str = "sig",
) -> tuple[dict[str, str], bytes]:  # fmt: skip
    """Headers signed by the library's own signer, and the base it signed."""
    did = did_from_public_key(bytes(key.verify_key))
    signer = hms.HTTPMessageSigner(signature_algorithm=hms.algorithms.ED25519)
    message = httpsig._Message(method=method, url=url, headers={"Content-Type": "application/json"})
    prepared = signer.prepare(
        message,
        key_id=did,
        created=datetime.fromtimestamp(created, tz=UTC),
        nonce=nonce,
        label=label,
        covered_component_ids=httpsig.COVERED_COMPONENTS,
        body=body,
    )
    signer.apply(message, prepared, key.sign(prepared.signature_base).signature)
    return dict(message.headers), prepared.signature_base


_VALID_URLS = urls().filter(lambda u: " " not in u and "é" not in u and "%zz" not in u)
_VALID_URLS = _VALID_URLS.filter(lambda u: "[::zz]" not in u)


@_SETTINGS
@given(
    st.integers(0, len(KEYS) - 1),
    st.sampled_from(["POST", "PUT", "GET", "OPTIONS"]),
    _VALID_URLS,
    st.binary(max_size=200),
    # Not the edges: the library's clock and ours are read at different instants.
    st.integers(-2 * WINDOW + 2, WINDOW - 2),
    _PLAIN_NONCES,
    st.sampled_from(["sig", "pyhms", "a*b", "x-1.y"]),
)
def test_fast_path_takes_the_reference_form_and_builds_the_same_base(
    key_index: int, method: str, url: str, body: bytes, offset: int, nonce: str, label: str
) -> None:
    created = int(time.time()) + offset
    headers, library_base = _reference_request(
        KEYS[key_index], method, url, body, created, nonce, label
    )
    profile = httpsig._parse_profile(method, url, headers)
    assert profile is not None
    assert profile.signature_base == library_base
    fast = _fast(method, url, headers, body)
    assert fast == {"created": created, "keyid": DIDS[key_index], "alg": "ed25519", "nonce": nonce}
    assert _library(method, url, headers, body) == fast


def test_reference_signer_requests_take_the_fast_path() -> None:
    """What node/client.py and the bench send is what the fast path is for."""
    from protocol.keys import AgentKey

    key = AgentKey.from_seed(SEEDS[0])
    url = "http://127.0.0.1:8700/api/v1/records"
    body = b'{"record":{}}'
    headers = httpsig.sign_request_headers(key, "POST", url, body)
    assert _fast("POST", url, headers, body) is not None
    assert _library("POST", url, headers, body) == _fast("POST", url, headers, body)


@pytest.mark.parametrize(
    "change",
    ["body", "url", "method", "signature", "nonce", "created-future", "created-old", "digest"],
)
def test_fast_path_steps_aside_and_the_library_refuses(change: str) -> None:
    """Each refusal reaches the library (None from the fast path), which refuses."""
    now = int(time.time())
    url = "https://fablab.example/api/v1/records"
    body = b"{}"
    created = {"created-future": now + WINDOW + 5, "created-old": now - 2 * WINDOW - 5}.get(
        change, now
    )
    headers, _ = _reference_request(KEYS[0], "POST", url, body, created, "nonce-0001")
    method = "POST"
    if change == "body":
        body = b"{ }"
    elif change == "url":
        url = "https://fablab.example/api/v1/blobs"
    elif change == "method":
        method = "PUT"
    elif change == "signature":
        label, _, value = headers["Signature"].partition("=")
        raw = base64.b64decode(value.strip(":"))
        headers["Signature"] = f"{label}=:{_b64(bytes([raw[0] ^ 1]) + raw[1:])}:"
    elif change == "nonce":
        headers["Signature-Input"] = headers["Signature-Input"].replace("nonce-0001", "nonce-0002")
    elif change == "digest":
        headers["Content-Digest"] = f"sha-256=:{_b64(hashlib.sha256(b'other').digest())}:"
    assert _fast(method, url, headers, body) is None
    assert _library(method, url, headers, body) is None
    with pytest.raises(httpsig.RequestSignatureError):
        asyncio.run(
            httpsig.verify_request(
                method=method,
                url=url,
                headers=headers,
                body=body,
                window_s=WINDOW,
                nonces=httpsig.MemoryNonceCache(),
            )
        )


def test_library_clock_check_applies_with_an_explicit_now() -> None:
    """With `now` far from the real clock, the library's own clock check still refuses."""
    url = "https://fablab.example/api/v1/records"
    created = 1737021600  # 2025-01-16
    headers, _ = _reference_request(KEYS[0], "POST", url, b"{}", created, "nonce-0001")
    assert _fast("POST", url, headers, b"{}") is None
    with pytest.raises(httpsig.RequestSignatureError):
        asyncio.run(
            httpsig.verify_request(
                method="POST",
                url=url,
                headers=headers,
                body=b"{}",
                window_s=WINDOW,
                nonces=httpsig.MemoryNonceCache(),
                now=created,
            )
        )

"""protocol.checkpoint: C2SP signed notes, tlog-checkpoints and tlog-cosignatures.

Published vectors: golang.org/x/mod/sumdb/note's note_test.go (the
PeterNeumann and EnochRoot keys and notes; a copy is on this machine at
/usr/share/gocode/src/golang.org/x/mod/sumdb/note/note_test.go), the
c2sp.org/signed-note verifier-key example (example.com/foo), and the examples
of c2sp.org/signed-note, c2sp.org/tlog-checkpoint and c2sp.org/tlog-cosignature.
"""

from __future__ import annotations

import base64
import hashlib

import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.checkpoint import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    MAX_NOTE_BYTES,
    MAX_SIGNATURES,
    Checkpoint,
    NoteSignature,
    NoteVerifier,
    cosign_checkpoint,
    key_hash,
    open_checkpoint,
    open_note,
    sign_checkpoint,
    sign_note,
    split_note,
    verified_cosignatures,
    verify_cosignature,
)
from protocol.errors import InvalidCheckpoint, InvalidKey, InvalidSignature, ProtocolError
from protocol.keys import AgentKey

# --- golang.org/x/mod/sumdb/note, note_test.go -------------------------------------

# TestNewVerifier, TestVerifierList, TestOpen.
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
# TestNewSigner, TestSign: PRIVATE+KEY+<name>+<hash>+base64(0x01 ‖ 32-byte seed).
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = (
    b"If you think cryptography is the answer to your problem,\n"
    b"then you don't know what your problem is.\n"
)
PETER_SIG = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqf"
    "qdngotpRZb6KE6RyyBwJnAM=\n"
).encode()
ENOCH_SIG = (
    "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTG"
    "wnWLox33WWd1RvMc+QQ=\n"
).encode()
# TestSign: the whole signed note.
GO_SIGNED = GO_TEXT + b"\n" + PETER_SIG


def _seed_of_go_private_key(skey: str) -> tuple[str, str, bytes]:
    parts = skey.split("+", 4)
    assert parts[:2] == ["PRIVATE", "KEY"]
    material = base64.b64decode(parts[4])
    assert material[0] == ALG_ED25519
    assert len(material) == 33
    return parts[2], parts[3], material[1:]


def test_go_verifier_keys() -> None:
    peter = NoteVerifier.from_vkey(PETER_VKEY)
    assert peter.name == "PeterNeumann"
    assert peter.alg == ALG_ED25519
    assert peter.key_hash.hex() == "c74f20a3"
    assert peter.public_key == base64.b64decode("ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")[1:]
    assert peter.vkey == PETER_VKEY
    enoch = NoteVerifier.from_vkey(ENOCH_VKEY)
    assert enoch.key_hash.hex() == "af0cfe78"
    assert enoch.vkey == ENOCH_VKEY
    # The key hash is SHA-256(name ‖ LF ‖ 0x01 ‖ key)[:4] (c2sp.org/signed-note).
    material = base64.b64decode("ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
    assert hashlib.sha256(b"PeterNeumann\n" + material).digest()[:4] == bytes.fromhex("c74f20a3")


def test_go_sign_reproduces_the_published_note() -> None:
    name, hash_hex, seed = _seed_of_go_private_key(PETER_SKEY)
    key = AgentKey.from_seed(seed)
    verifier = NoteVerifier.from_vkey(PETER_VKEY)
    assert key.public_key == verifier.public_key
    assert key_hash(name, ALG_ED25519, key.public_key).hex() == hash_hex
    assert sign_note(GO_TEXT, name, key) == GO_SIGNED


def test_go_open() -> None:
    peter = NoteVerifier.from_vkey(PETER_VKEY)
    enoch = NoteVerifier.from_vkey(ENOCH_VKEY)
    note = GO_TEXT + b"\n" + PETER_SIG + ENOCH_SIG
    for verifier in (peter, enoch):
        text, sigs = open_note(note, verifier)
        assert text == GO_TEXT
        assert [(s.name, s.key_hash.hex()) for s in sigs] == [
            ("PeterNeumann", "c74f20a3"),
            ("EnochRoot", "af0cfe78"),
        ]
    # Each signature verifies independently with PyNaCl.
    for verifier, line in [(peter, PETER_SIG), (enoch, ENOCH_SIG)]:
        raw = base64.b64decode(line.decode().split(" ")[2])
        nacl.signing.VerifyKey(verifier.public_key).verify(GO_TEXT, raw[4:])
    # TestOpen, "Duplicated verified and unverified signatures".
    enoch_abcd = ENOCH_SIG[:60] + b"ABCD" + ENOCH_SIG[60:]
    crowded = GO_TEXT + b"\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + enoch_abcd
    assert open_note(crowded, peter)[0] == GO_TEXT


# TestOpen, "Invalid encoded message syntax": each is a malformed note.
GO_BAD_MESSAGES = [
    ("text-only", GO_TEXT),
    ("no-signatures", GO_TEXT + b"\n"),
    ("no-final-newline", GO_TEXT + b"\n" + PETER_SIG[:-1]),
    ("control-char", b"\x01" + GO_TEXT + b"\n" + PETER_SIG),
    ("invalid-utf8", b"\xff" + GO_TEXT + b"\n" + PETER_SIG),
    (
        "space-in-name",
        GO_TEXT
        + b"\n"
        + (
            "\u2014 Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvq"
            "fqdngotpRZb6KE6RyyBwJnAM="
        ).encode(),
    ),
    ("unexpected-line", GO_TEXT + b"\n" + PETER_SIG + b"Unexpected line.\n"),
    # "Check too many signatures".
    ("101-signatures", GO_TEXT + b"\n" + PETER_SIG * 101),
]


@pytest.mark.parametrize(
    "note", [c[1] for c in GO_BAD_MESSAGES], ids=[c[0] for c in GO_BAD_MESSAGES]
)
def test_go_malformed_notes(note: bytes) -> None:
    with pytest.raises(InvalidCheckpoint):
        open_note(note, NoteVerifier.from_vkey(PETER_VKEY))


def test_go_invalid_signature() -> None:
    # TestOpen, "Invalid signature": four characters inserted into the signature.
    note = GO_TEXT + b"\n" + PETER_SIG[:60] + b"ABCD" + PETER_SIG[60:]
    with pytest.raises(InvalidSignature):
        open_note(note, NoteVerifier.from_vkey(PETER_VKEY))


@pytest.mark.parametrize(
    "line",
    [PETER_SIG.replace(b"PeterNeumann", b"CarmenSandiego"), PETER_SIG.replace(b"x08g", b"xxxx")],
    ids=["other-name", "other-key-hash"],
)
def test_go_signatures_of_unknown_keys_do_not_count(line: bytes) -> None:
    with pytest.raises(InvalidSignature):
        open_note(GO_TEXT + b"\n" + line, NoteVerifier.from_vkey(PETER_VKEY))


def test_go_at_most_100_signatures() -> None:
    assert MAX_SIGNATURES == 100
    text, sigs = open_note(GO_TEXT + b"\n" + PETER_SIG * 100, NoteVerifier.from_vkey(PETER_VKEY))
    assert text == GO_TEXT
    assert len(sigs) == 100


def _manglings(vkey: str) -> list[str]:
    """TestNewVerifier: every proper substring, and every character incremented."""
    out = {vkey[i:j] for i in range(len(vkey) + 1) for j in range(i + 1, len(vkey) + 1)}
    out.discard(vkey)
    for i in range(len(vkey)):
        out.add(vkey[:i] + chr(ord(vkey[i]) + 1) + vkey[i + 1 :])
    return sorted(out)


def test_go_mangled_verifier_keys_refused() -> None:
    accepted = []
    for vkey in _manglings(PETER_VKEY):
        try:
            NoteVerifier.from_vkey(vkey)
        except InvalidKey:
            continue
        accepted.append(vkey)
    assert accepted == []


@pytest.mark.parametrize(
    "vkey",
    [
        # TestNewVerifier: wrong length key, with adjusted key hash.
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        # TestNewVerifier: unknown algorithm, with adjusted key hash.
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "",
        "PeterNeumann",
        "PeterNeumann+c74f20a3",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq_LDE4izWy10TW",
        "x" * 2000,
    ],
    ids=[
        "go-wrong-length",
        "go-unknown-algorithm",
        "empty",
        "name-only",
        "no-key",
        "space-in-name",
        "empty-name",
        "urlsafe-base64",
        "huge",
    ],
)
def test_verifier_keys_refused(vkey: str) -> None:
    with pytest.raises(InvalidKey):
        NoteVerifier.from_vkey(vkey)


# --- c2sp.org examples ----------------------------------------------------------------

# c2sp.org/signed-note, "Verifier keys": the example key and the note it signs.
C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
C2SP_NOTE = (
    "This is an example message.\n"
    "\n"
    "\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYj"
    "OBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
).encode()


def test_c2sp_signed_note_example() -> None:
    verifier = NoteVerifier.from_vkey(C2SP_VKEY)
    assert verifier.name == "example.com/foo"
    assert verifier.public_key == bytes.fromhex(
        "e932791ae6e7a840a46164c904786426d5e7821dd8b29a00d61cae72afdd4da4"
    )
    assert verifier.vkey == C2SP_VKEY
    text, sigs = open_note(C2SP_NOTE, verifier)
    assert text == b"This is an example message.\n"
    assert [(s.name, s.key_hash.hex(), len(s.signature)) for s in sigs] == [
        ("example.com/foo", "530d903a", 64)
    ]
    # A checkpoint verifier of that key refuses it: the text is not a checkpoint.
    with pytest.raises(InvalidCheckpoint):
        open_checkpoint(C2SP_NOTE, verifier)


def test_c2sp_signed_note_format_example() -> None:
    # c2sp.org/signed-note, the opening example: the text holds a blank line, and
    # the signatures start after the last one. Its key is not published.
    note = (
        "Ognuno sta solo sul cuor della terra\n"
        "trafitto da un raggio di sole:\n"
        "\n"
        "ed \u00e8 subito sera.\n"
        "\n"
        "\u2014 quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9o"
        "JKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n"
    ).encode()
    text, sigs = split_note(note)
    assert (
        text
        == (
            "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\n"
            "ed \u00e8 subito sera.\n"
        ).encode()
    )
    assert [(s.name, len(s.key_hash), len(s.signature)) for s in sigs] == [
        ("quasimodo.example/salvatore", 4, 64)
    ]


# c2sp.org/tlog-checkpoint and c2sp.org/tlog-cosignature: the example checkpoint,
# with the log's signature and a witness cosignature. No keys are published.
C2SP_CHECKPOINT_TEXT = (
    b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)
C2SP_COSIGNED = (
    C2SP_CHECKPOINT_TEXT
    + (
        "\n"
        "\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u"
        "5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
        "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9d"
        "lrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
    ).encode()
)
# c2sp.org/tlog-cosignature, "Ed25519 signed message": the example message.
C2SP_COSIGNED_MESSAGE = (
    b"cosignature/v1\n"
    b"time 1679315147\n"
    b"example.com/behind-the-sofa\n"
    b"20852163\n"
    b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)


def test_c2sp_checkpoint_example() -> None:
    checkpoint = Checkpoint.from_text(C2SP_CHECKPOINT_TEXT)
    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.size == 20852163
    assert checkpoint.root_hash == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert checkpoint.extensions == ()
    assert checkpoint.text() == C2SP_CHECKPOINT_TEXT


def test_c2sp_cosignature_example_framing() -> None:
    text, sigs = split_note(C2SP_COSIGNED)
    assert text == C2SP_CHECKPOINT_TEXT
    log_sig, witness_sig = sigs
    assert (log_sig.name, len(log_sig.signature)) == ("example.com/behind-the-sofa", 64)
    assert witness_sig.name == "witness.example.com/w1"
    assert witness_sig.key_hash.hex() == "8d66cf3f"
    # timestamped_signature: u64 timestamp ‖ 64-byte Ed25519 signature.
    assert len(witness_sig.signature) == 8 + 64
    assert int.from_bytes(witness_sig.signature[:8], "big") == 1679315147


def test_cosignature_signs_the_c2sp_message() -> None:
    witness = AgentKey.from_seed(hashlib.sha256(b"checkpoint/witness").digest())
    sig = cosign_checkpoint(
        C2SP_CHECKPOINT_TEXT, "witness.example.com/w1", witness, timestamp=1679315147
    )
    assert sig.signature[:8] == (1679315147).to_bytes(8, "big")
    nacl.signing.VerifyKey(witness.public_key).verify(C2SP_COSIGNED_MESSAGE, sig.signature[8:])
    expected_hash = hashlib.sha256(b"witness.example.com/w1\n\x04" + witness.public_key).digest()[
        :4
    ]
    assert sig.key_hash == expected_hash
    assert sig.line().startswith("\u2014 witness.example.com/w1 ")


# --- checkpoints ------------------------------------------------------------------------

LOG = AgentKey.from_seed(hashlib.sha256(b"checkpoint/log").digest())
ORIGIN = "fab.example/log"
LOG_VERIFIER = NoteVerifier(ORIGIN, LOG.public_key)
ROOT = hashlib.sha256(b"some root").digest()


def test_checkpoint_text_round_trip() -> None:
    for checkpoint in [
        Checkpoint(ORIGIN, 0, hashlib.sha256(b"").digest()),
        Checkpoint(ORIGIN, 1, ROOT),
        Checkpoint(ORIGIN, 2**63 - 1, ROOT, ("ext one", "ext\u00e9two")),
    ]:
        text = checkpoint.text()
        expected = (
            f"{checkpoint.origin}\n{checkpoint.size}\n"
            f"{base64.b64encode(checkpoint.root_hash).decode()}\n"
            + "".join(f"{e}\n" for e in checkpoint.extensions)
        ).encode()
        assert text == expected
        assert Checkpoint.from_text(text) == checkpoint
        note = sign_checkpoint(checkpoint, LOG)
        assert note.startswith(text + "\n\u2014 fab.example/log ".encode())
        signed = open_checkpoint(note, LOG_VERIFIER)
        assert signed.checkpoint == checkpoint
        assert signed.note == note
        nacl.signing.VerifyKey(LOG.public_key).verify(text, signed.signatures[0].signature)


_R = base64.b64encode(ROOT)
CHECKPOINT_TEXT_REFUSALS = [
    ("leading-zero", b"o.example\n007\n" + _R + b"\n"),
    ("zero-zero", b"o.example\n00\n" + _R + b"\n"),
    ("negative", b"o.example\n-1\n" + _R + b"\n"),
    ("plus", b"o.example\n+1\n" + _R + b"\n"),
    ("space-in-size", b"o.example\n 1\n" + _R + b"\n"),
    ("exponent", b"o.example\n1e3\n" + _R + b"\n"),
    ("size-2^63", b"o.example\n9223372036854775808\n" + _R + b"\n"),
    ("size-20-digits", b"o.example\n10000000000000000000\n" + _R + b"\n"),
    ("fullwidth-digit", "o.example\n\uff11\n".encode() + _R + b"\n"),
    ("root-unpadded", b"o.example\n1\n" + _R.rstrip(b"=") + b"\n"),
    ("root-urlsafe", b"o.example\n1\n" + base64.urlsafe_b64encode(b"\xfb\xff" * 16) + b"\n"),
    ("root-31-bytes", b"o.example\n1\n" + base64.b64encode(ROOT[:31]) + b"\n"),
    ("root-33-bytes", b"o.example\n1\n" + base64.b64encode(ROOT + b"\0") + b"\n"),
    ("root-non-canonical", b"o.example\n1\n" + _R[:-2] + bytes([_R[-2] ^ 1]) + b"=\n"),
    ("root-hex", b"o.example\n1\n" + ROOT.hex().encode() + b"\n"),
    ("root-empty", b"o.example\n1\n\n"),
    ("two-lines", b"o.example\n1\n"),
    ("one-line", b"o.example\n"),
    ("empty", b""),
    ("empty-origin", b"\n1\n" + _R + b"\n"),
    ("no-final-newline", b"o.example\n1\n" + _R),
    ("tab", b"o.example\n1\n" + _R + b"\next\twith tab\n"),
    ("carriage-return", b"o.example\r\n1\n" + _R + b"\n"),
    ("nul", b"o.ex\x00ample\n1\n" + _R + b"\n"),
    ("empty-extension", b"o.example\n1\n" + _R + b"\n\nx\n"),
    ("not-utf8", b"o.ex\xffample\n1\n" + _R + b"\n"),
]


@pytest.mark.parametrize(
    "text", [c[1] for c in CHECKPOINT_TEXT_REFUSALS], ids=[c[0] for c in CHECKPOINT_TEXT_REFUSALS]
)
def test_checkpoint_text_refused(text: bytes) -> None:
    with pytest.raises(InvalidCheckpoint):
        Checkpoint.from_text(text)


def _is_note_text(text: bytes) -> bool:
    """c2sp.org/signed-note: UTF-8, ending in a newline, no controls but newline."""
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return decoded.endswith("\n") and all(ch == "\n" or ord(ch) >= 0x20 for ch in decoded)


@pytest.mark.parametrize(
    "text", [c[1] for c in CHECKPOINT_TEXT_REFUSALS], ids=[c[0] for c in CHECKPOINT_TEXT_REFUSALS]
)
def test_signed_bad_checkpoint_refused(text: bytes) -> None:
    verifier = NoteVerifier("o.example", LOG.public_key)
    if not _is_note_text(text):
        with pytest.raises(InvalidCheckpoint):
            sign_note(text, "o.example", LOG)
        return
    # Even correctly signed, a malformed body is refused.
    with pytest.raises(InvalidCheckpoint):
        open_checkpoint(sign_note(text, "o.example", LOG), verifier)


@pytest.mark.parametrize(
    ("origin", "size", "root_hash", "extensions"),
    [
        ("", 1, ROOT, ()),
        ("a\nb", 1, ROOT, ()),
        ("a\tb", 1, ROOT, ()),
        (ORIGIN, -1, ROOT, ()),
        (ORIGIN, 2**63, ROOT, ()),
        (ORIGIN, 1, ROOT[:31], ()),
        (ORIGIN, 1, ROOT + b"\0", ()),
        (ORIGIN, 1, ROOT, ("",)),
        (ORIGIN, 1, ROOT, ("a\nb",)),
    ],
    ids=[
        "empty-origin",
        "newline-origin",
        "tab-origin",
        "negative-size",
        "size-2^63",
        "short-root",
        "long-root",
        "empty-extension",
        "newline-extension",
    ],
)
def test_checkpoint_fields_refused(
    origin: str, size: int, root_hash: bytes, extensions: tuple[str, ...]
) -> None:
    with pytest.raises(InvalidCheckpoint):
        Checkpoint(origin, size, root_hash, extensions)


def test_checkpoint_origin_must_be_the_key_name() -> None:
    note = sign_note(Checkpoint("other.example/log", 1, ROOT).text(), ORIGIN, LOG)
    with pytest.raises(InvalidCheckpoint):
        open_checkpoint(note, LOG_VERIFIER)


def test_checkpoint_by_another_key_refused() -> None:
    other = AgentKey.from_seed(hashlib.sha256(b"checkpoint/other").digest())
    note = sign_checkpoint(Checkpoint(ORIGIN, 1, ROOT), other)
    with pytest.raises(InvalidSignature):
        open_checkpoint(note, LOG_VERIFIER)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\tb", "a\u00a0b"], ids=repr)
def test_key_names_refused(name: str) -> None:
    with pytest.raises(InvalidKey):
        sign_note(b"text\n", name, LOG)
    with pytest.raises(InvalidKey):
        NoteVerifier(name, LOG.public_key)


def test_oversized_notes() -> None:
    base = Checkpoint(ORIGIN, 5, ROOT)
    overhead = len(sign_checkpoint(Checkpoint(ORIGIN, 5, ROOT, ("x",)), LOG)) - 1
    fill = MAX_NOTE_BYTES - overhead
    exact = sign_checkpoint(Checkpoint(ORIGIN, 5, ROOT, ("x" * fill,)), LOG)
    assert len(exact) == MAX_NOTE_BYTES
    assert open_checkpoint(exact, LOG_VERIFIER).checkpoint.size == 5
    over = sign_checkpoint(Checkpoint(ORIGIN, 5, ROOT, ("x" * (fill + 1),)), LOG)
    assert len(over) == MAX_NOTE_BYTES + 1
    with pytest.raises(InvalidCheckpoint):
        open_checkpoint(over, LOG_VERIFIER)
    note = sign_checkpoint(base, LOG)
    with pytest.raises(InvalidCheckpoint):
        open_checkpoint(note + b"\n" * MAX_NOTE_BYTES, LOG_VERIFIER)


def test_more_than_100_signatures_refused() -> None:
    note = sign_checkpoint(Checkpoint(ORIGIN, 5, ROOT), LOG)
    line = note[note.rindex(b"\n\n") + 2 :]
    assert open_checkpoint(note + line * 99, LOG_VERIFIER).checkpoint.size == 5
    with pytest.raises(InvalidCheckpoint):
        open_checkpoint(note + line * 100, LOG_VERIFIER)


def test_control_characters_in_the_signature_block_refused() -> None:
    # c2sp.org/signed-note: a signed note MUST NOT contain ASCII control
    # characters other than newline, wherever they are; Go's note.Open checks the
    # whole message before anything else.
    note = sign_checkpoint(Checkpoint(ORIGIN, 5, ROOT), LOG)
    other = sign_note(Checkpoint(ORIGIN, 5, ROOT).text(), "w\x01tness", LOG)
    junk_line = other[other.rindex(b"\n\n") + 2 :]
    with pytest.raises(InvalidCheckpoint):
        open_checkpoint(note + junk_line, LOG_VERIFIER)


_SIGNED = sign_checkpoint(Checkpoint(ORIGIN, 1234567, ROOT, ("ext",)), LOG)


def test_every_byte_of_a_signed_checkpoint_is_protected() -> None:
    open_checkpoint(_SIGNED, LOG_VERIFIER)
    accepted = []
    for mask in (0x01, 0x02, 0x40, 0x80):
        for i in range(len(_SIGNED)):
            tampered = bytearray(_SIGNED)
            tampered[i] ^= mask
            try:
                open_checkpoint(bytes(tampered), LOG_VERIFIER)
            except ProtocolError:
                continue
            accepted.append((mask, i))
    assert accepted == []


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(_SIGNED) - 1), st.integers(0, 255))
def test_any_byte_change_of_a_signed_checkpoint_is_refused(i: int, new: int) -> None:
    if new == _SIGNED[i]:
        return
    tampered = bytearray(_SIGNED)
    tampered[i] = new
    with pytest.raises(ProtocolError):
        open_checkpoint(bytes(tampered), LOG_VERIFIER)


def test_truncated_or_extended_notes_refused() -> None:
    for cut in range(1, len(_SIGNED)):
        with pytest.raises(ProtocolError):
            open_checkpoint(_SIGNED[:cut], LOG_VERIFIER)
    with pytest.raises(ProtocolError):
        open_checkpoint(b"x\n" + _SIGNED, LOG_VERIFIER)


# --- cosignatures ------------------------------------------------------------------------

W1 = AgentKey.from_seed(hashlib.sha256(b"checkpoint/w1").digest())
W2 = AgentKey.from_seed(hashlib.sha256(b"checkpoint/w2").digest())
STRANGER = AgentKey.from_seed(hashlib.sha256(b"checkpoint/stranger").digest())
TEXT = Checkpoint(ORIGIN, 42, ROOT).text()


def _witness(name: str, key: AgentKey) -> NoteVerifier:
    return NoteVerifier(name, key.public_key, ALG_COSIGNATURE_V1)


def test_cosign_and_verify() -> None:
    sig = cosign_checkpoint(TEXT, "w1.example", W1, timestamp=1_700_000_000)
    verifier = _witness("w1.example", W1)
    assert verify_cosignature(TEXT, sig, verifier) == 1_700_000_000
    assert sig.key_hash == hashlib.sha256(b"w1.example\n\x04" + W1.public_key).digest()[:4]
    message = b"cosignature/v1\ntime 1700000000\n" + TEXT
    nacl.signing.VerifyKey(W1.public_key).verify(message, sig.signature[8:])
    # As a line appended to the log's note, it survives open_checkpoint.
    note = sign_checkpoint(Checkpoint.from_text(TEXT), LOG) + sig.line().encode()
    signed = open_checkpoint(note, LOG_VERIFIER)
    assert verified_cosignatures(TEXT, signed.signatures, [verifier]) == {
        W1.public_key: 1_700_000_000
    }
    assert verifier.vkey.startswith("w1.example+")
    assert NoteVerifier.from_vkey(verifier.vkey) == verifier


@pytest.mark.parametrize("timestamp", [-1, 2**63])
def test_cosign_refuses_timestamps_out_of_range(timestamp: int) -> None:
    with pytest.raises(ValueError):
        cosign_checkpoint(TEXT, "w1.example", W1, timestamp=timestamp)


def test_one_key_counts_once() -> None:
    v1, alias = _witness("w1.example", W1), _witness("w1-alias.example", W1)
    s1 = cosign_checkpoint(TEXT, "w1.example", W1, timestamp=100)
    s2 = cosign_checkpoint(TEXT, "w1-alias.example", W1, timestamp=200)
    assert verified_cosignatures(TEXT, [s1, s2], [v1, alias]) == {W1.public_key: 200}
    assert verified_cosignatures(TEXT, [s1, s1], [v1, v1]) == {W1.public_key: 100}
    s3 = cosign_checkpoint(TEXT, "w2.example", W2, timestamp=300)
    found = verified_cosignatures(TEXT, [s1, s2, s3], [v1, alias, _witness("w2.example", W2)])
    assert found == {W1.public_key: 200, W2.public_key: 300}


def test_cosignatures_that_do_not_count() -> None:
    v1 = _witness("w1.example", W1)
    good = cosign_checkpoint(TEXT, "w1.example", W1, timestamp=100)
    stranger_same_name = cosign_checkpoint(TEXT, "w1.example", STRANGER, timestamp=100)
    stranger = cosign_checkpoint(TEXT, "stranger.example", STRANGER, timestamp=100)
    tampered_time = NoteSignature(
        good.name, good.key_hash, (101).to_bytes(8, "big") + good.signature[8:]
    )
    tampered_sig = NoteSignature(
        good.name, good.key_hash, good.signature[:-1] + bytes([good.signature[-1] ^ 1])
    )
    short = NoteSignature(good.name, good.key_hash, good.signature[8:])
    other_text = cosign_checkpoint(
        Checkpoint(ORIGIN, 43, ROOT).text(), "w1.example", W1, timestamp=100
    )
    # An Ed25519 (0x01) note signature by the witness key is not a cosignature.
    plain_note = sign_note(TEXT, "w1.example", W1)
    plain = split_note(plain_note)[1][0]
    for sig in [
        stranger_same_name,
        stranger,
        tampered_time,
        tampered_sig,
        short,
        other_text,
        plain,
    ]:
        assert verified_cosignatures(TEXT, [sig], [v1]) == {}
        with pytest.raises((InvalidSignature, InvalidKey)):
            verify_cosignature(TEXT, sig, v1)
    assert verified_cosignatures(TEXT, [good], [v1]) == {W1.public_key: 100}
    # A witness listed with signature type 0x01 verifies no cosignature.
    assert verified_cosignatures(TEXT, [good], [NoteVerifier("w1.example", W1.public_key)]) == {}


def test_note_verifier_must_be_ed25519_for_notes() -> None:
    with pytest.raises(InvalidKey):
        open_note(sign_checkpoint(Checkpoint.from_text(TEXT), LOG), _witness(ORIGIN, LOG))
    with pytest.raises(InvalidKey):
        verify_cosignature(
            TEXT,
            cosign_checkpoint(TEXT, "w1.example", W1, timestamp=1),
            NoteVerifier("w1.example", W1.public_key),
        )

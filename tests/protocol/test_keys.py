"""protocol.keys: Ed25519 agent keys (RFC 8032 vectors) and PKCS#8 PEM key files."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import stat
import subprocess
from pathlib import Path

import nacl.signing
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, x25519

from protocol.did import did_from_public_key
from protocol.errors import InvalidKey, InvalidSignature
from protocol.keys import AgentKey, load_key, save_key, verify_did_signature, verify_signature

# RFC 8032 §7.1, TEST 1024: the 1023-byte message.
_TEST_1024_MESSAGE = (
    "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4"
    "eb98fa6e264bf09efe12ee50f8f54e9f77b1e355f6c50544e23fb1433ddf"
    "73be84d879de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a"
    "1b270b20329d658675fc6ea534e0810a4432826bf58c941efb65d57a338b"
    "bd2e26640f89ffbc1a858efcb8550ee3a5e1998bd177e93a7363c344fe6b"
    "199ee5d02e82d522c4feba15452f80288a821a579116ec6dad2b3b310da9"
    "03401aa62100ab5d1a36553e06203b33890cc9b832f79ef80560ccb9a39c"
    "e767967ed628c6ad573cb116dbefefd75499da96bd68a8a97b928a8bbc10"
    "3b6621fcde2beca1231d206be6cd9ec7aff6f6c94fcd7204ed3455c68c83"
    "f4a41da4af2b74ef5c53f1d8ac70bdcb7ed185ce81bd84359d44254d9562"
    "9e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2d17ba70eb6248e594e1a"
    "2297acbbb39d502f1a8c6eb6f1ce22b3de1a1f40cc24554119a831a9aad6"
    "079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f27088d78b7e883c"
    "8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc2732e694"
    "85bbc9c90bfbd62481d9089beccf80cfe2df16a2cf65bd92dd597b0707e0"
    "917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba"
    "b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255d"
    "c51addd3b75a2b1ae0784504df543af8969be3ea7082ff7fc9888c144da2"
    "af58429ec96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e0"
    "56a9b47acdb751fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301"
    "651339e22904cc8c42f58c30c04aafdb038dda0847dd988dcda6f3bfd15c"
    "4b4c4525004aa06eeff8ca61783aacec57fb3d1f92b0fe2fd1a85f672451"
    "7b65e614ad6808d6f6ee34dff7310fdc82aebfd904b01e1dc54b2927094b"
    "2db68d6f903b68401adebf5a7e08d78ff4ef5d63653a65040cf9bfd4aca7"
    "984a74d37145986780fc0b16ac451649de6188a7dbdf191f64b5fc5e2ab4"
    "7b57f7f7276cd419c17a3ca8e1b939ae49e488acba6b965610b5480109c8"
    "b17b80e1b7b750dfc7598d5d5011fd2dcc5600a32ef5b52a1ecc820e308a"
    "a342721aac0943bf6686b64b2579376504ccc493d97e6aed3fb0f9cd71a4"
    "3dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5fb93246f6b111"
    "6398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b50d334ba7"
    "7c225bc307ba537152f3f1610e4eafe595f6d9d90d11faa933a15ef13695"
    "46868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d"
    "b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86ab"
    "a41c0618983f8741c5ef68d3a101e8a3b8cac60c905c15fc910840b94c00"
    "a0b9d0"
)

# RFC 8032 §7.1 (Test Vectors for Ed25519): (name, SECRET KEY, PUBLIC KEY, MESSAGE, SIGNATURE).
RFC8032_VECTORS = [
    (
        "TEST 1",
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac"
        "c61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "TEST 2",
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e"
        "458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "TEST 3",
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290"
        "ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
    (
        "TEST 1024",
        "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
        "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
        _TEST_1024_MESSAGE,
        "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350aa5371b1508f9f45"
        "28ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03",
    ),
    (
        "TEST SHA(abc)",
        "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
        "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
        "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ec"
        "fdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
    ),
]
_IDS = [v[0] for v in RFC8032_VECTORS]


def test_rfc8032_sha_abc_message_is_sha512_of_abc() -> None:
    assert RFC8032_VECTORS[4][3] == hashlib.sha512(b"abc").hexdigest()
    assert len(bytes.fromhex(_TEST_1024_MESSAGE)) == 1023


@pytest.mark.parametrize(
    ("name", "secret", "public", "message", "signature"), RFC8032_VECTORS, ids=_IDS
)
def test_rfc8032_vectors(name: str, secret: str, public: str, message: str, signature: str) -> None:
    key = AgentKey.from_seed(bytes.fromhex(secret))
    assert key.public_key == bytes.fromhex(public)
    assert key.did == did_from_public_key(bytes.fromhex(public))
    assert key.seed() == bytes.fromhex(secret)
    msg = bytes.fromhex(message)
    sig = key.sign(msg)
    assert sig == bytes.fromhex(signature)
    verify_signature(bytes.fromhex(public), msg, sig)
    verify_did_signature(key.did, msg, sig)


@pytest.mark.parametrize(
    ("name", "secret", "public", "message", "signature"), RFC8032_VECTORS, ids=_IDS
)
def test_rfc8032_flipped_bits_rejected(
    name: str, secret: str, public: str, message: str, signature: str
) -> None:
    pk, msg, sig = bytes.fromhex(public), bytes.fromhex(message), bytes.fromhex(signature)
    for i in (0, 31, 32, 63):
        for bit in (0x01, 0x80):
            bad = bytearray(sig)
            bad[i] ^= bit
            with pytest.raises(InvalidSignature):
                verify_signature(pk, msg, bytes(bad))
    if msg:
        bad_msg = bytearray(msg)
        bad_msg[-1] ^= 0x01
        with pytest.raises(InvalidSignature):
            verify_signature(pk, bytes(bad_msg), sig)
    with pytest.raises(InvalidSignature):
        verify_signature(pk, msg + b"\x00", sig)
    other = bytearray(pk)
    other[0] ^= 0x01
    # A changed public key is either another valid key (the signature fails) or no point.
    with pytest.raises((InvalidSignature, InvalidKey)):
        verify_signature(bytes(other), msg, sig)


@pytest.mark.parametrize(
    ("public", "signature", "error"),
    [
        (b"\x01" * 31, b"\x00" * 64, InvalidKey),
        (b"\x01" * 33, b"\x00" * 64, InvalidKey),
        (bytes.fromhex(RFC8032_VECTORS[0][2]), b"\x00" * 63, InvalidSignature),
        (bytes.fromhex(RFC8032_VECTORS[0][2]), b"\x00" * 65, InvalidSignature),
        (bytes.fromhex(RFC8032_VECTORS[0][2]), b"", InvalidSignature),
    ],
    ids=["pk-31", "pk-33", "sig-63", "sig-65", "sig-empty"],
)
def test_verify_signature_refuses_wrong_lengths(
    public: bytes, signature: bytes, error: type[Exception]
) -> None:
    with pytest.raises(error):
        verify_signature(public, b"", signature)


# specs/01-records.md §1.3: a key of small order, here the identity point,
# with R = identity and S = 0 satisfies the cofactorless equation for every
# message; lenient verifiers accept it, a verifier of the spec must not.
_IDENTITY_POINT = b"\x01" + b"\0" * 31


@pytest.mark.parametrize("message", [b"", b"any message", bytes(range(256))], ids=len)
def test_small_order_key_and_signature_refused(message: bytes) -> None:
    weak_sig = _IDENTITY_POINT + b"\0" * 32
    with pytest.raises(InvalidSignature):
        verify_signature(_IDENTITY_POINT, message, weak_sig)
    weak_did = did_from_public_key(_IDENTITY_POINT)
    assert weak_did == "did:key:z6MkeXATEjyXENzBXBxgC5EHk2JE5aqd7qMGGtDpLUH1e2Sj"
    with pytest.raises(InvalidSignature):
        verify_did_signature(weak_did, message, weak_sig)


def test_non_canonical_s_refused() -> None:
    # S + L (the group order) satisfies the equation too, but RFC 8032 §5.1.7
    # requires S < L (specs/01-records.md §1.3, check 2).
    _, _, public, message, signature = RFC8032_VECTORS[1]
    sig = bytes.fromhex(signature)
    order = 2**252 + 27742317777372353535851937790883648493
    s_value = int.from_bytes(sig[32:], "little") + order
    malleated = sig[:32] + s_value.to_bytes(32, "little")
    with pytest.raises(InvalidSignature):
        verify_signature(bytes.fromhex(public), bytes.fromhex(message), malleated)


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_from_seed_refuses_wrong_length(length: int) -> None:
    with pytest.raises(InvalidKey):
        AgentKey.from_seed(b"\x07" * length)


def test_repr_does_not_show_the_seed() -> None:
    seed = bytes.fromhex(RFC8032_VECTORS[0][1])
    key = AgentKey.from_seed(seed)
    for text in (repr(key), str(key), f"{key!r}"):
        assert seed.hex() not in text.lower()
        assert repr(seed) not in text
        assert base64.b64encode(seed).decode() not in text
        assert base64.urlsafe_b64encode(seed).decode().rstrip("=") not in text
        assert seed.hex()[:16] not in text.lower()


# --- key files ----------------------------------------------------------------


def _write(path: Path, data: bytes, mode: int = 0o600) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(path, mode)
    return path


def _pkcs8(
    private: ed25519.Ed25519PrivateKey
    | ec.EllipticCurvePrivateKey
    | x25519.X25519PrivateKey
    | ed448.Ed448PrivateKey,
) -> bytes:
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture
def saved(tmp_path: Path) -> tuple[AgentKey, Path]:
    key = AgentKey.from_seed(bytes.fromhex(RFC8032_VECTORS[1][1]))
    path = tmp_path / "agent.pem"
    save_key(key, path)
    return key, path


def test_save_key_writes_pkcs8_pem_mode_0600(saved: tuple[AgentKey, Path]) -> None:
    key, path = saved
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = path.read_bytes()
    assert data.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    assert data.rstrip().endswith(b"-----END PRIVATE KEY-----")
    private = serialization.load_pem_private_key(data, password=None)
    assert isinstance(private, ed25519.Ed25519PrivateKey)
    raw_private = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    assert raw_private == bytes.fromhex(RFC8032_VECTORS[1][1])
    raw_public = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert raw_public == key.public_key == bytes.fromhex(RFC8032_VECTORS[1][2])


def test_save_key_writes_exactly_the_specified_bytes(tmp_path: Path) -> None:
    # specs/01-records.md §1.4: DER = 302e020100300506032b657004220420 ‖ seed,
    # as one line of base64 between the PEM armour lines, each ending in LF.
    for seed in (b"\0" * 32, bytes.fromhex(RFC8032_VECTORS[0][1])):
        path = tmp_path / f"{seed.hex()[:8]}.pem"
        save_key(AgentKey.from_seed(seed), path)
        der = bytes.fromhex("302e020100300506032b657004220420") + seed
        expected = (
            b"-----BEGIN PRIVATE KEY-----\n"
            + base64.b64encode(der)
            + b"\n-----END PRIVATE KEY-----\n"
        )
        assert path.read_bytes() == expected
    # specs/01-records.md §1.4, example keyfile-1: the node key of seed 00…00.
    assert (tmp_path / "00000000.pem").read_bytes() == (
        b"-----BEGIN PRIVATE KEY-----\n"
        b"MC4CAQAwBQYDK2VwBCIEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
        b"-----END PRIVATE KEY-----\n"
    )


def test_save_key_is_readable_by_openssl(saved: tuple[AgentKey, Path]) -> None:
    key, path = saved
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    subprocess.run([openssl, "pkey", "-in", str(path), "-noout"], check=True, capture_output=True)
    der = subprocess.run(
        [openssl, "pkey", "-in", str(path), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    # SubjectPublicKeyInfo of Ed25519 (RFC 8410 §4) ends with the 32-byte key.
    assert der[-32:] == key.public_key


def test_save_key_mode_ignores_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        save_key(AgentKey.from_seed(b"\x01" * 32), tmp_path / "k.pem")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "k.pem").stat().st_mode) == 0o600


def test_save_key_refuses_to_overwrite(saved: tuple[AgentKey, Path]) -> None:
    _, path = saved
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        save_key(AgentKey.from_seed(b"\x02" * 32), path)
    assert path.read_bytes() == before


def test_save_key_refuses_a_symlink_to_an_existing_file(tmp_path: Path) -> None:
    target = _write(tmp_path / "target", b"keep me")
    (tmp_path / "link.pem").symlink_to(target)
    with pytest.raises(FileExistsError):
        save_key(AgentKey.from_seed(b"\x02" * 32), tmp_path / "link.pem")
    assert target.read_bytes() == b"keep me"


def test_load_key_round_trip(saved: tuple[AgentKey, Path]) -> None:
    key, path = saved
    loaded = load_key(path)
    assert loaded.seed() == key.seed()
    assert loaded.did == key.did
    assert loaded.sign(b"x") == key.sign(b"x")


def test_load_key_reads_a_key_written_by_cryptography(tmp_path: Path) -> None:
    seed = bytes.fromhex(RFC8032_VECTORS[2][1])
    path = _write(tmp_path / "k.pem", _pkcs8(ed25519.Ed25519PrivateKey.from_private_bytes(seed)))
    assert load_key(path).public_key == bytes.fromhex(RFC8032_VECTORS[2][2])


@pytest.mark.parametrize("mode", [0o400, 0o600, 0o700])
def test_load_key_accepts_owner_only_modes(saved: tuple[AgentKey, Path], mode: int) -> None:
    key, path = saved
    path.chmod(mode)
    assert load_key(path).did == key.did


@pytest.mark.parametrize("mode", [0o640, 0o644, 0o660, 0o604, 0o602, 0o610, 0o666])
def test_load_key_refuses_group_or_other_access(saved: tuple[AgentKey, Path], mode: int) -> None:
    _, path = saved
    path.chmod(mode)
    with pytest.raises(InvalidKey):
        load_key(path)


def _encrypted_ed25519() -> bytes:
    return ed25519.Ed25519PrivateKey.from_private_bytes(b"\x05" * 32).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"correct horse"),
    )


def _public_pem() -> bytes:
    return (
        ed25519.Ed25519PrivateKey.from_private_bytes(b"\x05" * 32)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def _oversized() -> bytes:
    pem = _pkcs8(ed25519.Ed25519PrivateKey.from_private_bytes(b"\x05" * 32))
    return pem + b"\n" * 5000


def _openssh() -> bytes:
    return ed25519.Ed25519PrivateKey.from_private_bytes(b"\x05" * 32).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )


def _raw_der() -> bytes:
    return ed25519.Ed25519PrivateKey.from_private_bytes(b"\x05" * 32).private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


BAD_KEY_FILES = [
    ("ec-p256", lambda: _pkcs8(ec.generate_private_key(ec.SECP256R1()))),
    ("x25519", lambda: _pkcs8(x25519.X25519PrivateKey.generate())),
    ("ed448", lambda: _pkcs8(ed448.Ed448PrivateKey.generate())),
    ("encrypted", _encrypted_ed25519),
    ("public-key", _public_pem),
    ("openssh", _openssh),
    ("der", _raw_der),
    ("garbage", lambda: b"this is not a key\n"),
    ("random-bytes", lambda: bytes(range(256)) * 3),
    ("empty", lambda: b""),
    ("truncated-pem", lambda: _pkcs8(ed25519.Ed25519PrivateKey.generate())[:60]),
    ("oversized", _oversized),
    ("huge", lambda: b"A" * 10_000_000),
]


@pytest.mark.parametrize("make", [c[1] for c in BAD_KEY_FILES], ids=[c[0] for c in BAD_KEY_FILES])
def test_load_key_refuses(tmp_path: Path, make: object) -> None:
    path = _write(tmp_path / "bad.pem", make())  # type: ignore[operator]
    with pytest.raises(InvalidKey):
        load_key(path)


def test_load_key_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_key(tmp_path / "nope.pem")


def test_key_files_agree_with_pynacl(saved: tuple[AgentKey, Path]) -> None:
    key, path = saved
    loaded = load_key(path)
    message = b"fabcommons"
    nacl.signing.VerifyKey(key.public_key).verify(message, loaded.sign(message))

"""Hostile and broken files are refused with a reason, fast, before trimesh can be hurt.

Each input is crafted here byte by byte (struct, zipfile, json) rather than
with the code under test. "Fast" is generous (a second each) so that a slow
shared machine does not fail the test, yet a loader that parsed 10^7
triangles or inflated a zip bomb would take far longer.
"""

from __future__ import annotations

import io
import json
import random
import struct
import time
import zipfile
from collections.abc import Callable

import pytest

from node.corpus import corpus_dir
from registry.mesh import MeshError, MeshLimits, analyse

MESHES = corpus_dir() / "meshes"


def binary_stl(triangles: int, declared: int | None = None, header: bytes = b"") -> bytes:
    """A binary STL of `triangles` small triangles whose header declares `declared`."""
    body = b"".join(
        struct.pack("<12fH", 0, 0, 1, i, 0, 0, i + 1, 0, 0, i, 1, 0, 0) for i in range(triangles)
    )
    count = triangles if declared is None else declared
    return header.ljust(80, b" ")[:80] + struct.pack("<I", count) + body


def model_xml(objects: str, items: str, *, doctype: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        + doctype
        + '<model unit="millimeter" xmlns="http://schemas.microsoft.com/3dmanufacturing/core/2015/02">'
        + f"<resources>{objects}</resources><build>{items}</build></model>"
    ).encode()


def three_mf(model: bytes, extra: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("3D/3dmodel.model", model)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


TETRA = (
    '<object id="1" type="model"><mesh><vertices>'
    '<vertex x="0" y="0" z="0"/><vertex x="10" y="0" z="0"/>'
    '<vertex x="0" y="10" z="0"/><vertex x="0" y="0" z="10"/></vertices><triangles>'
    '<triangle v1="0" v2="2" v3="1"/><triangle v1="0" v2="1" v3="3"/>'
    '<triangle v1="0" v2="3" v3="2"/><triangle v1="1" v2="2" v3="3"/>'
    "</triangles></mesh></object>"
)


def nested_components(levels: int, fanout: int) -> bytes:
    """3MF's billion laughs: each object holds `fanout` copies of the one below."""
    objects = TETRA
    for level in range(2, levels + 2):
        parts = "".join(f'<component objectid="{level - 1}"/>' for _ in range(fanout))
        objects += f'<object id="{level}" type="model"><components>{parts}</components></object>'
    return three_mf(model_xml(objects, f'<item objectid="{levels + 1}"/>'))


def glb(document: dict[str, object], binary: bytes = b"") -> bytes:
    text = json.dumps(document).encode()
    text += b" " * (-len(text) % 4)
    chunks = struct.pack("<II", len(text), 0x4E4F534A) + text
    if binary:
        binary += b"\x00" * (-len(binary) % 4)
        chunks += struct.pack("<II", len(binary), 0x004E4942) + binary
    return b"glTF" + struct.pack("<II", 2, 12 + len(chunks)) + chunks


def random_bytes(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


UNIT_CUBE = (MESHES / "unit_cube.STL").read_bytes()

# name, file name, bytes (made lazily), words the reason must contain
CASES: list[tuple[str, str, Callable[[], bytes], str]] = [
    ("empty", "part.stl", lambda: b"", "empty"),
    ("unknown format", "part.step", lambda: b"ISO-10303-21;", "unknown model format"),
    ("no extension", "README", lambda: b"solid x", "unknown model format"),
    ("truncated binary stl", "part.stl", lambda: UNIT_CUBE[:-30], "truncated"),
    ("header claims more", "part.stl", lambda: binary_stl(2, declared=100), "holds only 2"),
    ("header of 10^7", "part.stl", lambda: binary_stl(3, declared=10**7), "more than the limit"),
    (
        "header of 10^7, 'solid' header",
        "part.stl",
        lambda: binary_stl(3, declared=10**7, header=b"solid evil"),
        "more than the limit",
    ),
    ("trailing bytes", "part.stl", lambda: binary_stl(2) + b"xx", "follow the 2 triangles"),
    ("too short", "part.stl", lambda: b"\x00" * 40, "too short"),
    ("stl of random bytes", "part.stl", lambda: random_bytes(5000, 1), "binary STL"),
    (
        "ascii stl with nan",
        "part.stl",
        lambda: (
            b"solid x\nfacet normal 0 0 1\nouter loop\nvertex nan 0 0\nvertex 1 0 0\n"
            b"vertex 0 1 0\nendloop\nendfacet\nendsolid x\n"
        ),
        "not finite",
    ),
    ("obj of random bytes", "part.obj", lambda: random_bytes(5000, 2), "OBJ"),
    ("ply of random bytes", "part.ply", lambda: random_bytes(5000, 3), "PLY"),
    ("glb of random bytes", "part.glb", lambda: random_bytes(5000, 4), "GLB"),
    ("3mf of random bytes", "part.3mf", lambda: random_bytes(5000, 5), "ZIP"),
    ("glb length lies", "part.glb", lambda: glb({"asset": {"version": "2.0"}})[:-4], "header says"),
    (
        "glb node cycle",
        "part.glb",
        lambda: glb(
            {
                "asset": {"version": "2.0"},
                "scenes": [{"nodes": [0]}],
                "nodes": [{"children": [1]}, {"children": [0]}],
            }
        ),
        "cycle",
    ),
    (
        "glb instancing bomb",
        "part.glb",
        lambda: glb(
            {
                "asset": {"version": "2.0"},
                "scenes": [{"nodes": [0]}],
                "accessors": [{"count": 3_000_000, "componentType": 5125, "type": "SCALAR"}],
                "meshes": [{"primitives": [{"attributes": {}, "indices": 0}]}],
                "nodes": [{"children": [1, 1, 1]}, {"mesh": 0}],
            }
        ),
        "more than the limit",
    ),
    (
        "3mf zip bomb",
        "part.3mf",
        lambda: three_mf(
            model_xml(TETRA, '<item objectid="1"/>'), {"Metadata/pad.xml": b" " * (40 << 20)}
        ),
        "zip bomb",
    ),
    ("3mf nested components", "part.3mf", lambda: nested_components(9, 10), "limit"),
    (
        "3mf component cycle",
        "part.3mf",
        lambda: three_mf(
            model_xml(
                '<object id="1"><components><component objectid="2"/></components></object>'
                '<object id="2"><components><component objectid="1"/></components></object>',
                '<item objectid="1"/>',
            )
        ),
        "cycle",
    ),
    (
        "3mf with a DTD",
        "part.3mf",
        lambda: three_mf(
            model_xml(
                TETRA, '<item objectid="1"/>', doctype='<!DOCTYPE model [<!ENTITY a "aaaa">]>'
            )
        ),
        "DTD",
    ),
    (
        "3mf without a model",
        "part.3mf",
        lambda: _zip_only({"readme.txt": b"hi"}),
        "3dmodel.model",
    ),
    ("3mf with nothing built", "part.3mf", lambda: three_mf(model_xml(TETRA, "")), "no triangles"),
]


def _zip_only(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("filename", "make", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_hostile_input_is_refused_fast_with_a_reason(
    filename: str, make: Callable[[], bytes], words: str
) -> None:
    data = make()
    started = time.perf_counter()
    with pytest.raises(MeshError) as caught:
        analyse(data, filename, units="mm")
    elapsed = time.perf_counter() - started
    assert words in caught.value.reason, caught.value.reason
    assert elapsed < 2.0, f"took {elapsed:.2f} s"


def test_a_real_ten_million_triangle_header_is_refused_before_reading() -> None:
    # 50 bytes per triangle: a file that really held them would be 500 MB.
    data = binary_stl(10, declared=10**7)
    with pytest.raises(MeshError, match="10000000 triangles"):
        analyse(data, "big.stl", units="mm", limits=MeshLimits())


def test_limits_are_configurable() -> None:
    data = binary_stl(20)
    analyse(data, "ok.stl", units="mm", limits=MeshLimits(max_triangles=20))
    with pytest.raises(MeshError, match="more than the limit of 19"):
        analyse(data, "big.stl", units="mm", limits=MeshLimits(max_triangles=19))
    with pytest.raises(MeshError, match="more than the limit 100"):
        analyse(data, "big.stl", units="mm", limits=MeshLimits(max_bytes=100))


def test_archive_total_is_checked_from_declared_sizes() -> None:
    model = model_xml(TETRA, '<item objectid="1"/>')
    data = three_mf(model, {"Metadata/notes.txt": random_bytes(300_000, 9)})
    analyse(data, "ok.3mf", units="mm")
    with pytest.raises(MeshError, match="uncompressed bytes"):
        analyse(data, "big.3mf", units="mm", limits=MeshLimits(max_archive_bytes=200_000))


def test_a_crafted_3mf_tetrahedron_is_measured() -> None:
    """The hand-made 3MF that the refusals start from is itself fine: 1000/6 mm³."""
    figures = analyse(three_mf(model_xml(TETRA, '<item objectid="1"/>')), "t.3mf", units="mm")
    assert figures.triangles == 4
    assert figures.watertight is True
    assert figures.volume_mm3 == "166.667"
    assert figures.aabb_mm == ("10.000", "10.000", "10.000")


def test_unknown_units_are_refused() -> None:
    with pytest.raises(MeshError, match="unknown units"):
        analyse(UNIT_CUBE, "cube.stl", units="cm")

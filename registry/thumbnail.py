"""PURE: a small PNG preview of a mesh, drawn with numpy (specs/04a-mesh-analysis.md §8).

An isometric view from the front-right-top, orthographic, flat-shaded by
the angle between each face and a fixed light, hidden surfaces removed with
a z-buffer, rendered at twice the size and averaged down so edges are
smooth. The background is transparent. Output bytes are a function of the
input arrays alone. Huge meshes are decimated (every k-th face) and the
rasteriser's work is bounded, so a preview costs at most a few seconds.
This module does not read mesh files; registry/mesh.py does.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["ThumbnailStyle", "encode_png", "render_png"]

# The eye looks from +x, -y, +z towards the origin; z is up on screen.
_EYE = np.array([1.0, -1.0, 1.0]) / math.sqrt(3.0)
_RIGHT = np.array([1.0, 1.0, 0.0]) / math.sqrt(2.0)
_UP = np.array([-1.0, 1.0, 2.0]) / math.sqrt(6.0)
_VIEW = np.stack([_RIGHT, _UP, _EYE])  # rows: screen x, screen y, depth toward the eye
_LIGHT = np.array([-0.3, 0.75, 0.6]) / math.sqrt(0.3**2 + 0.75**2 + 0.6**2)
_CHUNK = 1 << 20  # candidate pixels per rasterising step


@dataclass(frozen=True, slots=True, kw_only=True)
class ThumbnailStyle:
    """Size and look of a preview."""

    size: int = 256
    supersample: int = 2
    margin: int = 8
    color: tuple[int, int, int] = (64, 120, 190)
    ambient: float = 0.3
    max_faces: int = 300_000
    max_candidates: int = 24_000_000


def render_png(
    vertices: NDArray[np.float64],
    faces: NDArray[np.int64],
    style: ThumbnailStyle | None = None,
) -> bytes:
    """A PNG (RGBA, transparent background) of the mesh seen isometrically."""
    style = style or ThumbnailStyle()
    rgba = _render(np.asarray(vertices, np.float64), np.asarray(faces, np.int64), style)
    return encode_png(rgba)


def _render(
    vertices: NDArray[np.float64], faces: NDArray[np.int64], style: ThumbnailStyle
) -> NDArray[np.uint8]:
    side = style.size * style.supersample
    if len(faces) > style.max_faces:
        faces = faces[:: math.ceil(len(faces) / style.max_faces)]
    view = vertices @ _VIEW.T
    triangles = view[faces]  # (n, 3, 3): screen x, screen y, depth
    pixels = _fit(view, side, style.margin * style.supersample)
    corners = pixels[faces]  # (n, 3, 2)
    edge1 = triangles[:, 1] - triangles[:, 0]
    edge2 = triangles[:, 2] - triangles[:, 0]
    normals = np.cross(edge1, edge2)
    lengths = np.linalg.norm(normals, axis=1)
    lengths[lengths == 0] = 1.0
    # Two-sided lighting: a file's winding is not to be trusted.
    shade = style.ambient + (1.0 - style.ambient) * np.abs(normals @ _LIGHT) / lengths
    depth_buffer, shade_buffer = _rasterise(corners, triangles[:, :, 2], shade, side, style)
    return _downsample(depth_buffer, shade_buffer, style)


def _fit(view: NDArray[np.float64], side: int, margin: int) -> NDArray[np.float64]:
    """Screen coordinates scaled and centred into the image, y pointing down."""
    if len(view) == 0:
        return np.zeros((0, 2))
    low = view[:, :2].min(axis=0)
    high = view[:, :2].max(axis=0)
    span = float((high - low).max())
    scale = (side - 2 * margin) / span if span > 0 else 1.0
    centre = (low + high) / 2.0
    x = (view[:, 0] - centre[0]) * scale + side / 2.0
    y = side / 2.0 - (view[:, 1] - centre[1]) * scale
    return np.column_stack([x, y])


def _rasterise(
    corners: NDArray[np.float64],
    depths: NDArray[np.float64],
    shade: NDArray[np.float64],
    side: int,
    style: ThumbnailStyle,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """A z-buffer filled by scanlines: each pixel keeps the shade of its nearest face."""
    depth_buffer = np.full(side * side, -np.inf)
    shade_buffer = np.zeros(side * side)
    a, b, c = corners[:, 0], corners[:, 1], corners[:, 2]
    area2 = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    # Pixel i covers [i, i+1); a row or column is drawn when its centre i + 0.5 is inside.
    row_low = np.clip(np.ceil(corners[:, :, 1].min(axis=1) - 0.5), 0, side).astype(np.int64)
    row_high = np.clip(np.floor(corners[:, :, 1].max(axis=1) - 0.5), -1, side - 1)
    rows = np.maximum(row_high.astype(np.int64) - row_low + 1, 0)
    rows[area2 == 0] = 0
    keep = np.flatnonzero(rows)
    cost = rows[keep] + np.abs(area2[keep]) / 2.0
    total = float(cost.sum())
    if total > style.max_candidates:
        # Bounded work: a pathological mesh of huge overlapping faces gets thinned.
        keep = keep[:: math.ceil(total / style.max_candidates)]
    zplane = _depth_planes(corners, depths, area2)
    start = 0
    while start < len(keep):
        running = np.cumsum(rows[keep[start:]] + np.abs(area2[keep[start:]]) / 2.0)
        stop = start + max(1, int(np.searchsorted(running, _CHUNK, side="right")))
        spans = _spans(keep[start:stop], corners, row_low, rows, side)
        _fill(spans, zplane, shade, side, depth_buffer, shade_buffer)
        start = stop
    return depth_buffer, shade_buffer


def _depth_planes(
    corners: NDArray[np.float64], depths: NDArray[np.float64], area2: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Per face (z at corner a, dz/dx, dz/dy, ax, ay): depth is linear over a triangle."""
    a, b, c = corners[:, 0], corners[:, 1], corners[:, 2]
    dzb = depths[:, 1] - depths[:, 0]
    dzc = depths[:, 2] - depths[:, 0]
    safe = np.where(area2 == 0, 1.0, area2)
    dzdx = (dzb * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * dzc) / safe
    dzdy = ((b[:, 0] - a[:, 0]) * dzc - dzb * (c[:, 0] - a[:, 0])) / safe
    return np.column_stack([depths[:, 0], dzdx, dzdy, a[:, 0], a[:, 1]])


def _spans(
    faces: NDArray[np.int64],
    corners: NDArray[np.float64],
    row_low: NDArray[np.int64],
    rows: NDArray[np.int64],
    side: int,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """(face, row, first column, column count) of every scanline of the faces."""
    face = np.repeat(faces, rows[faces])
    first = np.repeat(np.cumsum(rows[faces]) - rows[faces], rows[faces])
    row = row_low[face] + np.arange(len(face)) - first
    y = row + 0.5
    x_min = np.full(len(face), np.inf)
    x_max = np.full(len(face), -np.inf)
    for i, j in ((0, 1), (1, 2), (2, 0)):
        p, q = corners[face, i], corners[face, j]
        dy = q[:, 1] - p[:, 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (y - p[:, 1]) / dy
        crosses = (dy != 0) & (t >= 0) & (t <= 1)
        x = np.where(crosses, p[:, 0] + t * (q[:, 0] - p[:, 0]), 0.0)
        x_min = np.where(crosses, np.minimum(x_min, x), x_min)
        x_max = np.where(crosses, np.maximum(x_max, x), x_max)
    valid = np.isfinite(x_min) & np.isfinite(x_max)
    low = np.clip(np.ceil(np.where(valid, x_min, 0.0) - 0.5), 0, side).astype(np.int64)
    high = np.clip(np.floor(np.where(valid, x_max, -1.0) - 0.5), -1, side - 1).astype(np.int64)
    count = np.where(valid, np.maximum(high - low + 1, 0), 0)
    return face, row, low, count


def _fill(
    spans: tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]],
    zplane: NDArray[np.float64],
    shade: NDArray[np.float64],
    side: int,
    depth_buffer: NDArray[np.float64],
    shade_buffer: NDArray[np.float64],
) -> None:
    span_face, span_row, span_low, span_count = spans
    if not span_count.any():
        return
    face = np.repeat(span_face, span_count)
    first = np.repeat(np.cumsum(span_count) - span_count, span_count)
    px = np.repeat(span_low, span_count) + np.arange(len(face)) - first
    py = np.repeat(span_row, span_count)
    plane = zplane[face]
    dx = px + 0.5 - plane[:, 3]
    dy = py + 0.5 - plane[:, 4]
    z = plane[:, 0] + plane[:, 1] * dx + plane[:, 2] * dy
    pixel = py * side + px
    # Nearest first within each pixel; equal depths go to the lower face index.
    order = np.lexsort((face, -z, pixel))
    pixel, z, face = pixel[order], z[order], face[order]
    firsts = np.r_[True, pixel[1:] != pixel[:-1]]
    pixel, z, face = pixel[firsts], z[firsts], face[firsts]
    nearer = z > depth_buffer[pixel]
    depth_buffer[pixel[nearer]] = z[nearer]
    shade_buffer[pixel[nearer]] = shade[face[nearer]]


def _downsample(
    depth_buffer: NDArray[np.float64], shade_buffer: NDArray[np.float64], style: ThumbnailStyle
) -> NDArray[np.uint8]:
    n, k = style.size, style.supersample
    covered = np.isfinite(depth_buffer).reshape(n, k, n, k)
    shade = shade_buffer.reshape(n, k, n, k)
    hits = covered.sum(axis=(1, 3))
    mean_shade = np.where(hits > 0, shade.sum(axis=(1, 3)) / np.maximum(hits, 1), 0.0)
    rgba = np.zeros((n, n, 4), dtype=np.uint8)
    base = np.array(style.color, dtype=np.float64)
    rgb = np.clip(np.rint(mean_shade[:, :, None] * base), 0, 255)
    rgba[:, :, :3] = rgb.astype(np.uint8)
    rgba[:, :, 3] = np.rint(hits * (255.0 / (k * k))).astype(np.uint8)
    return rgba


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    )


def encode_png(rgba: NDArray[np.uint8]) -> bytes:
    """PNG (RFC 2083) of an (h, w, 4) uint8 image: 8-bit RGBA, filter None on every row."""
    height, width, _ = rgba.shape
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    rows = np.concatenate([np.zeros((height, 1), np.uint8), rgba.reshape(height, -1)], axis=1)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 9))
        + _chunk(b"IEND", b"")
    )

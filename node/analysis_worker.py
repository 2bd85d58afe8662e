"""The mesh-analysis worker process: `python -m node.analysis_worker MEMORY_BYTES`.

node/analysis.py starts it, talks to it over stdin/stdout, and kills it
when a request runs past its time limit. The worker caps its own address
space (RLIMIT_AS) at what it uses after importing plus MEMORY_BYTES, so a
file that needs more fails here with MemoryError instead of hurting the
node; after such a failure it answers and exits, and a fresh one replaces it.

Framing, both ways: a 4-byte big-endian length, a JSON header, then the
number of raw bytes the header names. Request header: {filename, units,
thumbnail (bool), path (a file to read, or null), size (payload bytes),
limits (registry.figures.MeshLimits fields)}. Reply header: {"ok": true,
"figures", "analyser", "thumbnail": n} or {"ok": false, "kind": "mesh" |
"memory", "reason"}. The first reply, sent once ready, is {"ready": true}.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import struct
import sys
from pathlib import Path
from typing import IO, Any

__all__ = ["main"]

logger = logging.getLogger("node.analysis_worker")


def _read_exact(stream: IO[bytes], size: int) -> bytearray | None:
    data = bytearray(size)
    view = memoryview(data)
    done = 0
    while done < size:
        count = stream.readinto(view[done:])  # type: ignore[attr-defined]
        if not count:
            return None
        done += count
    return data  # a bytearray: one copy of a large payload, not two


def _send(out: IO[bytes], header: dict[str, Any], extra: bytes = b"") -> None:
    encoded = json.dumps(header).encode()
    out.write(struct.pack(">I", len(encoded)) + encoded + extra)
    out.flush()


def _limit_memory(budget: int) -> None:
    """Cap the address space at what is mapped now plus budget bytes."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[0])
        current = pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        current = 0
    soft = current + budget
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _handle(header: dict[str, Any], payload: bytes | bytearray) -> tuple[dict[str, Any], bytes]:
    from registry.mesh import MeshError, MeshLimits, analyse_mesh, analyser
    from registry.thumbnail import render_png

    limits = MeshLimits(**header["limits"])
    path = header.get("path")
    if path is not None:
        size = Path(path).stat().st_size
        if size > limits.max_bytes:
            raise MeshError(f"the file has {size} bytes, more than the limit {limits.max_bytes}")
        payload = Path(path).read_bytes()
    figures, mesh = analyse_mesh(payload, header["filename"], units=header["units"], limits=limits)
    png = render_png(mesh.vertices, mesh.faces) if header.get("thumbnail") else b""
    reply = {
        "ok": True,
        "figures": figures.to_dict(),
        "analyser": analyser(),
        "thumbnail": len(png),
    }
    return reply, png


def main() -> int:
    # The protocol owns the real stdout; anything a library prints goes to stderr.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    source = sys.stdin.buffer
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    budget = int(sys.argv[1])
    # Import before the cap, so the cap measures the files' cost, not numpy's.
    import registry.mesh
    import registry.thumbnail

    _limit_memory(budget)
    _send(out, {"ready": True, "pid": os.getpid()})
    while True:
        try:
            request = _read_request(source)
            if request is None:
                return 0
            header, payload = request
            reply, extra = _handle(header, payload)
        except MemoryError:
            # The stream may be half read and the heap is in doubt: answer and go.
            _send(out, {"ok": False, "kind": "memory", "reason": "memory limit"})
            return 3
        except registry.mesh.MeshError as exc:
            reply, extra = {"ok": False, "kind": "mesh", "reason": exc.reason}, b""
        except Exception as exc:
            # An unforeseen failure on a file is still the file's: say what broke.
            logger.exception("analysis of %s failed", header.get("filename"))
            reason = f"the analysis failed: {type(exc).__name__}: {str(exc)[:200]}"
            reply, extra = {"ok": False, "kind": "mesh", "reason": reason}, b""
        _send(out, reply, extra)


def _read_request(source: IO[bytes]) -> tuple[dict[str, Any], bytearray] | None:
    prefix = _read_exact(source, 4)
    if prefix is None:
        return None
    (length,) = struct.unpack(">I", prefix)
    raw = _read_exact(source, length)
    if raw is None:
        return None
    header = json.loads(raw)
    payload = _read_exact(source, int(header.get("size", 0)))
    if payload is None:
        return None
    return header, payload


if __name__ == "__main__":
    raise SystemExit(main())

"""Where the shared corpus of real meshes and manifests lives (tests, demo, benchmarks).

FABCOMMONS_CORPUS names it; otherwise it is `../shared/corpus` beside the
checkout, or, for a clone made elsewhere on the same machine,
/work/shared/corpus.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["corpus_dir"]

_BESIDE = Path(__file__).resolve().parents[2] / "shared" / "corpus"
_MACHINE = Path("/work/shared/corpus")


def corpus_dir() -> Path:
    named = os.environ.get("FABCOMMONS_CORPUS")
    if named:
        return Path(named)
    return _BESIDE if _BESIDE.is_dir() else _MACHINE

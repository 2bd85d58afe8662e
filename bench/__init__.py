"""Benchmarks that print figures beside the raw limits of the primitives they use.

Each module `bench/<name>.py` has `run() -> str`, returning a Markdown section;
`python -m bench.run [names...]` runs them and writes bench/REPORT.md. No
benchmark ever passes or fails on time.
"""

from __future__ import annotations

__all__: list[str] = []

"""Run the benchmarks and write bench/REPORT.md.

`python -m bench.run` runs every bench/<name>.py that has `run() -> str`, in
sorted order; `python -m bench.run protocol ...` runs only the named ones. The
report starts with the machine the figures were measured on.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import bench

__all__ = ["available", "machine_header", "main"]

REPORT = Path(__file__).resolve().parent / "REPORT.md"
_NOT_BENCHMARKS = {"run", "__init__", "__main__"}


def available() -> list[str]:
    """Names of the benchmark modules in bench/, sorted."""
    return sorted(
        info.name
        for info in pkgutil.iter_modules(bench.__path__)
        if info.name not in _NOT_BENCHMARKS and not info.name.startswith("_")
    )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                kib = int(line.split()[1])
                return f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return "unknown"


def machine_header(names: list[str]) -> str:
    """The report's title and a table describing this machine and run."""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    cores = f"{os.cpu_count()}" + (f" ({affinity} usable)" if affinity is not None else "")
    rows = [
        ("CPU", _cpu_model()),
        ("cores", cores),
        ("memory", _memory()),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("benchmarks", ", ".join(names)),
    ]
    lines = [
        "# fabcommons benchmarks",
        "",
        "Figures beside the raw limits of the primitives they use; never a pass or fail.",
        "",
        "| machine | |",
        "| --- | --- |",
        *(f"| {k} | {v} |" for k, v in rows),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--output", type=Path, default=REPORT, help="report file")
    args = parser.parse_args(argv)

    known = available()
    unknown = [n for n in args.names if n not in known]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(known)}")
    names = [n for n in known if not args.names or n in args.names]

    sections = []
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        runner = getattr(module, "run", None)
        if not callable(runner):
            continue
        print(f"running bench.{name} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        section = runner()
        print(f"bench.{name} took {time.perf_counter() - start:.1f} s", file=sys.stderr)
        sections.append(section.rstrip("\n") + "\n")

    report = machine_header(names) + "\n" + "\n".join(sections)
    args.output.write_text(report, encoding="utf-8")
    print(report)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

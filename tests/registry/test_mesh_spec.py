"""specs/04a-mesh-analysis.md and the code agree: cited sections, limits, the schema, the index."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema

from node.analysis import AnalysisLimits
from registry.figures import FORMATS, UNITS, MeshLimits

ROOT = Path(__file__).resolve().parents[2]
SPEC = (ROOT / "specs" / "04a-mesh-analysis.md").read_text(encoding="utf-8")
HEADINGS = set(re.findall(r"^#{2,6} §(\d+(?:\.\d+)*)\. ", SPEC, re.MULTILINE))
CITATION = re.compile(r"04a-mesh-analysis\.md §(\d+(?:\.\d+)*)")


def test_every_section_the_code_cites_exists() -> None:
    cited = []
    for package in ("registry", "node"):
        for path in (ROOT / package).rglob("*.py"):
            cited += [(path.name, s) for s in CITATION.findall(path.read_text("utf-8"))]
    assert len(cited) >= 10
    missing = [(where, s) for where, s in cited if s not in HEADINGS]
    assert missing == []


def test_sections_are_numbered_in_order() -> None:
    numbers = [tuple(int(p) for p in h.split(".")) for h in re.findall(
        r"^#{2,6} §(\d+(?:\.\d+)*)\. ", SPEC, re.MULTILINE)]  # fmt: skip
    assert numbers == sorted(numbers)
    assert [n[0] for n in numbers if len(n) == 1] == list(range(1, 11))


def test_the_limits_table_states_the_defaults() -> None:
    mesh, node = MeshLimits(), AnalysisLimits()
    assert mesh.max_bytes == 64 * 2**20
    assert "| file size | 64 MiB" in SPEC
    assert mesh.max_triangles == 2_000_000
    assert "| 2,000,000 |" in SPEC
    assert mesh.max_instances == 100_000
    assert "| 100,000 |" in SPEC
    assert (mesh.max_archive_entries, mesh.max_archive_bytes, mesh.max_archive_ratio) == (
        1000,
        256 * 2**20,
        200,
    )
    assert "| 1,000 / 256 MiB / 200× |" in SPEC
    assert mesh.max_coordinate == 1e6
    assert "±10^6" in SPEC
    assert node.timeout_s == 120
    assert "| wall time per file | 120 s |" in SPEC
    assert node.memory_bytes == 3 * 2**30
    assert "plus 3 GiB" in SPEC
    assert node.workers == 1
    assert (node.retry_base_s, node.retry_max_s, node.max_attempts) == (2.0, 600.0, 30)
    assert "2 s, doubling, at most 10 min apart, at most 30 times" in SPEC


def test_formats_and_units_are_the_specs() -> None:
    for fmt in FORMATS:
        assert f"| `.{fmt}` |" in SPEC
    assert list(UNITS) == ["mm", "inch", "m"]
    assert [str(v) for v in UNITS.values()] == ["1", "25.4", "1000"]


def test_the_schema_is_valid_and_listed() -> None:
    schema = json.loads((ROOT / "specs" / "schemas" / "design.analysis.json").read_text("utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["title"] == "design.analysis"
    assert schema["additionalProperties"] is False
    assert "(schemas/design.analysis.json)" in SPEC
    index = (ROOT / "specs" / "README.md").read_text(encoding="utf-8")
    assert "[04a-mesh-analysis.md](04a-mesh-analysis.md)" in index

"""Open Know-How manifests: OKH v1 (YAML) and OKH-LOSH (TOML) in, OKH-LOSH out.

specs/04-designs.md §6 gives the mapping. Importing is two steps, so that
this module stays pure: `read_manifest` parses a manifest (tolerating the
quirks of real ones: a `%Open know-how manifest` header, trailing spaces,
deprecated fields, a licence given as a string or as a table) and plans
which of the files beside it the design holds; the caller hashes those
files and `ImportPlan.to_design` makes the body. `export_losh` writes a
design as OKH-LOSH TOML whose `[fabcommons]` table keeps what OKH-LOSH has
no field for, so that the export imports back to the same body.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
import tomllib
import urllib.parse
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import tomli_w
import yaml

from protocol.errors import InvalidRecord
from registry.designs import MODEL_UNITS, Author, Design, DesignFile
from registry.licences import LicenceRefused, check_publishable

__all__ = [
    "MAX_MANIFEST_BYTES",
    "ImportPlan",
    "ManifestError",
    "PlannedFile",
    "export_losh",
    "media_type_for",
    "read_manifest",
]

MAX_MANIFEST_BYTES = 256 * 1024
MAX_NESTING = 32
LOSH_VERSION = "OKH-LOSHv1.0"
FABCOMMONS_TABLE = "fabcommons"
FABCOMMONS_FORMAT = 1

# Extension -> (media type, whether it is a mesh the registry analyses).
_MEDIA: dict[str, tuple[str, bool]] = {
    "stl": ("model/stl", True),
    "obj": ("model/obj", True),
    "ply": ("model/x-ply", True),
    "3mf": ("model/3mf", True),
    "glb": ("model/gltf-binary", True),
    "step": ("model/step", False),
    "stp": ("model/step", False),
    "scad": ("application/x-openscad", False),
    "fcstd": ("application/x-freecad", False),
    "dxf": ("image/vnd.dxf", False),
    "svg": ("image/svg+xml", False),
    "pdf": ("application/pdf", False),
    "md": ("text/markdown", False),
    "txt": ("text/plain", False),
    "csv": ("text/csv", False),
    "jpg": ("image/jpeg", False),
    "jpeg": ("image/jpeg", False),
    "png": ("image/png", False),
    "zip": ("application/zip", False),
}
_SOURCE_EXTENSIONS = frozenset({"step", "stp", "scad", "fcstd"})

# OKH v1 fields this importer reads; the rest are reported as ignored.
_V1_READ = frozenset(
    {
        "title",
        "description",
        "intended-use",
        "health-safety-notice",
        "keywords",
        "project-link",
        "documentation-home",
        "image",
        "license",
        "licensor",
        "contributors",
        "version",
        "bom",
        "making-instructions",
        "operating-instructions",
        "manufacturing-files",
        "design-files",
        "schematics",
        "user-manual",
        "manufacturing-processes",
        "materials",
    }
)
_LOSH_READ = frozenset(
    {
        "okhv",
        "name",
        "repo",
        "version",
        "license",
        "licensor",
        "function",
        "readme",
        "image",
        "bom",
        "manufacturing-instructions",
        "user-manual",
        "part",
        "keywords",
        FABCOMMONS_TABLE,
    }
)


class ManifestError(InvalidRecord):
    """A manifest that cannot become a design; `field` names the manifest key."""


def media_type_for(name: str) -> str:
    """The media type the registry gives a file, by its extension."""
    return _MEDIA.get(_extension(name), ("application/octet-stream", False))[0]


def _extension(name: str) -> str:
    _, dot, ext = name.rpartition(".")
    return ext.lower() if dot else ""


def _is_mesh(name: str) -> bool:
    return _MEDIA.get(_extension(name), ("", False))[1]


@dataclass(frozen=True, slots=True)
class PlannedFile:
    """A file the design will hold; sha256 and size are known for an exported design's files."""

    name: str
    role: str
    media_type: str
    units: str | None = None
    sha256: str | None = None
    size: int | None = None


@dataclass(frozen=True, slots=True)
class ImportPlan:
    """What a manifest says, ready to become a design once its local files are hashed."""

    format: str  # "okh-v1" or "okh-losh"
    title: str
    summary: str
    description: str
    license: str
    authors: tuple[Author, ...]
    version: str
    upstream: str | None
    tags: tuple[str, ...]
    processes: tuple[str, ...]
    materials: tuple[str, ...]
    files: tuple[PlannedFile, ...]
    supersedes: str | None = None
    derived_from: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def local_names(self) -> tuple[str, ...]:
        """Files the caller must hash (those whose hash the manifest does not carry)."""
        return tuple(f.name for f in self.files if f.sha256 is None)

    def to_design(self, hashes: Mapping[str, tuple[str, int]]) -> Design:
        """The design body; hashes maps a local file name to (sha256 hex, size).

        Raises ManifestError for a file without a hash, InvalidRecord for a
        body the schema refuses.
        """
        files = []
        for planned in self.files:
            sha, size = planned.sha256, planned.size
            if sha is None or size is None:
                if planned.name not in hashes:
                    raise ManifestError("files", f"{planned.name} has not been hashed")
                sha, size = hashes[planned.name]
            files.append(
                DesignFile(
                    name=planned.name,
                    media_type=planned.media_type,
                    sha256=sha,
                    size=size,
                    role=planned.role,
                    units=planned.units,
                )
            )
        body = {
            "title": self.title,
            "summary": self.summary,
            "description": self.description,
            "license": self.license,
            "authors": [a.to_dict() for a in self.authors],
            "version": self.version,
            "supersedes": self.supersedes,
            "derived_from": list(self.derived_from),
            "files": [f.to_dict() for f in files],
            "processes": list(self.processes),
            "materials": list(self.materials),
            "tags": list(self.tags),
        }
        if self.upstream is not None:
            body["upstream"] = self.upstream
        # Validate exactly as a signed body is validated.
        return Design.from_dict(body)


# -- parsing ---------------------------------------------------------------------------------


def _strip_header(text: str) -> str:
    # OKH v1 files often open with `%Open know-how manifest 0.1`: a YAML directive
    # line that is not a YAML directive. Drop such lines before the document.
    lines = text.split("\n")
    out = []
    in_header = True
    for line in lines:
        stripped = line.strip()
        if in_header and stripped.startswith("%") and not stripped.startswith(("%YAML", "%TAG")):
            continue
        if stripped and not stripped.startswith(("#", "%", "---")):
            in_header = False
        out.append(line)
    return "\n".join(out)


def _parse(data: bytes, filename: str) -> tuple[str, dict[str, Any]]:
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError("manifest", f"is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError("manifest", "is not UTF-8 text") from exc
    if _bracket_depth(text) > MAX_NESTING:
        raise ManifestError("manifest", "is nested too deeply")
    lower = filename.lower()
    as_toml = lower.endswith(".toml") or (
        not lower.endswith((".yml", ".yaml")) and re.search(r"(?m)^okhv\s*=", text) is not None
    )
    try:
        if as_toml:
            parsed: Any = tomllib.loads(text)
            kind = "okh-losh"
        else:
            parsed = yaml.safe_load(_strip_header(text))
            kind = "okh-v1"
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError("manifest", f"is not valid TOML: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ManifestError("manifest", f"is not valid YAML: {_first_line(exc)}") from exc
    except RecursionError as exc:
        raise ManifestError("manifest", "is nested too deeply") from exc
    if not isinstance(parsed, dict):
        raise ManifestError("manifest", "must be a mapping of fields at the top level")
    if kind == "okh-v1" and "okhv" in parsed and "name" in parsed and "title" not in parsed:
        kind = "okh-losh"  # OKH-LOSH fields written as YAML
    return kind, parsed


def _bracket_depth(text: str) -> int:
    # PyYAML takes seconds to refuse thousands of nested flow collections:
    # refuse them first. Brackets inside quoted text count too (manifests are flat).
    depth = deepest = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}" and depth:
            depth -= 1
    return deepest


def _first_line(exc: Exception) -> str:
    return str(exc).strip().split("\n")[0][:200]


def _scalar(value: Any) -> str | None:
    """A manifest scalar as stripped text (numbers and dates too); None for anything else."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str | int | float | _dt.date):
        text = value.isoformat() if isinstance(value, _dt.date) else str(value)
        text = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", text).strip()
        return text or None
    return None


def _single_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _shorten(text: str, limit: int) -> str:
    flat = _single_line(text)
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:")
    return cut + "…"


def _has_word(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def _name_of(value: Any) -> str | None:
    """A person's name from a string ("Name <email>") or a table with `name`."""
    if isinstance(value, Mapping):
        value = value.get("name")
    text = _scalar(value)
    if text is None:
        return None
    text = _single_line(re.sub(r"<[^>]*>", "", text)).strip(" -,")
    if not _has_word(text):
        return None
    return text[:200]


def _people(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [n for n in (_name_of(v) for v in items[:64]) if n]


def _url(value: Any) -> str | None:
    text = _scalar(value)
    if text is None:
        return None
    text = text.replace(" ", "")
    if re.fullmatch(r"https?://[^\s\x00-\x1f\x7f]{1,1990}", text):
        return text
    return None


def _refs(value: Any) -> list[str]:
    """File references: a string, a table with path/location/url, or a list of those."""
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items[:200]:
        if isinstance(item, Mapping):
            item = item.get("path", item.get("location", item.get("url")))
        text = _scalar(item)
        if text:
            out.append(text)
    return out


def _basename(ref: str) -> str:
    path = urllib.parse.urlsplit(ref.strip()).path if "://" in ref else ref.strip()
    return urllib.parse.unquote(path.rstrip("/").rsplit("/", 1)[-1])


def _licences_v1(value: Any) -> str:
    """The design's licence from OKH v1 `license`: a string or a table by subject."""
    if isinstance(value, Mapping):
        chosen = None
        for subject in ("hardware", "documentation"):
            text = _scalar(value.get(subject))
            if text is None:
                continue
            try:
                check_publishable(text)
            except LicenceRefused as exc:
                raise LicenceRefused(text, f"{subject} {exc.reason}", "license") from exc
            chosen = chosen or text
        if chosen is None:
            raise ManifestError("license", "names neither a hardware nor a documentation licence")
        return chosen
    text = _scalar(value)
    if text is None:
        raise ManifestError("license", "is required (an SPDX licence identifier)")
    return _licence(text)


def _licence(text: str) -> str:
    try:
        check_publishable(text)
    except LicenceRefused as exc:
        raise LicenceRefused(text, exc.reason, "license") from exc
    return text


_PROCESS_WORDS = (
    ("laser", "laser-cutting"),
    ("cnc", "cnc-milling"),
    ("mill", "cnc-milling"),
    ("sla", "sla"),
    ("resin", "sla"),
    ("sls", "sls"),
    ("fdm", "fdm"),
    ("fff", "fdm"),
    ("3d print", "fdm"),
    ("3d-print", "fdm"),
)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.")[:48].strip("-.")


def _processes(values: Sequence[Any]) -> tuple[str, ...]:
    out: list[str] = []
    for value in values:
        text = (_scalar(value) or "").lower()
        for word, process in _PROCESS_WORDS:
            if word in text and process not in out:
                out.append(process)
                break
    return tuple(out[:16])


def _materials(values: Sequence[Any]) -> tuple[str, ...]:
    out: list[str] = []
    for value in values:
        text = _scalar(value)
        slug = _slug(text) if text else ""
        if slug and slug not in out:
            out.append(slug)
    return tuple(out[:32])


def _tags(value: Any, notes: list[str]) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value] if value is not None else []
    out: list[str] = []
    for item in items[:200]:
        text = _scalar(item)
        if not text:
            continue
        text = _single_line(text)
        if len(text) > 64:
            notes.append(f"keyword {text[:20]}… is longer than 64 characters: left out")
            continue
        if text not in out:
            out.append(text)
    if len(out) > 32:
        notes.append(f"{len(out) - 32} keywords beyond 32 left out")
    return tuple(out[:32])


class _Files:
    """Matches manifest references to the files beside the manifest, by base name."""

    def __init__(self, local_names: Collection[str], units: str) -> None:
        self.local = {name: name for name in local_names}
        self.units = units
        self.planned: dict[str, PlannedFile] = {}
        self.missing: list[str] = []
        self.folder_refs: list[str] = []

    def add(self, ref: str, role: str) -> None:
        base = _basename(ref)
        if not base:
            return
        if "." not in base:
            self.folder_refs.append(ref)
            return
        name = self.local.get(base)
        if name is None:
            self.missing.append(base)
            return
        if name in self.planned:
            return
        if role in ("model", "drawing") and not _is_mesh(name):
            role = "source" if _extension(name) in _SOURCE_EXTENSIONS else "drawing"
        elif role == "model-or-source":
            role = "model" if _is_mesh(name) else "source"
        self.planned[name] = PlannedFile(
            name=name,
            role=role,
            media_type=media_type_for(name),
            units=self.units if role == "model" else None,
        )

    def take_folder_models(self, notes: list[str]) -> None:
        # A folder reference (e.g. a repository's 3D_Printing_Files) cannot be
        # matched by name: the mesh files beside the manifest stand for it.
        if not self.folder_refs:
            return
        for name in sorted(self.local):
            if _is_mesh(name) and name not in self.planned:
                self.planned[name] = PlannedFile(
                    name=name, role="model", media_type=media_type_for(name), units=self.units
                )
                notes.append(f"{name}: a model file beside the manifest, taken for its folder")

    def result(self, notes: list[str]) -> tuple[PlannedFile, ...]:
        for base in sorted(set(self.missing)):
            notes.append(f"{base}: referenced, but not beside the manifest: left out")
        return tuple(self.planned.values())


def _ignored(parsed: Mapping[str, Any], read: frozenset[str]) -> list[str]:
    ignored = sorted(str(k) for k in list(parsed)[:200] if k not in read)
    return [f"fields not used: {', '.join(ignored)}"] if ignored else []


def _title(value: Any, key: str) -> str:
    text = _scalar(value)
    if text is None or not _has_word(text):
        raise ManifestError(key, "is required (the design's title)")
    return _single_line(text)[:200]


def _authors(
    names: Sequence[str], fallback: Sequence[Author], notes: list[str]
) -> tuple[Author, ...]:
    unique: list[str] = []
    for name in names:
        if name not in unique:
            unique.append(name)
    if len(unique) > 32:
        notes.append(f"{len(unique) - 32} contributors beyond 32 left out")
    if unique:
        return tuple(Author(name=n) for n in unique[:32])
    if fallback:
        notes.append("the manifest names no author: the given author is credited")
        return tuple(fallback)
    raise ManifestError(
        "licensor", "names no author; name one (fabcommons design import-okh --author NAME)"
    )


def _read_v1(
    parsed: Mapping[str, Any],
    local_names: Collection[str],
    units: str,
    fallback: Sequence[Author],
) -> ImportPlan:
    notes = _ignored(parsed, _V1_READ)
    title = _title(parsed.get("title"), "title")
    licence = _licences_v1(parsed.get("license"))
    description = (_scalar(parsed.get("description")) or "").replace("\r\n", "\n")
    sections = [description] if description else []
    for key, heading in (("intended-use", "Intended use"), ("health-safety-notice", "Safety")):
        text = _scalar(parsed.get(key))
        if text:
            sections.append(f"## {heading}\n\n{text}")
    full = "\n\n".join(sections)
    if len(full) > 16000:
        notes.append("the description is cut at 16000 characters")
        full = full[:15999] + "…"
    summary_source = description or _scalar(parsed.get("intended-use")) or ""
    people = _people(parsed.get("licensor")) + _people(parsed.get("contributors") or [])
    files = _Files(local_names, units)
    for ref in _refs(parsed.get("bom")):
        files.add(ref, "bom")
    for key in ("making-instructions", "operating-instructions", "user-manual"):
        for ref in _refs(parsed.get(key)):
            files.add(ref, "instructions")
    for key in ("manufacturing-files", "design-files"):
        for ref in _refs(parsed.get(key)):
            files.add(ref, "model-or-source")
    for ref in _refs(parsed.get("schematics")):
        files.add(ref, "drawing")
    for ref in _refs(parsed.get("image")):
        files.add(ref, "photo")
    files.take_folder_models(notes)
    upstream = _url(parsed.get("project-link")) or _url(parsed.get("documentation-home"))
    processes_raw = parsed.get("manufacturing-processes")
    materials_raw = parsed.get("materials")
    return ImportPlan(
        format="okh-v1",
        title=title,
        summary=_shorten(summary_source, 500),
        description=full,
        license=licence,
        authors=_authors(people, fallback, notes),
        version=(_scalar(parsed.get("version")) or "1")[:64],
        upstream=upstream,
        tags=_tags(parsed.get("keywords"), notes),
        processes=_processes(processes_raw if isinstance(processes_raw, list) else []),
        materials=_materials(materials_raw if isinstance(materials_raw, list) else []),
        files=files.result(notes),
        notes=tuple(notes),
    )


def _read_fabcommons_table(
    table: Any, notes: list[str]
) -> tuple[tuple[Author, ...], tuple[PlannedFile, ...], dict[str, Any]]:
    """Authors, files and the other fields an exported design keeps in [fabcommons]."""
    if not isinstance(table, Mapping):
        raise ManifestError(FABCOMMONS_TABLE, "must be a table")
    if table.get("format") != FABCOMMONS_FORMAT:
        raise ManifestError(f"{FABCOMMONS_TABLE}.format", f"must be {FABCOMMONS_FORMAT}")
    try:
        authors = tuple(
            Author.from_dict(a, f"{FABCOMMONS_TABLE}.authors[{i}]")
            for i, a in enumerate(_as_list(table.get("authors"), "authors"))
        )
        files = tuple(
            DesignFile.from_dict(f, f"{FABCOMMONS_TABLE}.files[{i}]")
            for i, f in enumerate(_as_list(table.get("files"), "files"))
        )
    except InvalidRecord as exc:
        raise ManifestError(exc.field, exc.reason) from exc
    planned = tuple(
        PlannedFile(
            name=f.name,
            role=f.role,
            media_type=f.media_type,
            units=f.units,
            sha256=f.sha256,
            size=f.size,
        )
        for f in files
    )
    rest = {
        key: table[key]
        for key in ("description", "supersedes", "derived_from", "processes", "materials", "tags")
        if key in table
    }
    notes.append("files, authors and lineage taken from the [fabcommons] table")
    return authors, planned, rest


def _as_list(value: Any, key: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ManifestError(f"{FABCOMMONS_TABLE}.{key}", "must be an array")
    return value


def _exact(value: Any, key: str) -> str:
    # An exported design's fields are taken as written; Design.from_dict judges them.
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ManifestError(key, "must be a string")
    return str(value)


def _read_losh(
    parsed: Mapping[str, Any],
    local_names: Collection[str],
    units: str,
    fallback: Sequence[Author],
) -> ImportPlan:
    notes = _ignored(parsed, _LOSH_READ)
    exported = FABCOMMONS_TABLE in parsed
    title = _exact(parsed.get("name"), "name") if exported else _title(parsed.get("name"), "name")
    licence_text = _scalar(parsed.get("license"))
    if licence_text is None:
        raise ManifestError("license", "is required (an SPDX licence identifier)")
    licence = _licence(licence_text)
    function = _scalar(parsed.get("function")) or ""
    parts = parsed.get("part")
    parts = [p for p in parts[:100] if isinstance(p, Mapping)] if isinstance(parts, list) else []
    if exported:
        authors, planned, rest = _read_fabcommons_table(parsed[FABCOMMONS_TABLE], notes)
        summary = parsed.get("function", "")
        return ImportPlan(
            format="okh-losh",
            title=title,
            summary=_exact(summary, "function"),
            description=rest.get("description", ""),
            license=licence,
            authors=authors,
            version=_exact(parsed.get("version"), "version"),
            upstream=_url(parsed.get("repo")),
            tags=tuple(_list_of(rest.get("tags"))),
            processes=tuple(_list_of(rest.get("processes"))),
            materials=tuple(_list_of(rest.get("materials"))),
            files=planned,
            supersedes=rest.get("supersedes"),
            derived_from=tuple(_list_of(rest.get("derived_from"))),
            notes=tuple(notes),
        )
    files = _Files(local_names, units)
    for ref in _refs(parsed.get("bom")):
        files.add(ref, "bom")
    for key in ("manufacturing-instructions", "user-manual", "readme"):
        for ref in _refs(parsed.get(key)):
            files.add(ref, "instructions")
    for part in parts:
        for ref in _refs(part.get("export")):
            files.add(ref, "model")
        for ref in _refs(part.get("source")):
            files.add(ref, "model-or-source")
        for ref in _refs(part.get("image")):
            files.add(ref, "photo")
    for ref in _refs(parsed.get("image")):
        files.add(ref, "photo")
    files.take_folder_models(notes)
    return ImportPlan(
        format="okh-losh",
        title=title,
        summary=_shorten(function, 500),
        description=function if len(_single_line(function)) > 500 else "",
        license=licence,
        authors=_authors(_people(parsed.get("licensor")), fallback, notes),
        version=(_scalar(parsed.get("version")) or "1")[:64],
        upstream=_url(parsed.get("repo")),
        tags=_tags(parsed.get("keywords"), notes),
        processes=_processes([p.get("process") for p in parts]),
        materials=_materials([p.get("material") for p in parts]),
        files=files.result(notes),
        notes=tuple(notes),
    )


def _list_of(value: Any) -> list[Any]:
    # Item types are checked by Design.from_dict when the plan becomes a design.
    return value if isinstance(value, list) else []


def read_manifest(
    data: bytes,
    filename: str,
    *,
    local_names: Collection[str] = (),
    units: str = "mm",
    fallback_authors: Sequence[Author] = (),
) -> ImportPlan:
    """Parse an OKH v1 or OKH-LOSH manifest and plan the design it describes.

    local_names are the files beside the manifest; references are matched to
    them by base name. units are declared for the model files. Raises
    ManifestError (unreadable, no title, no author) or LicenceRefused (a
    licence the commons does not accept, named in the message).
    """
    if units not in MODEL_UNITS:
        raise ManifestError("units", f"must be one of {sorted(MODEL_UNITS)}")
    kind, parsed = _parse(data, filename)
    if kind == "okh-losh":
        return _read_losh(parsed, local_names, units, fallback_authors)
    return _read_v1(parsed, local_names, units, fallback_authors)


# -- export ----------------------------------------------------------------------------------


def export_losh(design: Design, *, design_id: str | None = None) -> str:
    """The design as an OKH-LOSH manifest (TOML) that read_manifest turns back into it."""
    out: dict[str, Any] = {
        "okhv": LOSH_VERSION,
        "name": design.title,
        "version": design.version,
        "license": design.license,
        "licensor": ", ".join(a.name for a in design.authors),
    }
    if design.upstream is not None:
        out["repo"] = design.upstream
    if design.summary:
        out["function"] = design.summary
    by_role: dict[str, list[str]] = {}
    for f in design.files:
        by_role.setdefault(f.role, []).append(f.name)
    if by_role.get("bom"):
        out["bom"] = by_role["bom"][0]
    if by_role.get("instructions"):
        out["manufacturing-instructions"] = by_role["instructions"]
    if by_role.get("photo"):
        out["image"] = by_role["photo"][0]
    table: dict[str, Any] = {"format": FABCOMMONS_FORMAT}
    if design_id is not None:
        table["id"] = design_id
    table["description"] = design.description
    table["authors"] = [a.to_dict() for a in design.authors]
    if design.supersedes is not None:
        table["supersedes"] = design.supersedes
    table["derived_from"] = list(design.derived_from)
    table["processes"] = list(design.processes)
    table["materials"] = list(design.materials)
    table["tags"] = list(design.tags)
    table["files"] = [f.to_dict() for f in design.files]
    exports = by_role.get("model", []) + by_role.get("drawing", [])
    sources = by_role.get("source", [])
    if exports or sources:
        part: dict[str, Any] = {"name": design.title}
        if sources:
            part["source"] = sources
        if exports:
            part["export"] = exports
        if design.processes:
            part["process"] = design.processes[0]
        if design.materials:
            part["material"] = design.materials[0]
        out["part"] = [part]
    out[FABCOMMONS_TABLE] = table
    header = (
        "# OKH-LOSH manifest written by fabcommons. The [fabcommons] table keeps what\n"
        "# OKH-LOSH has no field for (file hashes and units, authors' dids, lineage).\n"
    )
    return header + tomli_w.dumps(out)

"""The `design` record, its authorisation rule, and attribution along `derived_from`.

specs/04-designs.md is normative: §2 the body schema (unknown fields are
refused; every string and list has a limit), §3 licences (registry/licences.py),
§4 who may sign a design, §5 the attribution chain and its TASL text. A
design's id is its record id. This module holds no I/O: attribution takes a
lookup from design id to Design, which the node backs with its projection.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from protocol.authority import LogAuthority, register_rule
from protocol.did import Did
from protocol.errors import InvalidRecord, Unauthorised
from protocol.fields import check_keys, did_field
from protocol.records import Record, RecordId, is_record_id, register_record_type
from protocol.signing import record_id
from registry.licences import check_adaptation, check_publishable, is_spdx_id, licence_url

__all__ = [
    "FILE_ROLES",
    "MAX_ANCESTORS",
    "MODEL_UNITS",
    "Ancestor",
    "Author",
    "Design",
    "DesignFile",
    "attribution_chain",
    "check_derivation",
    "credit_line",
    "tasl_text",
]

FILE_ROLES = frozenset({"model", "drawing", "instructions", "bom", "photo", "source"})
MODEL_UNITS = frozenset({"mm", "inch", "m"})
# specs/04-designs.md §5: a chain longer than this is cut (and says so).
MAX_ANCESTORS = 1000

_SLUG_RE = re.compile(r"[a-z0-9]+(?:[-.][a-z0-9]+)*")
_MEDIA_TYPE_RE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,62}/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_URL_RE = re.compile(r"https?://[^\s\x00-\x1f\x7f]{1,1990}")
# Control characters (C0, DEL, C1) and the line/paragraph separators; multi-line
# text allows LF and TAB only.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_MULTILINE_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_MAX_SIZE = 2**53 - 1


# -- field validators (each raises InvalidRecord naming the field) ------------------------


def _text(
    value: Any, field: str, *, max_len: int, min_len: int = 1, multiline: bool = False
) -> str:
    if not isinstance(value, str):
        raise InvalidRecord(field, "must be a string")
    if not min_len <= len(value) <= max_len:
        raise InvalidRecord(field, f"must be {min_len} to {max_len} characters")
    if (_MULTILINE_CONTROL_RE if multiline else _CONTROL_RE).search(value):
        raise InvalidRecord(field, "must not contain control characters")
    if not multiline and value != value.strip():
        raise InvalidRecord(field, "must not start or end with white space")
    return value


def _list(value: Any, field: str, *, max_items: int) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidRecord(field, "must be an array")
    if len(value) > max_items:
        raise InvalidRecord(field, f"must have at most {max_items} items")
    return value


def _unique(items: Sequence[Any], field: str) -> None:
    if len(set(items)) != len(items):
        raise InvalidRecord(field, "must not repeat an item")


def _slugs(data: Mapping[str, Any], key: str, *, max_items: int) -> tuple[str, ...]:
    field = f"body.{key}"
    items = _list(data[key], field, max_items=max_items)
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, str) or len(item) > 48 or not _SLUG_RE.fullmatch(item):
            raise InvalidRecord(
                f"{field}[{i}]", "must be a lowercase slug of a-z, 0-9, '-' and '.' (1-48)"
            )
        out.append(item)
    _unique(out, field)
    return tuple(out)


def _url(value: Any, field: str) -> str:
    if not isinstance(value, str) or not _URL_RE.fullmatch(value):
        raise InvalidRecord(field, "must be an http(s) URL of at most 2000 characters")
    return value


def _record_id(value: Any, field: str) -> RecordId:
    if not is_record_id(value):
        raise InvalidRecord(field, "must be a record id sha256:<64 lowercase hex>")
    return RecordId(value)


# -- the body -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Author:
    """A person credited for a design: a display name and, if they have one, their did."""

    name: str
    did: Did | None = None

    @classmethod
    def from_dict(cls, data: Any, field: str = "author") -> Self:
        if not isinstance(data, Mapping):
            raise InvalidRecord(field, "must be an object")
        for key in data:
            if key not in ("name", "did"):
                raise InvalidRecord(f"{field}.{key}", "is not a known field")
        if "name" not in data:
            raise InvalidRecord(f"{field}.name", "is required")
        did = None
        if "did" in data:
            try:
                did = did_field(data, "did")
            except InvalidRecord as exc:
                raise InvalidRecord(f"{field}.did", exc.reason) from exc
        return cls(name=_text(data["name"], f"{field}.name", max_len=200), did=did)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.did is not None:
            out["did"] = self.did
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class DesignFile:
    """One content-addressed file of a design; model files declare their units."""

    name: str
    media_type: str
    sha256: str
    size: int
    role: str
    units: str | None = None

    def __post_init__(self) -> None:
        if self.role == "model" and self.units is None:
            raise InvalidRecord("file.units", "a model file must declare its units")
        if self.role != "model" and self.units is not None:
            raise InvalidRecord("file.units", "only model files declare units")

    @classmethod
    def from_dict(cls, data: Any, field: str = "file") -> Self:
        if not isinstance(data, Mapping):
            raise InvalidRecord(field, "must be an object")
        required = ("name", "media_type", "sha256", "size", "role")
        for key in data:
            if key not in (*required, "units"):
                raise InvalidRecord(f"{field}.{key}", "is not a known field")
        for key in required:
            if key not in data:
                raise InvalidRecord(f"{field}.{key}", "is required")
        name = _text(data["name"], f"{field}.name", max_len=255)
        if "/" in name or "\\" in name or name in (".", ".."):
            raise InvalidRecord(f"{field}.name", "must be a file name without a path")
        media_type = data["media_type"]
        if not isinstance(media_type, str) or not _MEDIA_TYPE_RE.fullmatch(media_type):
            raise InvalidRecord(f"{field}.media_type", "must be a lowercase type/subtype")
        sha = data["sha256"]
        if not isinstance(sha, str) or not _SHA256_RE.fullmatch(sha):
            raise InvalidRecord(f"{field}.sha256", "must be 64 lowercase hex digits")
        size = data["size"]
        if type(size) is not int or not 0 <= size <= _MAX_SIZE:
            raise InvalidRecord(f"{field}.size", f"must be an integer from 0 to {_MAX_SIZE}")
        role = data["role"]
        if not isinstance(role, str) or role not in FILE_ROLES:
            raise InvalidRecord(f"{field}.role", f"must be one of {sorted(FILE_ROLES)}")
        units = data.get("units")
        if "units" in data and (not isinstance(units, str) or units not in MODEL_UNITS):
            raise InvalidRecord(f"{field}.units", f"must be one of {sorted(MODEL_UNITS)}")
        try:
            return cls(
                name=name, media_type=media_type, sha256=sha, size=size, role=role, units=units
            )
        except InvalidRecord as exc:
            raise InvalidRecord(f"{field}.units", exc.reason) from exc

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "media_type": self.media_type,
            "sha256": self.sha256,
            "size": self.size,
            "role": self.role,
        }
        if self.units is not None:
            out["units"] = self.units
        return out


_REQUIRED = (
    "title",
    "summary",
    "description",
    "license",
    "authors",
    "version",
    "supersedes",
    "derived_from",
    "files",
    "processes",
    "materials",
    "tags",
)


@register_record_type
@dataclass(frozen=True, slots=True, kw_only=True)
class Design:
    """design: an open design, its licence, authors, lineage and files (signed by a member)."""

    TYPE: ClassVar[str] = "design"
    title: str
    summary: str = ""
    description: str = ""
    license: str
    authors: tuple[Author, ...]
    version: str
    supersedes: RecordId | None = None
    derived_from: tuple[RecordId, ...] = ()
    files: tuple[DesignFile, ...] = ()
    processes: tuple[str, ...] = ()
    materials: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    upstream: str | None = None

    def __post_init__(self) -> None:
        if not is_spdx_id(self.license):
            raise InvalidRecord("body.license", "must be an SPDX licence identifier")
        if not 1 <= len(self.authors) <= 32:
            raise InvalidRecord("body.authors", "must name 1 to 32 authors")
        if self.supersedes is not None and self.supersedes in self.derived_from:
            raise InvalidRecord("body.derived_from", "must not name the design it supersedes")
        names = [f.name for f in self.files]
        if len(set(names)) != len(names):
            raise InvalidRecord("body.files", "file names must be unique")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Validate a design body. Raises InvalidRecord naming the field."""
        check_keys(data, _REQUIRED, ("upstream",))
        authors_raw = _list(data["authors"], "body.authors", max_items=32)
        authors = tuple(
            Author.from_dict(a, f"body.authors[{i}]") for i, a in enumerate(authors_raw)
        )
        supersedes = data["supersedes"]
        derived_raw = _list(data["derived_from"], "body.derived_from", max_items=32)
        derived = tuple(_record_id(d, f"body.derived_from[{i}]") for i, d in enumerate(derived_raw))
        _unique(derived, "body.derived_from")
        files_raw = _list(data["files"], "body.files", max_items=100)
        tags_raw = _list(data["tags"], "body.tags", max_items=32)
        tags = tuple(_text(t, f"body.tags[{i}]", max_len=64) for i, t in enumerate(tags_raw))
        _unique(tags, "body.tags")
        return cls(
            title=_text(data["title"], "body.title", max_len=200),
            summary=_text(data["summary"], "body.summary", max_len=500, min_len=0),
            description=_text(
                data["description"], "body.description", max_len=16000, min_len=0, multiline=True
            ),
            license=_licence(data["license"]),
            authors=authors,
            version=_text(data["version"], "body.version", max_len=64),
            supersedes=None if supersedes is None else _record_id(supersedes, "body.supersedes"),
            derived_from=derived,
            files=tuple(
                DesignFile.from_dict(f, f"body.files[{i}]") for i, f in enumerate(files_raw)
            ),
            processes=_slugs(data, "processes", max_items=16),
            materials=_slugs(data, "materials", max_items=32),
            tags=tags,
            upstream=_url(data["upstream"], "body.upstream") if "upstream" in data else None,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "title": self.title,
            "summary": self.summary,
            "description": self.description,
            "license": self.license,
            "authors": [a.to_dict() for a in self.authors],
            "version": self.version,
            "supersedes": self.supersedes,
            "derived_from": list(self.derived_from),
            "files": [f.to_dict() for f in self.files],
            "processes": list(self.processes),
            "materials": list(self.materials),
            "tags": list(self.tags),
        }
        if self.upstream is not None:
            out["upstream"] = self.upstream
        return out

    def author_dids(self) -> tuple[Did, ...]:
        return tuple(a.did for a in self.authors if a.did is not None)


def _licence(value: Any) -> str:
    if not is_spdx_id(value):
        raise InvalidRecord("body.license", "must be an SPDX licence identifier")
    return str(value)


# -- derivation and attribution ---------------------------------------------------------------

Lookup = Callable[[str], Design | None]


@dataclass(frozen=True, slots=True)
class Ancestor:
    """One design a design adapts, directly (depth 1) or through others.

    An ancestor this node does not know has known=False and no title, authors
    or licence: it is still credited, by id.
    """

    design_id: RecordId
    depth: int
    known: bool
    title: str | None = None
    authors: tuple[Author, ...] = ()
    license: str | None = None
    upstream: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.design_id,
            "depth": self.depth,
            "known": self.known,
            "title": self.title,
            "authors": [a.to_dict() for a in self.authors],
            "license": self.license,
            "license_url": licence_url(self.license) if self.license else None,
            "upstream": self.upstream,
        }


def attribution_chain(design_id: str, lookup: Lookup) -> tuple[Ancestor, ...]:
    """Every ancestor of a design through derived_from, nearest first (specs/04-designs.md §5).

    Breadth first: all parents in their derived_from order, then their
    parents, each design once, at most MAX_ANCESTORS. An unknown design has
    no chain.
    """
    design = lookup(design_id)
    if design is None:
        return ()
    seen = {design_id}
    queue: deque[tuple[str, int]] = deque((parent, 1) for parent in design.derived_from)
    chain: list[Ancestor] = []
    while queue and len(chain) < MAX_ANCESTORS:
        current, depth = queue.popleft()
        if current in seen:
            continue
        seen.add(current)
        found = lookup(current)
        if found is None:
            chain.append(Ancestor(RecordId(current), depth, known=False))
            continue
        chain.append(
            Ancestor(
                RecordId(current),
                depth,
                known=True,
                title=found.title,
                authors=found.authors,
                license=found.license,
                upstream=found.upstream,
            )
        )
        queue.extend((parent, depth + 1) for parent in found.derived_from)
    return tuple(chain)


def check_derivation(licence: str, derived_from: Sequence[str], lookup: Lookup) -> None:
    """Raise LicenceRefused unless `licence` may adapt every known ancestor of derived_from.

    Share-alike is checked against every ancestor, not only parents: a
    parent whose own licence was never checked (it lived in a log this node
    did not follow) cannot launder a grandparent's terms. Unknown ancestors
    are not judged here.
    """
    seen: set[str] = set()
    queue: deque[str] = deque(derived_from)
    while queue and len(seen) < MAX_ANCESTORS:
        current = queue.popleft()
        if current in seen:
            continue
        seen.add(current)
        found = lookup(current)
        if found is None:
            continue
        check_adaptation(licence, found.license, f'"{found.title}" ({current})')
        queue.extend(found.derived_from)


def _names(authors: Sequence[Author]) -> str:
    return ", ".join(a.name for a in authors) or "unknown authors"


def credit_line(
    design_id: str,
    *,
    title: str | None,
    authors: Sequence[Author],
    license: str | None,
    upstream: str | None,
    source: Callable[[str], str],
) -> str:
    """One TASL credit: Title, Author, Source, Licence (specs/04-designs.md §5)."""
    if title is None or license is None:
        return f"A design not known to this node. Source: {source(design_id)}."
    origin = f"; originally {upstream}" if upstream else ""
    url = licence_url(license)
    licence_text = f"{license} {url}" if url else license
    return (
        f'"{title}" by {_names(authors)}. Source: {source(design_id)}{origin}. '
        f"Licence: {licence_text}."
    )


def _default_source(design_id: str) -> str:
    return f"fabcommons design {design_id}"


def tasl_text(
    design_id: str,
    design: Design,
    chain: Sequence[Ancestor],
    *,
    source: Callable[[str], str] = _default_source,
) -> str:
    """The attribution to ship with a part: the design's credit, then each ancestor's."""
    lines = [
        credit_line(
            design_id,
            title=design.title,
            authors=design.authors,
            license=design.license,
            upstream=design.upstream,
            source=source,
        )
    ]
    if chain:
        lines.append("Adapted from:")
        lines.extend(
            "- "
            + credit_line(
                a.design_id,
                title=a.title,
                authors=a.authors,
                license=a.license,
                upstream=a.upstream,
                source=source,
            )
            for a in chain
        )
        if len(chain) >= MAX_ANCESTORS:
            lines.append(f"(the chain is cut after {MAX_ANCESTORS} ancestors)")
    return "\n".join(lines) + "\n"


# -- who may sign a design (specs/04-designs.md §4) -----------------------------------------

# state.extensions["design"]: {design id: {"license": spdx, "authors": [identity dids]}} for
# every design of this log, so that later entries can be judged against earlier ones.
_STATE_KEY = "design"


def _known(state: LogAuthority) -> dict[str, Any]:
    known: dict[str, Any] = state.extensions.setdefault(_STATE_KEY, {})
    return known


def _check_design(state: LogAuthority, record: Record, body: Design) -> None:
    identity = state.require_member(record)
    check_publishable(body.license)
    known = state.extensions.get(_STATE_KEY, {})
    if body.supersedes is not None and body.supersedes in known:
        authors = known[body.supersedes]["authors"]
        if identity not in authors:
            raise Unauthorised(
                f"only an author of {body.supersedes} may publish a version that supersedes it"
            )
    for parent in body.derived_from:
        if parent in known:
            check_adaptation(body.license, known[parent]["license"], parent)


def _apply_design(state: LogAuthority, record: Record, body: Design) -> None:
    identity = state.identity(record.author)
    authors = sorted({identity, *body.author_dids()})
    _known(state)[record_id(record)] = {"license": body.license, "authors": authors}


register_rule(Design.TYPE, _check_design, _apply_design)

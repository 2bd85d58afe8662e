"""Strict parsing of query parameters into problems, not 500s."""

from __future__ import annotations

import re

from aiohttp import web

from node.problems import Problem

__all__ = ["bad", "query_int"]

_DIGITS = re.compile(r"0|[1-9][0-9]{0,17}")


def bad(detail: str, parameter: str) -> Problem:
    """The 400 problem for one bad query or path parameter, naming it."""
    return Problem(400, "bad-parameter", "Bad parameter", detail, parameter=parameter)


def query_int(request: web.Request, name: str, *, default: int | None = None) -> int:
    """A non-negative decimal query parameter. Raises Problem 400."""
    raw = request.query.get(name)
    if raw is None:
        if default is not None:
            return default
        raise Problem(400, "bad-parameter", "Bad parameter", f"query parameter {name} is required")
    if not _DIGITS.fullmatch(raw):
        raise Problem(
            400, "bad-parameter", "Bad parameter", f"{name} must be a non-negative decimal integer"
        )
    return int(raw)

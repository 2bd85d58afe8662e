"""Strict parsing of query parameters into problems, not 500s."""

from __future__ import annotations

import re

from aiohttp import web

from node.problems import Problem

__all__ = ["bad", "bounded_int", "query_int"]

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
        raise bad(f"query parameter {name} is required", name)
    if not _DIGITS.fullmatch(raw):
        raise bad(f"{name} must be a non-negative decimal integer", name)
    return int(raw)


def bounded_int(
    request: web.Request, name: str, *, default: int, minimum: int, maximum: int
) -> int:
    """An optional decimal query parameter within [minimum, maximum]. Raises Problem 400.

    ASCII digits only: str.isdigit() also admits superscripts and other
    scripts' digits, some of which int() then refuses.
    """
    raw = request.query.get(name)
    if raw is None:
        return default
    if not _DIGITS.fullmatch(raw) or not minimum <= int(raw) <= maximum:
        raise bad(f"{name} must be an integer from {minimum} to {maximum}", name)
    return int(raw)

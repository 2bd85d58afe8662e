"""Building blocks for OpenAPI 3.1 path items, shared by every API module."""

from __future__ import annotations

from typing import Any

__all__ = ["ADMIN", "DID", "PROBLEM", "SIGNED", "errors", "json_response", "query"]

PROBLEM = {"$ref": "#/components/responses/Problem"}
SIGNED: list[dict[str, list[str]]] = [{"httpSignature": []}]
ADMIN: list[dict[str, list[str]]] = [{"adminToken": []}]


def json_response(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def query(name: str, description: str) -> dict[str, Any]:
    """A required non-negative integer query parameter."""
    return {
        "name": name,
        "in": "query",
        "required": True,
        "description": description,
        "schema": {"type": "integer", "minimum": 0, "maximum": 999999999999999999},
    }


def errors(*codes: int) -> dict[str, Any]:
    return {str(code): PROBLEM for code in codes}


DID: dict[str, Any] = {
    "name": "did",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^did:key:z6Mk[1-9A-HJ-NP-Za-km-z]{44}$"},
}

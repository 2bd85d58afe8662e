"""The actions a proposal may carry, and the node parameters an action may set.

specs/06-governance.md §3.3 and §9. Each action kind has a validator of its
params (raising InvalidRecord); the kinds form a closed set like record
types do, so every verifier reads an adopted action the same way. The node
side executes them (node/governance_actions.py); this module never does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from protocol.canonical import canonicalize
from protocol.errors import InvalidJSON, InvalidRecord
from protocol.fields import check_keys, did_field, enum_field, int_field, str_field
from protocol.membership import ROLES

__all__ = [
    "ACTION_KINDS",
    "MAX_PARAMS_BYTES",
    "PARAMETERS",
    "ParamsValidator",
    "canonical_equal",
    "register_action_kind",
    "validate_action",
    "validate_parameter",
]

# specs/06-governance.md §3.3: the canonical params of an action stay small.
MAX_PARAMS_BYTES = 16 * 1024
_KIND_RE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")

ParamsValidator = Callable[[Mapping[str, Any]], None]
ACTION_KINDS: dict[str, ParamsValidator] = {}


def register_action_kind(kind: str, validate: ParamsValidator, *, replace: bool = False) -> None:
    """Declare an action kind and the validator of its params (raises InvalidRecord).

    `replace=True` lets the package that owns a kind's meaning put a stricter
    validator in place of the default one registered here (ledger.policy).
    """
    if not _KIND_RE.fullmatch(kind) or len(kind) > 64:
        raise ValueError(f"{kind!r} is not a dotted lowercase name")
    if kind in ACTION_KINDS and not replace:
        raise ValueError(f"action kind {kind} is registered already")
    ACTION_KINDS[kind] = validate


def canonical_equal(a: Any, b: Any) -> bool:
    """Equal as JSON values (JCS bytes): in Python 1 == True, in JCS they differ."""
    try:
        return canonicalize(a) == canonicalize(b)
    except InvalidJSON:
        return False


def validate_action(kind: str, params: Any) -> None:
    """Check an action's kind and params. Raises InvalidRecord naming body.action.*."""
    validate = ACTION_KINDS.get(kind)
    if validate is None:
        raise InvalidRecord("body.action.kind", f"must be one of {sorted(ACTION_KINDS)}")
    if not isinstance(params, Mapping):
        raise InvalidRecord("body.action.params", "must be an object")
    try:
        size = len(canonicalize(dict(params)))
    except InvalidJSON as exc:
        raise InvalidRecord("body.action.params", str(exc)) from exc
    if size > MAX_PARAMS_BYTES:
        raise InvalidRecord("body.action.params", f"larger than {MAX_PARAMS_BYTES} bytes")
    try:
        validate(params)
    except InvalidRecord as exc:
        place = exc.field.removeprefix("body.")
        raise InvalidRecord(f"body.action.params.{place}", exc.reason) from exc


def _url(data: Mapping[str, Any], key: str) -> str:
    url = str_field(data, key, max_len=2000)
    if not url.startswith(("http://", "https://")):
        raise InvalidRecord(f"body.{key}", "must be an http(s) URL")
    return url


def _member_admit(params: Mapping[str, Any]) -> None:
    check_keys(params, ("member", "role"))
    did_field(params, "member")
    enum_field(params, "role", ROLES)


def _member_leave(params: Mapping[str, Any]) -> None:
    check_keys(params, ("member",), ("reason",))
    did_field(params, "member")
    if "reason" in params:
        str_field(params, "reason", max_len=2000)


def _peer_federate(params: Mapping[str, Any]) -> None:
    check_keys(params, ("url", "did"))
    _url(params, "url")
    did_field(params, "did")


def _peer_block(params: Mapping[str, Any]) -> None:
    check_keys(params, ("did", "reason"))
    did_field(params, "did")
    str_field(params, "reason", max_len=2000)


def _required_cosignatures(data: Mapping[str, Any], key: str) -> None:
    int_field(data, key, minimum=0, maximum=64)


# specs/06-governance.md §9.3: the node parameters a decision may set, each
# with the validator of its value. A closed set, like action kinds.
PARAMETERS: dict[str, Callable[[Mapping[str, Any], str], None]] = {
    "required_cosignatures": _required_cosignatures,
}


def validate_parameter(data: Mapping[str, Any]) -> None:
    """Check {"name", "value"} of a node parameter. Raises InvalidRecord."""
    name = enum_field(data, "name", PARAMETERS)
    PARAMETERS[name](data, "value")


def _node_parameter(params: Mapping[str, Any]) -> None:
    check_keys(params, ("name", "value"))
    validate_parameter(params)


def _ledger_policy(params: Mapping[str, Any]) -> None:
    # The ledger package owns the policy's meaning and may register a stricter
    # validator (replace=True); its ledger.policy rule checks the policy exactly.
    check_keys(params, ("policy",))
    if not isinstance(params["policy"], Mapping) or not params["policy"]:
        raise InvalidRecord("body.policy", "must be a non-empty object")


register_action_kind("member.admit", _member_admit)
register_action_kind("member.leave", _member_leave)
register_action_kind("node.parameter", _node_parameter)
register_action_kind("peer.federate", _peer_federate)
register_action_kind("peer.block", _peer_block)
register_action_kind("ledger.policy", _ledger_policy)

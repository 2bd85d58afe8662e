"""Executing adopted decisions: one executor per action kind (specs/06-governance.md §9).

An executor is `async (app, result_id, params) -> None`; it appends, through
the node's own services, the record(s) that put the decision into effect,
each citing the `proposal.result` (`result`, or `decision` for
ledger.policy). The log's rules check that the record executes the adopted
action exactly and only once, so an executor cannot do more than was
decided. Other features register their kinds with `register_action`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from node.appkeys import FEDERATION, LOG
from node.clock import utc_now
from protocol.did import Did
from protocol.membership import MemberAdmit, MemberLeave
from protocol.records import RecordId, format_time

__all__ = ["ACTIONS", "ActionFailed", "Executor", "register_action"]

Executor = Callable[[web.Application, str, dict[str, Any]], Awaitable[None]]
ACTIONS: dict[str, Executor] = {}


class ActionFailed(Exception):
    """An adopted action could not be executed; the message says why, in our words."""


def register_action(kind: str, executor: Executor) -> None:
    """Make `executor` the node's way of executing adopted actions of `kind`."""
    if kind in ACTIONS:
        raise ValueError(f"an executor for {kind} is registered already")
    ACTIONS[kind] = executor


def _now() -> str:
    return format_time(utc_now())


async def _member_admit(app: web.Application, result_id: str, params: dict[str, Any]) -> None:
    body = MemberAdmit(
        member=Did(params["member"]), role=params["role"], result=RecordId(result_id)
    ).to_dict()
    await app[LOG].append_own(MemberAdmit.TYPE, body, _now())


async def _member_leave(app: web.Application, result_id: str, params: dict[str, Any]) -> None:
    body = MemberLeave(
        member=Did(params["member"]), reason=params.get("reason"), result=RecordId(result_id)
    ).to_dict()
    await app[LOG].append_own(MemberLeave.TYPE, body, _now())


async def _node_parameter(app: web.Application, result_id: str, params: dict[str, Any]) -> None:
    body = {"name": params["name"], "value": params["value"], "result": result_id}
    await app[LOG].append_own("node.parameter", body, _now())


async def _peer_federate(app: web.Application, result_id: str, params: dict[str, Any]) -> None:
    _, created = await app[FEDERATION].add_peer(
        params["url"], result=RecordId(result_id), expected_did=Did(params["did"])
    )
    if not created:
        raise ActionFailed(f"{params['did']} is a peer already")


async def _peer_block(app: web.Application, result_id: str, params: dict[str, Any]) -> None:
    await app[FEDERATION].block_peer(
        Did(params["did"]), params["reason"], result=RecordId(result_id)
    )


register_action("member.admit", _member_admit)
register_action("member.leave", _member_leave)
register_action("node.parameter", _node_parameter)
register_action("peer.federate", _peer_federate)
register_action("peer.block", _peer_block)

"""`ledger.*` records and who may sign them (specs/07-ledger.md §2, §5).

`ledger.contribution` (ValueFlows economic events), `ledger.confirm` (the
receiver countersigns), `ledger.policy` (the node executes an adopted
governance decision) and `ledger.distribution` (the node shares a completed
job's payment). The rules decide everything one log can decide: who signed,
whether a policy executes an adopted decision exactly, and whether a
distribution follows the policy in force at its job.complete to the unit.
Whether a distribution's derivation chain matches the design logs needs
other logs; node/ledger_driver.py checks that and flags disagreement.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from governance.actions import canonical_equal, register_action_kind
from governance.distribution import (
    REASONS,
    Designer,
    DistributionInputError,
    Part,
    Policy,
    distribute,
)
from protocol.authority import LogAuthority, register_observer, register_rule
from protocol.canonical import MAX_SAFE_INTEGER
from protocol.did import Did
from protocol.errors import InvalidRecord, Unauthorised
from protocol.fields import (
    check_keys,
    did_field,
    enum_field,
    int_field,
    optional_record_id,
    optional_str,
    record_id_field,
    str_field,
)
from protocol.records import Record, RecordId, parse_time, register_record_type
from protocol.signing import record_id
from registry.capacity_fields import slug_field

__all__ = [
    "ACTIONS",
    "LedgerConfirm",
    "LedgerContribution",
    "LedgerDistribution",
    "LedgerPolicy",
    "Money",
    "Quantity",
    "Reference",
    "ledger_state",
    "policy_in_force",
]

# ValueFlows actions a contribution may record (specs/07-ledger.md §2.1).
ACTIONS = ("work", "produce", "use", "consume", "cite", "deliverService", "transfer")
MAX_DESIGNERS_IN_BODY = 64
MAX_PARTS = 64 + 2 + 16
_DECIMAL_RE = re.compile(r"(0|[1-9][0-9]{0,14})(\.[0-9]{1,6})?")
_UNIT_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,31}")
_CURRENCY_RE = re.compile(r"[A-Z]{3}")
_STATE_KEY = "ledger"


def _nested(exc: InvalidRecord, where: str) -> InvalidRecord:
    """The error of a member object, its field named from the body (body.<where>.…)."""
    if exc.field == "body":
        return InvalidRecord(f"body.{where}", exc.reason)
    return InvalidRecord(exc.field.replace("body.", f"body.{where}.", 1), exc.reason)


def _object(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    if not isinstance(value, Mapping):
        raise InvalidRecord(f"body.{key}", "must be an object")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class Quantity:
    """A ValueFlows measure: a non-negative decimal string and its unit."""

    value: str
    unit: str

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], key: str) -> Self:
        obj = _object(data, key)
        try:
            check_keys(obj, ("value", "unit"))
            value = str_field(obj, "value", max_len=22)
            if not _DECIMAL_RE.fullmatch(value):
                raise InvalidRecord("body.value", "must be a non-negative decimal string")
            unit = str_field(obj, "unit", max_len=32)
            if not _UNIT_RE.fullmatch(unit):
                raise InvalidRecord("body.unit", "must be a unit name (letters, digits, _ . -)")
        except InvalidRecord as exc:
            raise _nested(exc, key) from exc
        return cls(value=value, unit=unit)

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "unit": self.unit}


@dataclass(frozen=True, slots=True, kw_only=True)
class Reference:
    """A record in some log: its id and the did of the log that holds it."""

    id: RecordId
    log: Did

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], key: str) -> Self:
        obj = _object(data, key)
        try:
            check_keys(obj, ("id", "log"))
            return cls(id=record_id_field(obj, "id"), log=did_field(obj, "log"))
        except InvalidRecord as exc:
            raise _nested(exc, key) from exc

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "log": self.log}


@dataclass(frozen=True, slots=True, kw_only=True)
class Money:
    """An amount in integer minor units of an ISO 4217 currency."""

    amount: int
    currency: str

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], key: str) -> Self:
        obj = _object(data, key)
        try:
            check_keys(obj, ("amount", "currency"))
            amount = int_field(obj, "amount", minimum=0, maximum=MAX_SAFE_INTEGER)
            currency = str_field(obj, "currency", max_len=3)
            if not _CURRENCY_RE.fullmatch(currency):
                raise InvalidRecord("body.currency", "must be an ISO 4217 code")
        except InvalidRecord as exc:
            raise _nested(exc, key) from exc
        return cls(amount=amount, currency=currency)

    def to_dict(self) -> dict[str, Any]:
        return {"amount": self.amount, "currency": self.currency}


@register_record_type
@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerContribution:
    """ledger.contribution: a ValueFlows economic event, signed by its provider."""

    TYPE: ClassVar[str] = "ledger.contribution"
    action: str
    provider: Did
    receiver: Did
    at: str
    resource_quantity: Quantity | None = None
    effort_quantity: Quantity | None = None
    resource: str | None = None
    fulfils: Reference | None = None
    corrects: RecordId | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        if self.resource_quantity is None and self.effort_quantity is None:
            raise InvalidRecord("body", "needs resource_quantity or effort_quantity")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        check_keys(
            data,
            ("action", "provider", "receiver", "at"),
            ("resource_quantity", "effort_quantity", "resource", "fulfils", "corrects", "note"),
        )
        at = str_field(data, "at", max_len=40)
        try:
            parse_time(at)
        except ValueError as exc:
            raise InvalidRecord("body.at", str(exc)) from exc
        return cls(
            action=enum_field(data, "action", ACTIONS),
            provider=did_field(data, "provider"),
            receiver=did_field(data, "receiver"),
            at=at,
            resource_quantity=(
                Quantity.from_dict(data, "resource_quantity")
                if "resource_quantity" in data
                else None
            ),
            effort_quantity=(
                Quantity.from_dict(data, "effort_quantity") if "effort_quantity" in data else None
            ),
            resource=optional_str(data, "resource", max_len=200),
            fulfils=Reference.from_dict(data, "fulfils") if "fulfils" in data else None,
            corrects=optional_record_id(data, "corrects"),
            note=optional_str(data, "note", max_len=2000),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "action": self.action,
            "provider": self.provider,
            "receiver": self.receiver,
            "at": self.at,
        }
        if self.resource_quantity is not None:
            out["resource_quantity"] = self.resource_quantity.to_dict()
        if self.effort_quantity is not None:
            out["effort_quantity"] = self.effort_quantity.to_dict()
        if self.resource is not None:
            out["resource"] = self.resource
        if self.fulfils is not None:
            out["fulfils"] = self.fulfils.to_dict()
        if self.corrects is not None:
            out["corrects"] = self.corrects
        if self.note is not None:
            out["note"] = self.note
        return out


@register_record_type
@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerConfirm:
    """ledger.confirm: the receiver of a contribution countersigns it."""

    TYPE: ClassVar[str] = "ledger.confirm"
    contribution: RecordId
    log: Did

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        check_keys(data, ("contribution", "log"))
        return cls(contribution=record_id_field(data, "contribution"), log=did_field(data, "log"))

    def to_dict(self) -> dict[str, Any]:
        return {"contribution": self.contribution, "log": self.log}


@register_record_type
@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerPolicy:
    """ledger.policy: the node puts an adopted value-sharing policy in force."""

    TYPE: ClassVar[str] = "ledger.policy"
    policy: Policy
    decision: RecordId

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        if not isinstance(data, Mapping):
            raise InvalidRecord("body", "must be an object")
        if "decision" not in data:
            raise InvalidRecord("body.decision", "is required")
        rest = {k: v for k, v in data.items() if k != "decision"}
        return cls(policy=Policy.from_dict(rest), decision=record_id_field(data, "decision"))

    def to_dict(self) -> dict[str, Any]:
        return {**self.policy.to_dict(), "decision": self.decision}


def _part_from_dict(data: Any, index: int) -> Part:
    where = f"parts[{index}]"
    if not isinstance(data, Mapping):
        raise InvalidRecord(f"body.{where}", "must be an object")
    try:
        check_keys(
            data, ("agent", "reason", "amount", "policy_version"), ("generation", "design", "label")
        )
        return Part(
            agent=did_field(data, "agent"),
            reason=enum_field(data, "reason", REASONS),
            amount=int_field(data, "amount", minimum=0, maximum=MAX_SAFE_INTEGER),
            policy_version=int_field(data, "policy_version", minimum=1, maximum=MAX_SAFE_INTEGER),
            generation=(
                int_field(data, "generation", minimum=0, maximum=MAX_SAFE_INTEGER)
                if "generation" in data
                else None
            ),
            design=optional_record_id(data, "design"),
            label=optional_str(data, "label", max_len=200),
        )
    except InvalidRecord as exc:
        raise _nested(exc, where) from exc


def _bounded_list(data: Mapping[str, Any], key: str, maximum: int) -> list[Any]:
    value = data.get(key)
    if not isinstance(value, list) or len(value) > maximum:
        raise InvalidRecord(f"body.{key}", f"must be a list of at most {maximum} items")
    return value


@register_record_type
@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerDistribution:
    """ledger.distribution: the node shares a job.complete's payment by the policy in force."""

    TYPE: ClassVar[str] = "ledger.distribution"
    complete: RecordId
    job: RecordId
    job_log: Did
    workshop: str
    policy: RecordId
    policy_version: int
    total: Money
    designers: tuple[Designer, ...]
    parts: tuple[Part, ...]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        check_keys(
            data,
            (
                "complete",
                "job",
                "job_log",
                "workshop",
                "policy",
                "policy_version",
                "total",
                "designers",
                "parts",
            ),
        )
        workshop = slug_field(data, "workshop")
        designers = _bounded_list(data, "designers", MAX_DESIGNERS_IN_BODY)
        parts = _bounded_list(data, "parts", MAX_PARTS)
        return cls(
            complete=record_id_field(data, "complete"),
            job=record_id_field(data, "job"),
            job_log=did_field(data, "job_log"),
            workshop=workshop,
            policy=record_id_field(data, "policy"),
            policy_version=int_field(data, "policy_version", minimum=1, maximum=MAX_SAFE_INTEGER),
            total=Money.from_dict(data, "total"),
            designers=tuple(Designer.from_dict(d, i) for i, d in enumerate(designers)),
            parts=tuple(_part_from_dict(p, i) for i, p in enumerate(parts)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "complete": self.complete,
            "job": self.job,
            "job_log": self.job_log,
            "workshop": self.workshop,
            "policy": self.policy,
            "policy_version": self.policy_version,
            "total": self.total.to_dict(),
            "designers": [d.to_dict() for d in self.designers],
            "parts": [p.to_dict() for p in self.parts],
        }


# -- the ledger's part of a log's authority state (specs/07-ledger.md §5) -----------------------


def ledger_state(state: LogAuthority) -> dict[str, Any]:
    """The ledger's JSON state in `state.extensions` (created empty on first use).

    {"policy": <id of the policy in force> | null, "policies": {id: policy dict},
     "pending": {job.complete id: {"policy", "job", "job_log", "workshop", "paid"}}}
    """
    ledger: dict[str, Any] = state.extensions.setdefault(
        _STATE_KEY, {"policy": None, "policies": {}, "pending": {}}
    )
    return ledger


def policy_in_force(state: LogAuthority) -> tuple[RecordId, Policy] | None:
    """The policy in force at this position of the log, with its record id."""
    ledger = state.extensions.get(_STATE_KEY)
    if not ledger or ledger["policy"] is None:
        return None
    pid = ledger["policy"]
    return RecordId(pid), Policy.from_dict(ledger["policies"][pid])


def _workshop_owner_identity(state: LogAuthority, key: Did) -> Did | None:
    """The identity a workshop owner's key speaks for, if it owns a live workshop here.

    Workshops are the capacity package's state (registry/capacity.py:
    {"workshops": {slug: {"owners": [key did], "retired": bool}}}); it is read
    defensively so that the ledger's rules never fail on its shape.
    """
    capacity = state.extensions.get("capacity")
    workshops = capacity.get("workshops") if isinstance(capacity, dict) else None
    if not isinstance(workshops, dict):
        return None
    for workshop in workshops.values():
        if not isinstance(workshop, dict) or workshop.get("retired"):
            continue
        owners = workshop.get("owners")
        if isinstance(owners, list) and key in owners:
            return state.identity(key)
    return None


def _agent_identity(state: LogAuthority, record: Record) -> Did:
    """The identity of a member or workshop-owner key of this log. Raises Unauthorised."""
    owner = _workshop_owner_identity(state, record.author)
    if owner is not None:
        return owner
    return state.require_member(record)


def _check_contribution(state: LogAuthority, record: Record, body: LedgerContribution) -> None:
    identity = _agent_identity(state, record)
    if body.provider != identity:
        raise Unauthorised("a contribution must be signed by its provider")


def _check_confirm(state: LogAuthority, record: Record, body: LedgerConfirm) -> None:
    if record.author == state.node:
        return
    _agent_identity(state, record)


def _adopted(state: LogAuthority, decision: str) -> dict[str, Any]:
    governance = state.extensions.get("governance")
    adopted = governance.get("adopted") if isinstance(governance, dict) else None
    entry = adopted.get(decision) if isinstance(adopted, dict) else None
    if not isinstance(entry, dict):
        raise Unauthorised(f"{decision} is not an adopted decision of this log")
    return entry


def _check_policy(state: LogAuthority, record: Record, body: LedgerPolicy) -> None:
    state.require_node(record)
    entry = _adopted(state, body.decision)
    if entry.get("executed"):
        raise Unauthorised(f"decision {body.decision} has been executed already")
    action = entry.get("action")
    expected = {"kind": "ledger.policy", "params": {"policy": body.policy.to_dict()}}
    # Compared canonically: 1 and true are equal in Python, not in JCS.
    if not isinstance(action, dict) or not canonical_equal(action, expected):
        raise Unauthorised("the policy is not exactly the one the decision adopted")
    current = policy_in_force(state)
    if current is not None and body.policy.version <= current[1].version:
        raise Unauthorised(
            f"policy version {body.policy.version} does not follow version {current[1].version}"
        )


def _apply_policy(state: LogAuthority, record: Record, body: LedgerPolicy) -> None:
    ledger = ledger_state(state)
    pid = record_id(record)
    ledger["policies"][pid] = body.policy.to_dict()
    ledger["policy"] = pid
    _adopted(state, body.decision)["executed"] = True


def _observe_complete(state: LogAuthority, record: Record, body: Any) -> None:
    """Note a job.complete that the policy in force will share (specs/07-ledger.md §5.2)."""
    current = policy_in_force(state)
    if current is None:
        return
    raw = record.body
    paid = raw.get("paid")
    if not isinstance(paid, Mapping):
        return
    amount, currency = paid.get("amount"), paid.get("currency")
    if type(amount) is not int or not 0 <= amount <= MAX_SAFE_INTEGER:
        return
    if not isinstance(currency, str) or not current[1].accepts(currency):
        return
    job, job_log, workshop = raw.get("job"), raw.get("job_log"), raw.get("workshop")
    if not all(isinstance(v, str) for v in (job, job_log, workshop)):
        return
    ledger_state(state)["pending"][record_id(record)] = {
        "policy": current[0],
        "job": job,
        "job_log": job_log,
        "workshop": workshop,
        "paid": {"amount": amount, "currency": currency},
    }


def _check_distribution(state: LogAuthority, record: Record, body: LedgerDistribution) -> None:
    state.require_node(record)
    ledger = state.extensions.get(_STATE_KEY) or {}
    pending = ledger.get("pending", {}).get(body.complete)
    if pending is None:
        raise Unauthorised(
            f"{body.complete} is not a job.complete of this log awaiting its distribution"
        )
    if body.policy != pending["policy"]:
        raise Unauthorised("the distribution does not use the policy in force at completion")
    policy = Policy.from_dict(ledger["policies"][body.policy])
    if body.policy_version != policy.version:
        raise Unauthorised("policy_version is not the version of the policy")
    if (body.job, body.job_log, body.workshop) != (
        pending["job"],
        pending["job_log"],
        pending["workshop"],
    ) or body.total.to_dict() != pending["paid"]:
        raise Unauthorised("the distribution does not describe its job.complete")
    try:
        expected = distribute(
            policy, body.total.amount, workshop=state.node, designers=body.designers
        )
    except DistributionInputError as exc:
        raise Unauthorised(f"the derivation chain cannot be shared: {exc}") from exc
    if tuple(body.parts) != expected:
        raise Unauthorised("the parts are not the policy's split of the total")


def _apply_distribution(state: LogAuthority, record: Record, body: LedgerDistribution) -> None:
    del ledger_state(state)["pending"][body.complete]


def _validate_policy_action(params: Mapping[str, Any]) -> None:
    """The params of a `ledger.policy` proposal action: {"policy": <policy without decision>}."""
    check_keys(params, ("policy",))
    policy = params["policy"]
    if not isinstance(policy, Mapping):
        raise InvalidRecord("body.policy", "must be an object")
    try:
        Policy.from_dict(policy)
    except InvalidRecord as exc:
        raise _nested(exc, "policy") from exc


register_action_kind("ledger.policy", _validate_policy_action, replace=True)
register_rule(LedgerContribution.TYPE, _check_contribution)
register_rule(LedgerConfirm.TYPE, _check_confirm)
register_rule(LedgerPolicy.TYPE, _check_policy, _apply_policy)
register_rule(LedgerDistribution.TYPE, _check_distribution, _apply_distribution)
register_observer("job.complete", _observe_complete)

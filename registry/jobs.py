"""The `job.*` records, their authorisation rules, and the job state machine (issue 6).

specs/05-capacity-and-jobs.md §5–§7. A job lives in two kinds of log. The
requester's log (the job's log) holds `job.request` (a member), then the
node's `job.offer`s (one live offer at a time), `job.assign` and
`job.cancel`: it decides which workshop has the job. The workshop's log
holds the owner-signed `job.accept` / `job.decline`, `job.status` and
`job.complete`: it decides how the work goes. Each log's rules enforce its
half of the state machine at every position; `job_view` joins the halves
into one deterministic view, and `decide` says what the requester's node
does next. Nothing here reads the clock: `now` is a parameter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Self

from protocol.authority import LogAuthority, register_rule
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
from protocol.records import (
    Record,
    RecordBody,
    RecordId,
    format_time,
    parse_time,
    register_record_type,
)
from protocol.signing import record_id
from registry.capacity import require_owner
from registry.capacity_fields import (
    Money,
    Place,
    decimal3_field,
    epoch_us,
    slug_field,
    time_field,
)

__all__ = [
    "ANSWER_TYPES",
    "JOB_STATES",
    "OUTCOMES",
    "REQUESTER_TYPES",
    "STATUSES",
    "TERMINAL_STATES",
    "WORKSHOP_TRANSITIONS",
    "Estimate",
    "JobAccept",
    "JobAssign",
    "JobCancel",
    "JobComplete",
    "JobDecline",
    "JobEvent",
    "JobOffer",
    "JobRequest",
    "JobStatus",
    "JobView",
    "OfferState",
    "Previous",
    "Step",
    "decide",
    "job_view",
    "respond_by",
]

EXTENSION = "jobs"
MAX_OFFERS_PER_JOB = 100
MAX_QUANTITY = 100_000
MAX_RESPONSE_WINDOW_S = 30 * 86_400
_SHA256_RE = re.compile(r"[0-9a-f]{64}")

STATUSES = ("in_production", "shipped", "delivered", "failed", "cancelled")
OUTCOMES = ("declined", "lapsed", "unreachable")
# specs/05-capacity-and-jobs.md §6.2: what the workshop may say after each state.
WORKSHOP_TRANSITIONS: dict[str, frozenset[str]] = {
    "accepted": frozenset({"in_production", "failed", "cancelled"}),
    "in_production": frozenset({"shipped", "failed", "cancelled"}),
    "shipped": frozenset({"delivered", "failed"}),
    "delivered": frozenset({"completed"}),
}
JOB_STATES = (
    "requested",
    "offered",
    "accepted",
    "in_production",
    "shipped",
    "delivered",
    "completed",
    "failed",
    "cancelled",
    "unknown",
)
TERMINAL_STATES = frozenset({"completed", "failed", "cancelled"})
ASSIGNED_STATES = frozenset({"accepted", "in_production", "shipped", "delivered"})


def _sha256_field(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not _SHA256_RE.fullmatch(value):
        raise InvalidRecord(f"body.{key}", "must be 64 lowercase hex digits (SHA-256)")
    return value


def _money(data: Mapping[str, Any], key: str) -> Money:
    return Money.from_dict(data.get(key), f"body.{key}")


# -- records of the job's log ------------------------------------------------------------------


@register_record_type
@dataclass(frozen=True, slots=True, kw_only=True)
class JobRequest:
    """job.request: a member asks for a part to be made. The job's id is this record's id."""

    TYPE: ClassVar[str] = "job.request"
    design: RecordId
    design_log: Did
    file: str
    quantity: int
    process: str
    material: str
    deliver_to: Place
    deadline: str
    budget: Money
    response_window_s: int
    note: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        check_keys(
            data,
            (
                "design",
                "design_log",
                "file",
                "quantity",
                "process",
                "material",
                "deliver_to",
                "deadline",
                "budget",
                "response_window_s",
            ),
            ("note",),
        )
        return cls(
            design=record_id_field(data, "design"),
            design_log=did_field(data, "design_log"),
            file=_sha256_field(data, "file"),
            quantity=int_field(data, "quantity", minimum=1, maximum=MAX_QUANTITY),
            process=slug_field(data, "process"),
            material=slug_field(data, "material"),
            deliver_to=Place.from_dict(data.get("deliver_to"), "body.deliver_to"),
            deadline=time_field(data, "deadline"),
            budget=_money(data, "budget"),
            response_window_s=int_field(
                data, "response_window_s", minimum=1, maximum=MAX_RESPONSE_WINDOW_S
            ),
            note=optional_str(data, "note", max_len=2000),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "design": self.design,
            "design_log": self.design_log,
            "file": self.file,
            "quantity": self.quantity,
            "process": self.process,
            "material": self.material,
            "deliver_to": self.deliver_to.to_dict(),
            "deadline": self.deadline,
            "budget": self.budget.to_dict(),
            "response_window_s": self.response_window_s,
        }
        if self.note is not None:
            out["note"] = self.note
        return out

    @property
    def deadline_us(self) -> int:
        return epoch_us(parse_time(self.deadline))


@dataclass(frozen=True, slots=True, kw_only=True)
class Estimate:
    """What routing estimated for an offer: price, machine hours, distance, completion."""

    price: Money
    hours: str
    distance_m: int
    completion: str

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        if not isinstance(data, Mapping):
            raise InvalidRecord("body.estimate", "must be an object")
        check_keys(data, ("price", "hours", "distance_m", "completion"))
        return cls(
            price=Money.from_dict(data.get("price"), "body.estimate.price"),
            hours=decimal3_field(data, "hours", positive=False, path="body.estimate"),
            distance_m=int_field(data, "distance_m", minimum=0, maximum=21_000_000),
            completion=time_field(data, "completion", path="body.estimate"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "price": self.price.to_dict(),
            "hours": self.hours,
            "distance_m": self.distance_m,
            "completion": self.completion,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Previous:
    """Why the job moved on from its previous offer."""

    offer: RecordId
    outcome: str
    answer: RecordId | None = None

    def __post_init__(self) -> None:
        if (self.outcome == "declined") != (self.answer is not None):
            raise InvalidRecord("body.previous.answer", "is given exactly when outcome is declined")

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        if not isinstance(data, Mapping):
            raise InvalidRecord("body.previous", "must be an object")
        check_keys(data, ("offer", "outcome"), ("answer",))
        return cls(
            offer=record_id_field(data, "offer"),
            outcome=enum_field(data, "outcome", OUTCOMES),
            answer=optional_record_id(data, "answer"),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"offer": self.offer, "outcome": self.outcome}
        if self.answer is not None:
            out["answer"] = self.answer
        return out


@register_record_type
@dataclass(frozen=True, slots=True, kw_only=True)
class JobOffer:
    """job.offer: the requester's node offers the job to one workshop's offer."""

    TYPE: ClassVar[str] = "job.offer"
    job: RecordId
    workshop_log: Did
    workshop: str
    machine: str
    offer: RecordId
    estimate: Estimate
    rank: int
    respond_by: str
    previous: Previous | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        check_keys(
            data,
            (
                "job",
                "workshop_log",
                "workshop",
                "machine",
                "offer",
                "estimate",
                "rank",
                "respond_by",
            ),
            ("previous",),
        )
        return cls(
            job=record_id_field(data, "job"),
            workshop_log=did_field(data, "workshop_log"),
            workshop=slug_field(data, "workshop"),
            machine=slug_field(data, "machine"),
            offer=record_id_field(data, "offer"),
            estimate=Estimate.from_dict(data.get("estimate")),
            rank=int_field(data, "rank", minimum=1, maximum=1_000_000),
            respond_by=time_field(data, "respond_by"),
            previous=Previous.from_dict(data["previous"]) if "previous" in data else None,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "job": self.job,
            "workshop_log": self.workshop_log,
            "workshop": self.workshop,
            "machine": self.machine,
            "offer": self.offer,
            "estimate": self.estimate.to_dict(),
            "rank": self.rank,
            "respond_by": self.respond_by,
        }
        if self.previous is not None:
            out["previous"] = self.previous.to_dict()
        return out


@register_record_type
@dataclass(frozen=True, slots=True, kw_only=True)
class JobAssign:
    """job.assign: the requester's node gives the job to the workshop that accepted its offer."""

    TYPE: ClassVar[str] = "job.assign"
    job: RecordId
    offer: RecordId
    accept: RecordId
    workshop_log: Did
    workshop: str

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        check_keys(data, ("job", "offer", "accept", "workshop_log", "workshop"))
        return cls(
            job=record_id_field(data, "job"),
            offer=record_id_field(data, "offer"),
            accept=record_id_field(data, "accept"),
            workshop_log=did_field(data, "workshop_log"),
            workshop=slug_field(data, "workshop"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "offer": self.offer,
            "accept": self.accept,
            "workshop_log": self.workshop_log,
            "workshop": self.workshop,
        }


@register_record_type
@dataclass(frozen=True, slots=True, kw_only=True)
class JobCancel:
    """job.cancel: the requester (or its node) cancels; after assignment, asks the workshop to.

    `previous`, when the node cancels because the live offer came to nothing
    and no candidate is left, says what became of that offer.
    """

    TYPE: ClassVar[str] = "job.cancel"
    job: RecordId
    reason: str
    previous: Previous | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        check_keys(data, ("job", "reason"), ("previous",))
        return cls(
            job=record_id_field(data, "job"),
            reason=str_field(data, "reason", max_len=2000),
            previous=Previous.from_dict(data["previous"]) if "previous" in data else None,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"job": self.job, "reason": self.reason}
        if self.previous is not None:
            out["previous"] = self.previous.to_dict()
        return out


# -- records of the workshop's log ---------------------------------------------------------------


def _answer_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "job": record_id_field(data, "job"),
        "job_log": did_field(data, "job_log"),
        "workshop": slug_field(data, "workshop"),
    }


@register_record_type
@dataclass(frozen=True, slots=True, kw_only=True)
class JobAccept:
    """job.accept: a workshop owner commits the workshop to an offered job."""

    TYPE: ClassVar[str] = "job.accept"
    job: RecordId
    job_log: Did
    workshop: str
    offer: RecordId
    note: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        check_keys(data, ("job", "job_log", "workshop", "offer"), ("note",))
        return cls(
            **_answer_fields(data),
            offer=record_id_field(data, "offer"),
            note=optional_str(data, "note", max_len=2000),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "job": self.job,
            "job_log": self.job_log,
            "workshop": self.workshop,
            "offer": self.offer,
        }
        if self.note is not None:
            out["note"] = self.note
        return out


@register_record_type
@dataclass(frozen=True, slots=True, kw_only=True)
class JobDecline:
    """job.decline: a workshop owner turns an offered job down."""

    TYPE: ClassVar[str] = "job.decline"
    job: RecordId
    job_log: Did
    workshop: str
    offer: RecordId
    reason: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        check_keys(data, ("job", "job_log", "workshop", "offer"), ("reason",))
        return cls(
            **_answer_fields(data),
            offer=record_id_field(data, "offer"),
            reason=optional_str(data, "reason", max_len=2000),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "job": self.job,
            "job_log": self.job_log,
            "workshop": self.workshop,
            "offer": self.offer,
        }
        if self.reason is not None:
            out["reason"] = self.reason
        return out


@register_record_type
@dataclass(frozen=True, slots=True, kw_only=True)
class JobStatus:
    """job.status: the workshop reports progress (or failure, or cancellation)."""

    TYPE: ClassVar[str] = "job.status"
    job: RecordId
    job_log: Did
    workshop: str
    status: str
    note: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        check_keys(data, ("job", "job_log", "workshop", "status"), ("note",))
        return cls(
            **_answer_fields(data),
            status=enum_field(data, "status", STATUSES),
            note=optional_str(data, "note", max_len=2000),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "job": self.job,
            "job_log": self.job_log,
            "workshop": self.workshop,
            "status": self.status,
        }
        if self.note is not None:
            out["note"] = self.note
        return out


@register_record_type
@dataclass(frozen=True, slots=True, kw_only=True)
class JobComplete:
    """job.complete: the workshop closes a delivered job with the amount it was paid."""

    TYPE: ClassVar[str] = "job.complete"
    job: RecordId
    job_log: Did
    workshop: str
    paid: Money
    note: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        check_keys(data, ("job", "job_log", "workshop", "paid"), ("note",))
        return cls(
            **_answer_fields(data),
            paid=_money(data, "paid"),
            note=optional_str(data, "note", max_len=2000),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "job": self.job,
            "job_log": self.job_log,
            "workshop": self.workshop,
            "paid": self.paid.to_dict(),
        }
        if self.note is not None:
            out["note"] = self.note
        return out


REQUESTER_TYPES = frozenset({JobRequest.TYPE, JobOffer.TYPE, JobAssign.TYPE, JobCancel.TYPE})
ANSWER_TYPES = frozenset({JobAccept.TYPE, JobDecline.TYPE, JobStatus.TYPE, JobComplete.TYPE})


def respond_by(offer_created: str, window_s: int) -> str:
    """specs/05-capacity-and-jobs.md §5.2: an offer's answer is due window_s after it is made."""
    return format_time(parse_time(offer_created) + timedelta(seconds=window_s))


# -- authorisation (specs/05-capacity-and-jobs.md §6) ------------------------------------------
# State: {"requests": {job: {"requester", "window", "state", "cancel_requested", "last",
#         "last_workshop", "respond_by", "offered": ["<log> <slug>", ...]}},
#         "answers": {"<job> <slug>": "<workshop-side state>"}}


def _jobs(state: LogAuthority) -> dict[str, Any]:
    ext: dict[str, Any] = state.extensions.setdefault(EXTENSION, {"requests": {}, "answers": {}})
    return ext


def _peek(state: LogAuthority) -> dict[str, Any]:
    ext = state.extensions.get(EXTENSION)
    return ext if ext is not None else {"requests": {}, "answers": {}}


def _open_request(state: LogAuthority, job: str) -> dict[str, Any]:
    request: dict[str, Any] | None = _peek(state)["requests"].get(job)
    if request is None:
        raise Unauthorised(f"no job.request {job} in this log")
    if request["state"] != "open":
        raise Unauthorised(f"job {job} is {request['state']}")
    return request


def _check_request(state: LogAuthority, record: Record, body: JobRequest) -> None:
    state.require_member(record)


def _apply_request(state: LogAuthority, record: Record, body: JobRequest) -> None:
    _jobs(state)["requests"][record_id(record)] = {
        "requester": state.identity(record.author),
        "window": body.response_window_s,
        "state": "open",
        "cancel_requested": False,
        "last": None,
        "last_workshop": None,
        "respond_by": None,
        "offered": [],
    }


def _check_offer(state: LogAuthority, record: Record, body: JobOffer) -> None:
    state.require_node(record)
    request = _open_request(state, body.job)
    target = f"{body.workshop_log} {body.workshop}"
    if target in request["offered"]:
        raise Unauthorised(f"job {body.job} was offered to {target} already")
    if len(request["offered"]) >= MAX_OFFERS_PER_JOB:
        raise Unauthorised(f"job {body.job} has had {MAX_OFFERS_PER_JOB} offers")
    if body.rank != len(request["offered"]) + 1:
        raise Unauthorised(
            f"this is offer {len(request['offered']) + 1} of the job, not {body.rank}"
        )
    if body.respond_by != respond_by(record.created, request["window"]):
        raise Unauthorised("respond_by must be the offer's time plus the request's window")
    _check_previous(request, record, body.previous, required=True)


def _check_previous(
    request: dict[str, Any], record: Record, previous: Previous | None, *, required: bool
) -> None:
    """A record that moves on from the live offer names it, and only a lapsed one as lapsed."""
    if previous is None:
        if required and request["last"] is not None:
            raise Unauthorised("a new offer must name the job's live offer as previous")
        return
    if request["last"] is None:
        raise Unauthorised("the first offer of a job has no previous offer")
    if request["state"] != "open" or previous.offer != request["last"]:
        raise Unauthorised("previous must name the job's live offer")
    if previous.outcome == "lapsed" and record.created_at < parse_time(request["respond_by"]):
        raise Unauthorised("the previous offer has not lapsed yet")


def _apply_offer(state: LogAuthority, record: Record, body: JobOffer) -> None:
    request = _jobs(state)["requests"][body.job]
    request["last"] = record_id(record)
    request["last_workshop"] = f"{body.workshop_log} {body.workshop}"
    request["respond_by"] = body.respond_by
    request["offered"].append(request["last_workshop"])


def _check_assign(state: LogAuthority, record: Record, body: JobAssign) -> None:
    state.require_node(record)
    request = _open_request(state, body.job)
    if request["last"] != body.offer:
        raise Unauthorised("only the job's live offer can be assigned")
    if request["last_workshop"] != f"{body.workshop_log} {body.workshop}":
        raise Unauthorised("job.assign names another workshop than the live offer")


def _apply_assign(state: LogAuthority, record: Record, body: JobAssign) -> None:
    _jobs(state)["requests"][body.job]["state"] = "assigned"


def _check_cancel(state: LogAuthority, record: Record, body: JobCancel) -> None:
    request: dict[str, Any] | None = _peek(state)["requests"].get(body.job)
    if request is None:
        raise Unauthorised(f"no job.request {body.job} in this log")
    if record.author != state.node and state.require_member(record) != request["requester"]:
        raise Unauthorised("only the requester or the node may cancel a job")
    if request["state"] == "cancelled" or request["cancel_requested"]:
        raise Unauthorised(f"job {body.job} is cancelled already")
    _check_previous(request, record, body.previous, required=False)


def _apply_cancel(state: LogAuthority, record: Record, body: JobCancel) -> None:
    request = _jobs(state)["requests"][body.job]
    if request["state"] == "open":
        request["state"] = "cancelled"
    else:
        request["cancel_requested"] = True


def _check_answer(state: LogAuthority, record: Record, body: JobAccept | JobDecline) -> None:
    require_owner(state, record, body.workshop, active=isinstance(body, JobAccept))
    if f"{body.job} {body.workshop}" in _peek(state)["answers"]:
        raise Unauthorised(f"workshop {body.workshop!r} has answered job {body.job} already")
    if body.job_log == state.node:
        # The job is this log's own: the offer can be checked here and now.
        request = _open_request(state, body.job)
        if request["last"] != body.offer or request["last_workshop"] != (
            f"{state.node} {body.workshop}"
        ):
            raise Unauthorised("the offer answered is not the job's live offer to this workshop")


def _apply_accept(state: LogAuthority, record: Record, body: JobAccept) -> None:
    _jobs(state)["answers"][f"{body.job} {body.workshop}"] = "accepted"


def _apply_decline(state: LogAuthority, record: Record, body: JobDecline) -> None:
    _jobs(state)["answers"][f"{body.job} {body.workshop}"] = "declined"


def _check_status(state: LogAuthority, record: Record, body: JobStatus) -> None:
    require_owner(state, record, body.workshop, active=False)
    current = _peek(state)["answers"].get(f"{body.job} {body.workshop}")
    allowed = WORKSHOP_TRANSITIONS.get(current or "", frozenset())
    if body.status not in allowed:
        was = current or "unanswered"
        raise Unauthorised(f"job {body.job} cannot go from {was} to {body.status}")


def _apply_status(state: LogAuthority, record: Record, body: JobStatus) -> None:
    _jobs(state)["answers"][f"{body.job} {body.workshop}"] = body.status


def _check_complete(state: LogAuthority, record: Record, body: JobComplete) -> None:
    require_owner(state, record, body.workshop, active=False)
    current = _peek(state)["answers"].get(f"{body.job} {body.workshop}")
    if current != "delivered":
        raise Unauthorised(f"job {body.job} is {current or 'unanswered'}, not delivered")


def _apply_complete(state: LogAuthority, record: Record, body: JobComplete) -> None:
    _jobs(state)["answers"][f"{body.job} {body.workshop}"] = "completed"


register_rule(JobRequest.TYPE, _check_request, _apply_request)
register_rule(JobOffer.TYPE, _check_offer, _apply_offer)
register_rule(JobAssign.TYPE, _check_assign, _apply_assign)
register_rule(JobCancel.TYPE, _check_cancel, _apply_cancel)
register_rule(JobAccept.TYPE, _check_answer, _apply_accept)
register_rule(JobDecline.TYPE, _check_answer, _apply_decline)
register_rule(JobStatus.TYPE, _check_status, _apply_status)
register_rule(JobComplete.TYPE, _check_complete, _apply_complete)


# -- the joined view (specs/05-capacity-and-jobs.md §7) -----------------------------------------


@dataclass(frozen=True, slots=True)
class JobEvent:
    """One verified job.* entry of some log, as the view needs it."""

    log: Did
    index: int
    record_id: RecordId
    type: str
    author: Did
    created: str
    body: RecordBody


@dataclass(frozen=True, slots=True)
class OfferState:
    """One job.offer and what became of it."""

    record_id: RecordId
    index: int
    created: str
    body: JobOffer
    outcome: str  # pending, accepted, declined, lapsed, unreachable, assigned, withdrawn
    answer: RecordId | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.record_id,
            "index": self.index,
            "created": self.created,
            "workshop_log": self.body.workshop_log,
            "workshop": self.body.workshop,
            "machine": self.body.machine,
            "offer": self.body.offer,
            "rank": self.body.rank,
            "estimate": self.body.estimate.to_dict(),
            "respond_by": self.body.respond_by,
            "outcome": self.outcome,
            "answer": self.answer,
        }


@dataclass(frozen=True, slots=True)
class HistoryItem:
    event: JobEvent
    counted: bool

    def to_dict(self) -> dict[str, Any]:
        e = self.event
        return {
            "log": e.log,
            "index": e.index,
            "id": e.record_id,
            "type": e.type,
            "author": e.author,
            "created": e.created,
            "counted": self.counted,
            "body": e.body.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class JobView:
    """A job's current state and full history, from every log that speaks about it."""

    job: RecordId
    job_log: Did | None
    requester: Did | None
    request: JobRequest | None
    state: str
    offers: tuple[OfferState, ...]
    assigned: OfferState | None
    accept: RecordId | None
    cancel_requested: bool
    cancel_reason: str | None
    paid: Money | None
    history: tuple[HistoryItem, ...]

    @property
    def live_offer(self) -> OfferState | None:
        """The offer awaiting an answer or an assignment, if any."""
        if self.state == "offered" and self.offers:
            return self.offers[-1]
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.job,
            "log": self.job_log,
            "requester": self.requester,
            "request": None if self.request is None else self.request.to_dict(),
            "state": self.state,
            "terminal": self.state in TERMINAL_STATES,
            "workshop": None
            if self.assigned is None
            else {"log": self.assigned.body.workshop_log, "workshop": self.assigned.body.workshop},
            "accept": self.accept,
            "cancel_requested": self.cancel_requested,
            "cancel_reason": self.cancel_reason,
            "paid": None if self.paid is None else self.paid.to_dict(),
            "offers": [o.to_dict() for o in self.offers],
            "history": [h.to_dict() for h in self.history],
        }


def _history(events: Iterable[JobEvent], counted: set[RecordId]) -> tuple[HistoryItem, ...]:
    # By time (not by the text: "…:00Z" sorts after "…:00.5Z"), then log and position.
    ordered = sorted(events, key=lambda e: (epoch_us(parse_time(e.created)), e.log, e.index))
    return tuple(HistoryItem(e, e.record_id in counted) for e in ordered)


def job_view(job: RecordId, events: Iterable[JobEvent], job_log: Did | None = None) -> JobView:
    """Join a job's entries from every log into its state (specs/05-capacity-and-jobs.md §7).

    A job is its request's record id in the log that holds the request
    (`job_log`; if None, the first log by did that holds it). Deterministic:
    the same set of entries gives the same view, whatever order they come
    in. Entries that do not count (an answer to an offer the job moved on
    from, a status from a workshop not assigned) stay in the history, marked.
    """
    events = [e for e in events if getattr(e.body, "job", None) == job or e.record_id == job]
    requests = sorted(
        (
            e
            for e in events
            if e.type == JobRequest.TYPE
            and e.record_id == job
            and (job_log is None or e.log == job_log)
        ),
        key=lambda e: (e.log, e.index),
    )
    if not requests:
        return JobView(
            job=job,
            job_log=job_log,
            requester=None,
            request=None,
            state="unknown",
            offers=(),
            assigned=None,
            accept=None,
            cancel_requested=False,
            cancel_reason=None,
            paid=None,
            history=_history(events, set()),
        )
    request_event = requests[0]
    job_log = request_event.log
    events = [e for e in events if e.log == job_log or getattr(e.body, "job_log", None) == job_log]
    request = request_event.body
    assert isinstance(request, JobRequest)
    counted: set[RecordId] = {request_event.record_id}
    spine = sorted(
        (e for e in events if e.log == job_log and e.type in REQUESTER_TYPES - {JobRequest.TYPE}),
        key=lambda e: e.index,
    )
    answers: dict[tuple[Did, str], list[JobEvent]] = {}
    for e in sorted(events, key=lambda e: (e.log, e.index)):
        if e.type in ANSWER_TYPES and getattr(e.body, "job_log", None) == job_log:
            answers.setdefault((e.log, e.body.workshop), []).append(e)  # type: ignore[attr-defined]

    offers: list[OfferState] = []
    assigned_index: int | None = None
    accept_id: RecordId | None = None
    cancelled_before: JobEvent | None = None
    cancel_request: JobEvent | None = None
    for e in spine:
        body = e.body
        if isinstance(body, JobOffer) and cancelled_before is None and assigned_index is None:
            if offers and body.previous is not None and body.previous.offer == offers[-1].record_id:
                last = offers[-1]
                offers[-1] = OfferState(
                    last.record_id,
                    last.index,
                    last.created,
                    last.body,
                    body.previous.outcome,
                    body.previous.answer,
                )
                if body.previous.answer is not None:
                    counted.add(body.previous.answer)
            offers.append(OfferState(e.record_id, e.index, e.created, body, "pending", None))
            counted.add(e.record_id)
        elif isinstance(body, JobAssign) and cancelled_before is None and assigned_index is None:
            if offers and offers[-1].record_id == body.offer:
                assigned_index = len(offers) - 1
                accept_id = body.accept
                counted.add(e.record_id)
        elif isinstance(body, JobCancel):
            if assigned_index is None and cancelled_before is None:
                cancelled_before = e
                counted.add(e.record_id)
                previous = body.previous
                if offers and previous is not None and previous.offer == offers[-1].record_id:
                    last = offers[-1]
                    offers[-1] = OfferState(
                        last.record_id,
                        last.index,
                        last.created,
                        last.body,
                        previous.outcome,
                        previous.answer,
                    )
                    if previous.answer is not None:
                        counted.add(previous.answer)
            elif assigned_index is not None and cancel_request is None:
                cancel_request = e
                counted.add(e.record_id)

    # The live (last) offer's answer comes from its workshop's log; cancelling the job
    # withdrew an offer still open.
    if offers and offers[-1].outcome == "pending" and cancelled_before is not None:
        last = offers[-1]
        offers[-1] = OfferState(
            last.record_id, last.index, last.created, last.body, "withdrawn", None
        )
    if offers and offers[-1].outcome == "pending":
        last = offers[-1]
        for a in answers.get((last.body.workshop_log, last.body.workshop), []):
            if isinstance(a.body, JobAccept | JobDecline) and a.body.offer == last.record_id:
                outcome = "accepted" if isinstance(a.body, JobAccept) else "declined"
                offers[-1] = OfferState(
                    last.record_id, last.index, last.created, last.body, outcome, a.record_id
                )
                counted.add(a.record_id)
                break

    paid: Money | None = None
    cancel_reason: str | None = None
    assigned: OfferState | None = None
    if cancelled_before is not None:
        state = "cancelled"
        assert isinstance(cancelled_before.body, JobCancel)
        cancel_reason = cancelled_before.body.reason
    elif assigned_index is not None:
        base = offers[assigned_index]
        assigned = OfferState(
            base.record_id, base.index, base.created, base.body, "assigned", accept_id
        )
        offers[assigned_index] = assigned
        state = "accepted"
        following = False
        for a in answers.get((base.body.workshop_log, base.body.workshop), []):
            if a.record_id == accept_id and isinstance(a.body, JobAccept):
                following = True
                counted.add(a.record_id)
                continue
            if not following:
                continue
            if isinstance(a.body, JobStatus):
                state = a.body.status
                counted.add(a.record_id)
            elif isinstance(a.body, JobComplete):
                state = "completed"
                paid = a.body.paid
                counted.add(a.record_id)
        if cancel_request is not None:
            assert isinstance(cancel_request.body, JobCancel)
            cancel_reason = cancel_request.body.reason
    elif offers:
        state = "requested" if offers[-1].outcome == "declined" else "offered"
    else:
        state = "requested"
    return JobView(
        job=job,
        job_log=job_log,
        requester=request_event.author,
        request=request,
        state=state,
        offers=tuple(offers),
        assigned=assigned,
        accept=accept_id,
        cancel_requested=cancel_request is not None,
        cancel_reason=cancel_reason,
        paid=paid,
        history=_history(events, counted),
    )


# -- what the requester's node does next (specs/05-capacity-and-jobs.md §10) ---------------------


@dataclass(frozen=True, slots=True)
class Step:
    """The requester's node's next move for one job.

    action: "none" (nothing to do, ever or for now), "wait" (until `until_us`),
    "assign" (the live offer was accepted), "route" (offer the job to the next
    candidate, naming `previous`), "cancel" (with `reason`).
    """

    action: str
    previous: Previous | None = None
    until_us: int | None = None
    reason: str | None = None


def decide(view: JobView, now: datetime, *, reachable: bool = True) -> Step:
    """The requester's node's next step for a job of its own log.

    `reachable` says whether the node of the live offer's workshop answers.
    """
    if view.request is None or view.state in TERMINAL_STATES or view.state in ASSIGNED_STATES:
        return Step("none")
    now_us = epoch_us(now)
    if now_us >= view.request.deadline_us:
        return Step("cancel", reason="the deadline passed before a workshop took the job")
    if view.state == "requested":
        if not view.offers:
            return Step("route")
        last = view.offers[-1]
        previous = Previous(offer=last.record_id, outcome="declined", answer=last.answer)
        return Step("route", previous=previous)
    last = view.offers[-1]
    if last.outcome == "accepted":
        return Step("assign")
    due = epoch_us(parse_time(last.body.respond_by))
    if now_us >= due:
        return Step("route", previous=Previous(offer=last.record_id, outcome="lapsed"))
    if not reachable:
        return Step("route", previous=Previous(offer=last.record_id, outcome="unreachable"))
    return Step("wait", until_us=due)

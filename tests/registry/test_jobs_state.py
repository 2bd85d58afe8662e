"""The job protocol's state machine: each log's half enforced at every position, and the view.

Two logs: A (the requester's node NA and its member M) and C (node NC with
workshop "c1" owned by OC). Records are replayed through LogReplay, so a
refusal here is what makes a log invalid in sync. Expected transitions are
written out by hand below, not taken from registry/jobs.py.
"""

from __future__ import annotations

import itertools
import random
from datetime import timedelta
from typing import Any

import pytest
from jobkit import T0, Log, at, key, machine_body, request_body, workshop_body

from protocol.errors import Unauthorised
from protocol.records import format_time
from registry.jobs import JobEvent, decide, job_view

NA, NC, M, OC, STRANGER = (key(n) for n in ("node A", "node C", "member M", "owner OC", "x"))
OFFER_ID = "sha256:" + "0" * 64  # the capacity offer's record id (not checked in A's log)


def estimate() -> dict[str, Any]:
    return {
        "price": {"amount": 1234, "currency": "EUR"},
        "hours": "1.500",
        "distance_m": 1000,
        "completion": "2030-01-10T00:00:00Z",
    }


def offer_to(
    job: str,
    log: str,
    workshop: str,
    created_s: float,
    window_s: int = 3600,
    previous: dict[str, Any] | None = None,
    rank: int = 1,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "job": job,
        "workshop_log": log,
        "workshop": workshop,
        "machine": "printer",
        "offer": OFFER_ID,
        "estimate": estimate(),
        "rank": rank,
        "respond_by": at(created_s + window_s),
    }
    if previous is not None:
        body["previous"] = previous
    return body


class World:
    """Logs A and C with a job requested at A (created at T0)."""

    def __init__(self, window_s: int = 3600) -> None:
        self.a = Log(NA)
        self.a.admit(M)
        self.c = Log(NC)
        self.c.add(NC, "workshop.register", workshop_body("c1", [OC.did]), at(0))
        self.c.add(OC, "machine", machine_body("c1"), at(0))
        self.job = self.a.add(M, "job.request", request_body(window_s=window_s), at(1))
        self.window = window_s

    def offer(
        self,
        workshop_log: str | None = None,
        workshop: str = "c1",
        *,
        t: float = 10,
        previous: dict[str, Any] | None = None,
        rank: int | None = None,
    ) -> str:
        made = sum(1 for e in self.a.entries if e.entry.record.type == "job.offer")
        body = offer_to(
            self.job, workshop_log or NC.did, workshop, t, self.window, previous, rank or made + 1
        )
        return self.a.add(NA, "job.offer", body, at(t))

    def answer(
        self,
        type_: str,
        offer: str,
        t: float = 20,
        signer: Any = OC,
        workshop: str = "c1",
        log: Log | None = None,
    ) -> str:
        body = {"job": self.job, "job_log": NA.did, "workshop": workshop, "offer": offer}
        return (log or self.c).add(signer, type_, body, at(t))

    def status(self, status: str, t: float, signer: Any = OC) -> str:
        body = {"job": self.job, "job_log": NA.did, "workshop": "c1", "status": status}
        return self.c.add(signer, "job.status", body, at(t))

    def complete(self, t: float, amount: int = 1234) -> str:
        body = {
            "job": self.job,
            "job_log": NA.did,
            "workshop": "c1",
            "paid": {"amount": amount, "currency": "EUR"},
        }
        return self.c.add(OC, "job.complete", body, at(t))

    def assign(self, offer: str, accept: str, t: float = 30) -> str:
        body = {
            "job": self.job,
            "offer": offer,
            "accept": accept,
            "workshop_log": NC.did,
            "workshop": "c1",
        }
        return self.a.add(NA, "job.assign", body, at(t))

    def events(self, *logs: Log) -> list[JobEvent]:
        out = []
        for log in logs or (self.a, self.c):
            for e in log.entries:
                r = e.entry.record
                out.append(
                    JobEvent(
                        log.did, e.index, e.record_id, r.type, r.author, r.created, e.entry.body
                    )
                )
        return out

    def view(self, *logs: Log) -> Any:
        return job_view(self.job, self.events(*logs))


def test_the_happy_path_through_both_logs() -> None:
    w = World()
    assert w.view().state == "requested"
    offer = w.offer()
    view = w.view()
    assert view.state == "offered"
    assert view.live_offer is not None
    assert view.live_offer.record_id == offer
    accept = w.answer("job.accept", offer)
    assert w.view().state == "offered"  # accepted, not yet assigned by A
    assert w.view().offers[-1].outcome == "accepted"
    w.assign(offer, accept)
    assert w.view().state == "accepted"
    expected = ["in_production", "shipped", "delivered"]
    for i, status in enumerate(expected):
        w.status(status, 40 + i)
        assert w.view().state == status
    w.complete(50)
    view = w.view()
    assert view.state == "completed"
    assert view.paid is not None
    assert view.paid.amount == 1234
    assert [h.event.type for h in view.history] == [
        "job.request",
        "job.offer",
        "job.accept",
        "job.assign",
        "job.status",
        "job.status",
        "job.status",
        "job.complete",
    ]
    assert all(h.counted for h in view.history)
    assert view.to_dict()["workshop"] == {"log": NC.did, "workshop": "c1"}


# Written out by hand from specs/05-capacity-and-jobs.md §6.2.
ALLOWED = {
    None: {"accept", "decline"},
    "accept": {"in_production", "failed", "cancelled"},
    "decline": set(),
    "in_production": {"shipped", "failed", "cancelled"},
    "shipped": {"delivered", "failed"},
    "delivered": {"complete"},
    "failed": set(),
    "cancelled": set(),
    "complete": set(),
}
PATHS = {
    None: [],
    "accept": ["accept"],
    "decline": ["decline"],
    "in_production": ["accept", "in_production"],
    "shipped": ["accept", "in_production", "shipped"],
    "delivered": ["accept", "in_production", "shipped", "delivered"],
    "failed": ["accept", "failed"],
    "cancelled": ["accept", "in_production", "cancelled"],
    "complete": ["accept", "in_production", "shipped", "delivered", "complete"],
}
ACTIONS = [
    "accept",
    "decline",
    "in_production",
    "shipped",
    "delivered",
    "failed",
    "cancelled",
    "complete",
]


def _act(w: World, offer: str, action: str, t: float) -> None:
    if action == "accept":
        w.answer("job.accept", offer, t)
    elif action == "decline":
        w.answer("job.decline", offer, t)
    elif action == "complete":
        w.complete(t)
    else:
        w.status(action, t)


@pytest.mark.parametrize(
    ("state", "action"), list(itertools.product(PATHS, ACTIONS)), ids=lambda v: str(v)
)
def test_every_workshop_transition_is_allowed_exactly_as_specified(state: Any, action: str) -> None:
    w = World()
    offer = w.offer()
    for i, step in enumerate(PATHS[state]):
        _act(w, offer, step, 100 + i)
    size = w.c.replay.size
    if action in ALLOWED[state]:
        _act(w, offer, action, 200)
        assert w.c.replay.size == size + 1
    else:
        with pytest.raises(Unauthorised):
            _act(w, offer, action, 200)
        assert w.c.replay.size == size


@pytest.mark.parametrize(
    "signer", [NC, M, STRANGER, NA], ids=["workshop node", "member", "stranger", "requester node"]
)
def test_only_the_workshop_owner_answers(signer: Any) -> None:
    w = World()
    offer = w.offer()
    for type_ in ("job.accept", "job.decline"):
        with pytest.raises(Unauthorised, match=r"not an owner key|no workshop"):
            w.answer(type_, offer, signer=signer)
    with pytest.raises(Unauthorised, match="no workshop"):
        w.answer("job.accept", offer, workshop="c2")
    accept = w.answer("job.accept", offer)
    w.assign(offer, accept)
    with pytest.raises(Unauthorised, match="not an owner key"):
        w.status("in_production", 40, signer=signer)


def test_a_retired_workshop_finishes_its_jobs_but_accepts_none() -> None:
    w = World()
    offer = w.offer()
    w.answer("job.accept", offer)
    w.c.add(NC, "workshop.retire", {"workshop": "c1"}, at(25))
    w.status("in_production", 30)
    w2 = World()
    offer2 = w2.offer()
    w2.c.add(NC, "workshop.retire", {"workshop": "c1"}, at(15))
    with pytest.raises(Unauthorised, match="retired"):
        w2.answer("job.accept", offer2)
    w2.answer("job.decline", offer2)


def test_the_requesters_log_refuses_what_breaks_its_half() -> None:
    w = World()
    with pytest.raises(Unauthorised, match="only the node key"):
        w.a.add(M, "job.offer", offer_to(w.job, NC.did, "c1", 10), at(10))
    with pytest.raises(Unauthorised, match=r"no job\.request"):
        w.a.add(NA, "job.offer", offer_to("sha256:" + "1" * 64, NC.did, "c1", 10), at(10))
    bad_window = offer_to(w.job, NC.did, "c1", 10, window_s=60)
    with pytest.raises(Unauthorised, match="respond_by"):
        w.a.add(NA, "job.offer", bad_window, at(10))
    with pytest.raises(Unauthorised, match="first offer"):
        w.offer(previous={"offer": "sha256:" + "2" * 64, "outcome": "unreachable"})
    with pytest.raises(Unauthorised, match="offer 1 of the job, not 2"):
        w.offer(t=10, rank=2)
    first = w.offer(t=10)
    with pytest.raises(Unauthorised, match="name the job's live offer"):
        w.offer(NA.did, "other", t=20)
    with pytest.raises(Unauthorised, match="name the job's live offer"):
        w.offer(
            NA.did,
            "other",
            t=20,
            previous={"offer": "sha256:" + "2" * 64, "outcome": "unreachable"},
        )
    with pytest.raises(Unauthorised, match="not lapsed yet"):
        w.offer(NA.did, "other", t=3609, previous={"offer": first, "outcome": "lapsed"})
    with pytest.raises(Unauthorised, match="offered to"):
        w.offer(NC.did, "c1", t=3610, previous={"offer": first, "outcome": "lapsed"})
    second = w.offer(NA.did, "other", t=3610, previous={"offer": first, "outcome": "lapsed"})
    fake_accept = "sha256:" + "3" * 64
    with pytest.raises(Unauthorised, match="live offer"):
        w.assign(first, fake_accept, t=3620)
    with pytest.raises(Unauthorised, match="another workshop"):
        w.assign(second, fake_accept, t=3620)  # names c1 at C, but the live offer is "other" at A


def test_cancel_before_and_after_assignment() -> None:
    w = World()
    other = key("another member")
    w.a.admit(other)
    with pytest.raises(Unauthorised, match="only the requester"):
        w.a.add(other, "job.cancel", {"job": w.job, "reason": "mine now"}, at(5))
    w.a.add(M, "job.cancel", {"job": w.job, "reason": "changed my mind"}, at(5))
    assert w.view().state == "cancelled"
    with pytest.raises(Unauthorised, match=r"cancelled already|is cancelled"):
        w.a.add(NA, "job.cancel", {"job": w.job, "reason": "again"}, at(6))
    with pytest.raises(Unauthorised, match="is cancelled"):
        w.offer(t=10)

    # After assignment a cancel is a request; the workshop decides.
    w = World()
    offer = w.offer()
    w.assign(offer, w.answer("job.accept", offer))
    w.status("in_production", 40)
    w.a.add(M, "job.cancel", {"job": w.job, "reason": "too slow"}, at(45))
    view = w.view()
    assert (view.state, view.cancel_requested, view.cancel_reason) == (
        "in_production",
        True,
        "too slow",
    )
    with pytest.raises(Unauthorised, match="cancelled already"):
        w.a.add(M, "job.cancel", {"job": w.job, "reason": "really"}, at(46))
    w.status("cancelled", 50)
    assert w.view().state == "cancelled"


def test_failure_is_terminal() -> None:
    w = World()
    offer = w.offer()
    w.assign(offer, w.answer("job.accept", offer))
    w.status("in_production", 40)
    w.status("shipped", 41)
    w.status("failed", 42)
    view = w.view()
    assert view.state == "failed"
    assert decide(view, T0 + timedelta(seconds=50)).action == "none"


def test_an_accept_in_the_jobs_own_log_must_answer_the_live_offer() -> None:
    # The workshop sits at the requester's own node: its rule can check the offer.
    a = Log(NA)
    a.admit(M)
    a.add(NA, "workshop.register", workshop_body("a1", [OC.did]), at(0))
    job = a.add(M, "job.request", request_body(), at(1))
    stale = a.add(NA, "job.offer", offer_to(job, NA.did, "a1", 10), at(10))
    live = a.add(
        NA,
        "job.offer",
        offer_to(
            job, NC.did, "c1", 20, previous={"offer": stale, "outcome": "unreachable"}, rank=2
        ),
        at(20),
    )
    answer = {"job": job, "job_log": NA.did, "workshop": "a1", "offer": stale}
    with pytest.raises(Unauthorised, match="not the job's live offer"):
        a.add(OC, "job.accept", answer, at(30))
    assert live


def test_decline_and_lapse_move_on_and_late_answers_do_not_count() -> None:
    w = World(window_s=100)
    first = w.offer(t=10)
    decline = w.answer("job.decline", first, t=20)
    view = w.view()
    assert view.state == "requested"
    step = decide(view, T0 + timedelta(seconds=21))
    assert step.action == "route"
    assert step.previous is not None
    assert step.previous.to_dict() == {
        "offer": first,
        "outcome": "declined",
        "answer": decline,
    }
    # Workshop B (at A's log) gets the next offer, lets it lapse; C's late accept is ignored.
    b = Log(key("node B"))
    b.add(b.node, "workshop.register", workshop_body("b1", [OC.did]), at(0))
    second = w.offer(b.did, "b1", t=30, previous=step.previous.to_dict())
    assert decide(w.view(), T0 + timedelta(seconds=129)).action == "wait"
    lapsed = decide(w.view(b, w.a, w.c), T0 + timedelta(seconds=130))
    assert lapsed.action == "route"
    assert lapsed.previous is not None
    assert lapsed.previous.outcome == "lapsed"
    third = w.offer(key("node D").did, "d1", t=131, previous=lapsed.previous.to_dict())
    late = w.answer("job.accept", second, t=140, log=b, workshop="b1")
    view = job_view(w.job, w.events(w.a, w.c, b))
    assert [o.outcome for o in view.offers] == ["declined", "lapsed", "pending"]
    assert view.state == "offered"
    assert view.live_offer is not None
    assert view.live_offer.record_id == third
    counted = {h.event.record_id: h.counted for h in view.history}
    assert counted[late] is False
    assert counted[decline] is True
    # An unreachable workshop node is skipped without waiting.
    step = decide(view, T0 + timedelta(seconds=135), reachable=False)
    assert step.action == "route"
    assert step.previous is not None
    assert step.previous.outcome == "unreachable"


def test_statuses_of_an_unassigned_workshop_do_not_count() -> None:
    w = World()
    offer = w.offer()
    w.answer("job.accept", offer)
    w.status("in_production", 25)  # the workshop hurries before A assigns
    assert w.view().state == "offered"
    step = decide(w.view(), T0 + timedelta(seconds=26))
    assert step.action == "assign"


def test_deadline_passing_cancels_an_unassigned_job() -> None:
    w = World()
    deadline = T0.replace(month=2, day=1, hour=0)
    assert decide(w.view(), deadline - timedelta(microseconds=1)).action == "route"
    step = decide(w.view(), deadline)
    assert step.action == "cancel"
    assert step.reason is not None


def test_the_view_does_not_depend_on_the_order_entries_arrive_in() -> None:
    w = World()
    offer = w.offer()
    w.assign(offer, w.answer("job.accept", offer))
    w.status("in_production", 40)
    w.a.add(M, "job.cancel", {"job": w.job, "reason": "stop"}, at(45))
    w.status("cancelled", 50)
    events = w.events()
    expected = job_view(w.job, events).to_dict()
    rng = random.Random(6)
    for _ in range(20):
        rng.shuffle(events)
        assert job_view(w.job, events).to_dict() == expected


def test_a_job_whose_request_is_not_known_yet() -> None:
    w = World()
    offer = w.offer()
    w.answer("job.accept", offer)
    view = w.view(w.c)  # a third node that has synced C but not A
    assert view.state == "unknown"
    assert decide(view, T0).action == "none"
    assert format_time(T0) == at(0)


def test_a_cancel_says_what_became_of_the_live_offer_or_withdraws_it() -> None:
    w = World(window_s=100)
    first = w.offer(t=10)
    lapsed = {"offer": first, "outcome": "lapsed"}
    with pytest.raises(Unauthorised, match="not lapsed yet"):
        w.a.add(NA, "job.cancel", {"job": w.job, "reason": "none left", "previous": lapsed}, at(50))
    wrong = {"offer": "sha256:" + "9" * 64, "outcome": "unreachable"}
    with pytest.raises(Unauthorised, match="previous must name"):
        w.a.add(NA, "job.cancel", {"job": w.job, "reason": "none left", "previous": wrong}, at(50))
    w.a.add(NA, "job.cancel", {"job": w.job, "reason": "none left", "previous": lapsed}, at(110))
    view = w.view()
    assert (view.state, [o.outcome for o in view.offers]) == ("cancelled", ["lapsed"])

    w = World()
    w.offer(t=10)
    w.a.add(M, "job.cancel", {"job": w.job, "reason": "not needed"}, at(20))
    w.answer("job.accept", w.view().offers[0].record_id, t=30)  # too late: the job is cancelled
    view = w.view()
    assert (view.state, [o.outcome for o in view.offers]) == ("cancelled", ["withdrawn"])
    assert decide(view, T0 + timedelta(seconds=40)).action == "none"

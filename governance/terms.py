"""The terms of a vote and the content of a ballot, as plain validated values.

specs/06-governance.md §3–§4. `Terms` is the part of a proposal that decides
its tally (method, options, window, quorum, threshold, action); `Choice` is
what a ballot says. Records that carry them live in governance/proposals.py.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Self

from governance.actions import validate_action
from protocol.errors import InvalidRecord
from protocol.fields import check_keys, enum_field, int_field, str_field
from protocol.records import parse_time

__all__ = [
    "CONSENT_OPTIONS",
    "FORM_OF_METHOD",
    "MAX_DURATION",
    "MAX_OPTIONS",
    "METHODS",
    "Action",
    "Choice",
    "Fraction",
    "Terms",
    "choice_problem",
    "nested",
    "topic_field",
]

METHODS = ("majority", "supermajority", "consent", "approval", "ranked", "score")
# specs/06-governance.md §6.3: a consent proposal's options are fixed, motion first.
CONSENT_OPTIONS = ("consent", "stand_aside", "block")
MAX_OPTIONS = 20
MAX_OPTION_CHARS = 100
MAX_SCORE = 100
MAX_DEN = 1_000_000
MAX_DURATION = timedelta(days=366)
_TOPIC_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")

# The ballot form each method takes (specs/06-governance.md §4); "abstain" suits every method.
FORM_OF_METHOD = {
    "majority": "choice",
    "supermajority": "choice",
    "consent": "choice",
    "approval": "approve",
    "ranked": "ranking",
    "score": "scores",
}
_FORMS = ("choice", "approve", "ranking", "scores", "abstain")


def nested(prefix: str, exc: InvalidRecord) -> InvalidRecord:
    """The same refusal, its field placed under `prefix` (e.g. body.quorum.num)."""
    return InvalidRecord(f"{prefix}.{exc.field.removeprefix('body.')}", exc.reason)


def _time_field(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    try:
        parse_time(value)  # type: ignore[arg-type]
    except ValueError as exc:
        raise InvalidRecord(f"body.{key}", str(exc)) from exc
    return str(value)


def topic_field(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not _TOPIC_RE.fullmatch(value):
        raise InvalidRecord(f"body.{key}", "must match [a-z0-9][a-z0-9._-]{0,63}")
    return value


@dataclass(frozen=True, slots=True)
class Fraction:
    """A share num/den as two integers (records carry no floats)."""

    num: int
    den: int

    @classmethod
    def from_dict(cls, data: Any, key: str) -> Self:
        if not isinstance(data, Mapping):
            raise InvalidRecord(f"body.{key}", 'must be {"num": int, "den": int}')
        try:
            check_keys(data, ("num", "den"))
            den = int_field(data, "den", minimum=1, maximum=MAX_DEN)
            num = int_field(data, "num", minimum=0, maximum=den)
        except InvalidRecord as exc:
            raise nested(f"body.{key}", exc) from exc
        return cls(num, den)

    def to_dict(self) -> dict[str, int]:
        return {"num": self.num, "den": self.den}


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """What the node does once the proposal is adopted: {"kind", "params"}."""

    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        if not isinstance(data, Mapping):
            raise InvalidRecord("body.action", 'must be {"kind": …, "params": {…}}')
        try:
            check_keys(data, ("kind", "params"))
        except InvalidRecord as exc:
            raise nested("body.action", exc) from exc
        kind = data["kind"]
        if not isinstance(kind, str):
            raise InvalidRecord("body.action.kind", "must be a string")
        validate_action(kind, data["params"])
        return cls(kind=kind, params=copy.deepcopy(dict(data["params"])))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "params": copy.deepcopy(dict(self.params))}


_TERMS_REQUIRED = ("options", "method", "opens", "closes", "quorum")
_TERMS_OPTIONAL = ("threshold", "max_score", "delegation", "action")
TERMS_KEYS = _TERMS_REQUIRED + _TERMS_OPTIONAL


def _options(data: Mapping[str, Any]) -> tuple[str, ...]:
    value = data.get("options")
    if not isinstance(value, list) or not 2 <= len(value) <= MAX_OPTIONS:
        raise InvalidRecord("body.options", f"must be a list of 2 to {MAX_OPTIONS} options")
    for n, option in enumerate(value):
        if not isinstance(option, str) or not 1 <= len(option) <= MAX_OPTION_CHARS:
            raise InvalidRecord(
                f"body.options[{n}]", f"must be a string of 1 to {MAX_OPTION_CHARS} characters"
            )
    if len(set(value)) != len(value):
        raise InvalidRecord("body.options", "must not repeat an option")
    return tuple(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class Terms:
    """The part of a proposal that decides its tally (specs/06-governance.md §3)."""

    options: tuple[str, ...]
    method: str
    opens: str
    closes: str
    quorum: Fraction
    threshold: Fraction | None = None
    max_score: int | None = None
    delegation: str | None = None
    action: Action | None = None
    # Parsed once: the rules read them for every ballot.
    _opens_at: datetime = field(init=False, repr=False, compare=False)
    _closes_at: datetime = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "_opens_at", parse_time(self.opens))
        except ValueError as exc:
            raise InvalidRecord("body.opens", str(exc)) from exc
        try:
            object.__setattr__(self, "_closes_at", parse_time(self.closes))
        except ValueError as exc:
            raise InvalidRecord("body.closes", str(exc)) from exc
        if self.method == "consent" and self.options != CONSENT_OPTIONS:
            raise InvalidRecord("body.options", f"a consent proposal has options {CONSENT_OPTIONS}")
        if (self.threshold is not None) != (self.method == "supermajority"):
            raise InvalidRecord("body.threshold", "is required for supermajority, else absent")
        if self.threshold is not None and not self.threshold.num * 2 > self.threshold.den:
            raise InvalidRecord("body.threshold", "must be more than one half")
        if (self.max_score is not None) != (self.method == "score"):
            raise InvalidRecord("body.max_score", "is required for score, else absent")
        opens, closes = self.opens_at, self.closes_at
        if not opens < closes:
            raise InvalidRecord("body.closes", "must be later than opens")
        if closes - opens > MAX_DURATION:
            raise InvalidRecord("body.closes", "must be at most 366 days after opens")

    @property
    def opens_at(self) -> datetime:
        return self._opens_at

    @property
    def closes_at(self) -> datetime:
        return self._closes_at

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Validate the terms' members of a proposal body. Raises InvalidRecord."""
        check_keys(data, _TERMS_REQUIRED, _TERMS_OPTIONAL)
        return cls(
            options=_options(data),
            method=enum_field(data, "method", METHODS),
            opens=_time_field(data, "opens"),
            closes=_time_field(data, "closes"),
            quorum=Fraction.from_dict(data["quorum"], "quorum"),
            threshold=(
                Fraction.from_dict(data["threshold"], "threshold") if "threshold" in data else None
            ),
            max_score=(
                int_field(data, "max_score", minimum=1, maximum=MAX_SCORE)
                if "max_score" in data
                else None
            ),
            delegation=topic_field(data, "delegation") if "delegation" in data else None,
            action=Action.from_dict(data["action"]) if "action" in data else None,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "options": list(self.options),
            "method": self.method,
            "opens": self.opens,
            "closes": self.closes,
            "quorum": self.quorum.to_dict(),
        }
        if self.threshold is not None:
            out["threshold"] = self.threshold.to_dict()
        if self.max_score is not None:
            out["max_score"] = self.max_score
        if self.delegation is not None:
            out["delegation"] = self.delegation
        if self.action is not None:
            out["action"] = self.action.to_dict()
        return out


def _option_list(data: Mapping[str, Any], key: str, *, min_len: int) -> tuple[str, ...]:
    value = data.get(key)
    if not isinstance(value, list) or not min_len <= len(value) <= MAX_OPTIONS:
        raise InvalidRecord(f"body.{key}", f"must be a list of {min_len} to {MAX_OPTIONS} options")
    for n, option in enumerate(value):
        if not isinstance(option, str) or not 1 <= len(option) <= MAX_OPTION_CHARS:
            raise InvalidRecord(f"body.{key}[{n}]", "must be an option (a string)")
    if len(set(value)) != len(value):
        raise InvalidRecord(f"body.{key}", "must not repeat an option")
    return tuple(value)


def _scores(data: Mapping[str, Any]) -> dict[str, int]:
    value = data.get("scores")
    if not isinstance(value, Mapping) or not 1 <= len(value) <= MAX_OPTIONS:
        raise InvalidRecord("body.scores", f"must be an object of 1 to {MAX_OPTIONS} scores")
    out: dict[str, int] = {}
    for option, score in value.items():
        if not 1 <= len(option) <= MAX_OPTION_CHARS:
            raise InvalidRecord("body.scores", "has a key that is not an option")
        if type(score) is not int or not 0 <= score <= MAX_SCORE:
            raise InvalidRecord("body.scores", f"scores are integers from 0 to {MAX_SCORE}")
        out[option] = score
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Choice:
    """What a ballot says: exactly one of choice, approve, ranking, scores, abstain."""

    choice: str | None = None
    approve: tuple[str, ...] | None = None
    ranking: tuple[str, ...] | None = None
    scores: Mapping[str, int] | None = None
    abstain: bool = False
    _form: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        present = [f for f in _FORMS if self._has(f)]
        if len(present) != 1:
            raise InvalidRecord("body", f"must hold exactly one of {list(_FORMS)}")
        object.__setattr__(self, "_form", present[0])

    def _has(self, form: str) -> bool:
        return self.abstain if form == "abstain" else getattr(self, form) is not None

    @property
    def form(self) -> str:
        return self._form

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Validate a ballot body without its "proposal" member. Raises InvalidRecord."""
        check_keys(data, (), _FORMS)
        if "abstain" in data and data["abstain"] is not True:
            raise InvalidRecord("body.abstain", "must be true when present")
        return cls(
            choice=(
                str_field(data, "choice", max_len=MAX_OPTION_CHARS) if "choice" in data else None
            ),
            approve=_option_list(data, "approve", min_len=0) if "approve" in data else None,
            ranking=_option_list(data, "ranking", min_len=1) if "ranking" in data else None,
            scores=_scores(data) if "scores" in data else None,
            abstain="abstain" in data,
        )

    def to_dict(self) -> dict[str, Any]:
        form = self.form
        if form == "abstain":
            return {"abstain": True}
        value = getattr(self, form)
        if isinstance(value, tuple):
            return {form: list(value)}
        if isinstance(value, Mapping):
            return {form: dict(value)}
        return {form: value}


def choice_problem(terms: Terms, choice: Choice) -> str | None:
    """Why this choice is not a valid ballot under these terms, or None if it is.

    specs/06-governance.md §4.2: the form must suit the method and every
    option named must be one of the proposal's.
    """
    form = choice.form
    if form == "abstain":
        return None
    expected = FORM_OF_METHOD[terms.method]
    if form != expected:
        return f"a {terms.method} ballot holds {expected!r}, not {form!r}"
    known = set(terms.options)
    if choice.choice is not None and choice.choice not in known:
        return f"{choice.choice!r} is not an option of the proposal"
    for named in (choice.approve or ()) + (choice.ranking or ()):
        if named not in known:
            return f"{named!r} is not an option of the proposal"
    if choice.scores is not None:
        if set(choice.scores) != known:
            return "a score ballot scores every option of the proposal, and only those"
        assert terms.max_score is not None
        if any(score > terms.max_score for score in choice.scores.values()):
            return f"scores are at most {terms.max_score}"
    return None

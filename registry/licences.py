"""Licences of designs: which ones the commons accepts and what an adaptation may carry.

specs/04-designs.md §3 is normative. CC-BY-SA-4.0 is the licence of the
commons; CC-BY-4.0 and CC0-1.0 works may join it because CC-BY-SA-4.0 may
adapt them. A derivative must carry a licence that every one of its
ancestors allows its adaptations to carry; a design cannot derive from a
licence that forbids commercial use or adaptations, nor from one this table
does not know. This module does not read records or logs: callers pass the
licences, or a lookup, in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from protocol.errors import InvalidRecord

__all__ = [
    "COMMONS_LICENCE",
    "LICENCES",
    "PUBLISHABLE",
    "Licence",
    "LicenceRefused",
    "check_adaptation",
    "check_publishable",
    "is_spdx_id",
    "licence_url",
]

COMMONS_LICENCE = "CC-BY-SA-4.0"

_SPDX_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+-]{0,63}")


def is_spdx_id(text: object) -> bool:
    """An SPDX licence identifier's syntax (specs/04-designs.md §2): 1-64 of [A-Za-z0-9.+-]."""
    return isinstance(text, str) and _SPDX_RE.fullmatch(text) is not None


class LicenceRefused(InvalidRecord):
    """A licence the commons does not accept here; the reason names it."""

    def __init__(self, licence: str, reason: str, field: str = "body.license") -> None:
        super().__init__(field, reason)
        self.licence = licence


@dataclass(frozen=True, slots=True)
class Licence:
    """What one licence allows: publication in the commons, and the licences of adaptations.

    `adaptations` is None when any publishable licence may adapt it; an empty
    set when no adaptation is allowed, with `refusal` saying why.
    """

    spdx: str
    name: str
    url: str
    publishable: bool
    adaptations: frozenset[str] | None
    refusal: str = ""


_NC = "does not allow commercial use, which making parts for others is"
_ND = "does not allow adaptations"

LICENCES: dict[str, Licence] = {
    entry.spdx: entry
    for entry in (
        Licence(
            "CC-BY-SA-4.0",
            "Creative Commons Attribution-ShareAlike 4.0 International",
            "https://creativecommons.org/licenses/by-sa/4.0/",
            publishable=True,
            adaptations=frozenset({"CC-BY-SA-4.0"}),
        ),
        Licence(
            "CC-BY-4.0",
            "Creative Commons Attribution 4.0 International",
            "https://creativecommons.org/licenses/by/4.0/",
            publishable=True,
            adaptations=frozenset({"CC-BY-4.0", "CC-BY-SA-4.0"}),
        ),
        Licence(
            "CC0-1.0",
            "Creative Commons Zero v1.0 Universal",
            "https://creativecommons.org/publicdomain/zero/1.0/",
            publishable=True,
            adaptations=None,
        ),
        Licence(
            "CC-BY-NC-4.0",
            "Creative Commons Attribution-NonCommercial 4.0 International",
            "https://creativecommons.org/licenses/by-nc/4.0/",
            publishable=False,
            adaptations=frozenset(),
            refusal=_NC,
        ),
        Licence(
            "CC-BY-NC-SA-4.0",
            "Creative Commons Attribution-NonCommercial-ShareAlike 4.0 International",
            "https://creativecommons.org/licenses/by-nc-sa/4.0/",
            publishable=False,
            adaptations=frozenset(),
            refusal=_NC,
        ),
        Licence(
            "CC-BY-ND-4.0",
            "Creative Commons Attribution-NoDerivatives 4.0 International",
            "https://creativecommons.org/licenses/by-nd/4.0/",
            publishable=False,
            adaptations=frozenset(),
            refusal=_ND,
        ),
        Licence(
            "CC-BY-NC-ND-4.0",
            "Creative Commons Attribution-NonCommercial-NoDerivatives 4.0 International",
            "https://creativecommons.org/licenses/by-nc-nd/4.0/",
            publishable=False,
            adaptations=frozenset(),
            refusal=f"{_NC}, and {_ND}",
        ),
        Licence(
            "CERN-OHL-S-2.0",
            "CERN Open Hardware Licence Version 2 - Strongly Reciprocal",
            "https://ohwr.org/cern_ohl_s_v2.txt",
            publishable=False,
            adaptations=frozenset(),
            refusal="is strongly reciprocal: its adaptations must stay CERN-OHL-S-2.0, "
            "which is not compatible with CC-BY-SA-4.0",
        ),
        Licence(
            "CERN-OHL-W-2.0",
            "CERN Open Hardware Licence Version 2 - Weakly Reciprocal",
            "https://ohwr.org/cern_ohl_w_v2.txt",
            publishable=False,
            adaptations=frozenset(),
            refusal="is reciprocal: its adaptations must stay CERN-OHL-W-2.0, "
            "which is not compatible with CC-BY-SA-4.0",
        ),
    )
}

PUBLISHABLE = frozenset(spdx for spdx, entry in LICENCES.items() if entry.publishable)


def licence_url(spdx: str) -> str | None:
    """The licence's canonical URL, or None for one this table does not know."""
    entry = LICENCES.get(spdx)
    return entry.url if entry else None


def _accepted() -> str:
    return ", ".join(sorted(PUBLISHABLE, key=lambda s: (s != COMMONS_LICENCE, s)))


def check_publishable(licence: str) -> None:
    """Raise LicenceRefused, naming the licence, unless a design may carry it."""
    entry = LICENCES.get(licence)
    if entry is not None and entry.publishable:
        return
    if entry is None:
        why = f"licence {licence} is not one fabcommons knows"
    else:
        why = f"licence {licence} {entry.refusal}" if entry.refusal else f"licence {licence}"
    raise LicenceRefused(
        licence,
        f"{why}; designs in the commons are {_accepted()} ({COMMONS_LICENCE} is the commons "
        "licence)",
    )


def check_adaptation(licence: str, ancestor_licence: str, ancestor: str = "the design") -> None:
    """Raise LicenceRefused unless a design under `licence` may adapt one under `ancestor_licence`.

    `ancestor` names the ancestor in the message (e.g. its id or title).
    """
    entry = LICENCES.get(ancestor_licence)
    if entry is None:
        raise LicenceRefused(
            ancestor_licence,
            f"{ancestor} is licensed {ancestor_licence}, a licence fabcommons does not know, "
            "so its terms for adaptations cannot be checked",
            field="body.derived_from",
        )
    if entry.adaptations is not None and not entry.adaptations:
        raise LicenceRefused(
            ancestor_licence,
            f"{ancestor} is licensed {ancestor_licence}, which {entry.refusal}; "
            "a design cannot derive from it",
            field="body.derived_from",
        )
    if entry.adaptations is not None and licence not in entry.adaptations:
        allowed = " or ".join(sorted(entry.adaptations, key=lambda s: (s != COMMONS_LICENCE, s)))
        share_alike = " (share-alike)" if entry.adaptations == {ancestor_licence} else ""
        raise LicenceRefused(
            licence,
            f"{ancestor} is licensed {ancestor_licence}: a derivative of it must be "
            f"{allowed}{share_alike}, not {licence}",
        )

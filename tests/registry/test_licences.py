"""registry.licences: what the commons accepts and what an adaptation may carry.

specs/04-designs.md §3. The table below is written from the licences' own
terms (creativecommons.org legal code, CERN-OHL v2), not from the module.
"""

from __future__ import annotations

import pytest

from registry.licences import (
    COMMONS_LICENCE,
    PUBLISHABLE,
    LicenceRefused,
    check_adaptation,
    check_publishable,
    is_spdx_id,
    licence_url,
)


def test_the_commons_licence_and_what_may_join_it() -> None:
    assert COMMONS_LICENCE == "CC-BY-SA-4.0"
    assert frozenset({"CC-BY-SA-4.0", "CC-BY-4.0", "CC0-1.0"}) == PUBLISHABLE
    for spdx in PUBLISHABLE:
        check_publishable(spdx)


@pytest.mark.parametrize(
    ("licence", "words"),
    [
        ("CC-BY-NC-4.0", "commercial"),
        ("CC-BY-NC-SA-4.0", "commercial"),
        ("CC-BY-ND-4.0", "adaptations"),
        ("CC-BY-NC-ND-4.0", "adaptations"),
        ("CERN-OHL-S-2.0", "reciprocal"),
        ("CERN-OHL-W-2.0", "reciprocal"),
        ("MIT", "not one fabcommons knows"),
        ("LicenseRef-Proprietary", "not one fabcommons knows"),
    ],
)
def test_refusals_name_the_licence_and_say_why(licence: str, words: str) -> None:
    with pytest.raises(LicenceRefused) as caught:
        check_publishable(licence)
    assert caught.value.licence == licence
    assert caught.value.field == "body.license"
    assert licence in caught.value.reason
    assert words in caught.value.reason
    assert "CC-BY-SA-4.0" in caught.value.reason


# (derivative's licence, ancestor's licence, refused?)
ADAPTATIONS = [
    ("CC-BY-SA-4.0", "CC-BY-SA-4.0", False),
    ("CC-BY-4.0", "CC-BY-SA-4.0", True),  # share-alike
    ("CC0-1.0", "CC-BY-SA-4.0", True),
    ("CC-BY-SA-4.0", "CC-BY-4.0", False),  # BY-SA may adapt BY
    ("CC-BY-4.0", "CC-BY-4.0", False),
    ("CC0-1.0", "CC-BY-4.0", True),  # attribution cannot be waived for others
    ("CC-BY-SA-4.0", "CC0-1.0", False),
    ("CC-BY-4.0", "CC0-1.0", False),
    ("CC0-1.0", "CC0-1.0", False),
    ("CC-BY-SA-4.0", "CC-BY-NC-4.0", True),
    ("CC-BY-SA-4.0", "CC-BY-NC-SA-4.0", True),
    ("CC-BY-SA-4.0", "CC-BY-ND-4.0", True),
    ("CC-BY-SA-4.0", "CERN-OHL-S-2.0", True),
    ("CC-BY-SA-4.0", "GPL-3.0-or-later", True),  # unknown here
]


@pytest.mark.parametrize(
    ("child", "parent", "refused"), ADAPTATIONS, ids=[f"{c}<-{p}" for c, p, _ in ADAPTATIONS]
)
def test_adaptation_table(child: str, parent: str, refused: bool) -> None:
    if not refused:
        check_adaptation(child, parent, "the parent")
        return
    with pytest.raises(LicenceRefused) as caught:
        check_adaptation(child, parent, "the parent")
    assert parent in caught.value.reason
    assert "the parent" in caught.value.reason


def test_share_alike_message_names_both_licences() -> None:
    with pytest.raises(LicenceRefused) as caught:
        check_adaptation("CC-BY-4.0", "CC-BY-SA-4.0", '"Plate"')
    assert caught.value.reason == (
        '"Plate" is licensed CC-BY-SA-4.0: a derivative of it must be CC-BY-SA-4.0 '
        "(share-alike), not CC-BY-4.0"
    )
    assert caught.value.licence == "CC-BY-4.0"


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("CC-BY-SA-4.0", True),
        ("GPL-3.0-or-later", True),
        ("LicenseRef-x.1+", True),
        ("", False),
        ("CC BY-SA", False),
        ("-CC", False),
        ("x" * 65, False),
        (None, False),
    ],
)
def test_spdx_syntax(text: object, ok: bool) -> None:
    assert is_spdx_id(text) is ok


def test_urls() -> None:
    assert licence_url("CC-BY-SA-4.0") == "https://creativecommons.org/licenses/by-sa/4.0/"
    assert licence_url("CC0-1.0") == "https://creativecommons.org/publicdomain/zero/1.0/"
    assert licence_url("MIT") is None

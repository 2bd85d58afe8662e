"""`--build-volume` and the like: lengths in millimetres, read without a node."""

from __future__ import annotations

import argparse

import pytest

from node.commands.capacity import volume_arg


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("220,220,250", ("220.000", "220.000", "250.000")),
        ("220.5, 220.25 ,0.125", ("220.500", "220.250", "0.125")),
    ],
)
def test_volume_arg_reads_millimetres(text: str, expected: tuple[str, str, str]) -> None:
    assert volume_arg(text) == expected


@pytest.mark.parametrize(
    "text", ["220,220", "a,1,1", "1.2345,1,1", "\u00b2,1,1", "1.\u00b2,1,1", "-1,1,1", ",1,1"]
)
def test_volume_arg_refuses_what_is_not_a_length(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        volume_arg(text)

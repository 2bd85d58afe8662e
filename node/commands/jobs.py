"""`fabcommons` commands: job request, accept, decline, status (issue 6)."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this module's commands to the top-level parser."""

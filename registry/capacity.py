"""`workshop.register`, `machine` and `offer` records (issue 6)."""

from __future__ import annotations

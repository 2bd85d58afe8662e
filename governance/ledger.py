"""`ledger.*` records (issue 8)."""

from __future__ import annotations

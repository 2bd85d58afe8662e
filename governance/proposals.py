"""`proposal`, `ballot` and `proposal.result` records (issue 7)."""

from __future__ import annotations

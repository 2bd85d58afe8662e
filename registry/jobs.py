"""The `job.*` records and the job state machine (issue 6)."""

from __future__ import annotations

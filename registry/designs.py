"""The `design` record, licences and attribution (issue 5)."""

from __future__ import annotations

"""Federation: following peers' logs, mirrors, witnessing, evidence, inbox and outbox."""

from __future__ import annotations

__all__: list[str] = []

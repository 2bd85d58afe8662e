"""Token buckets per client, with a bounded memory of clients.

Used where one request can cost the node far more than it costs the sender
(routing a job judges every open offer), so that one client cannot keep the
node's single event loop busy. Each key gets `burst` tokens, refilled at
`rate` per second; one request takes one. At most `max_keys` keys are
remembered (least recently seen forgotten first), so a sender that varies
its key costs memory only up to that bound.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["TokenBuckets"]


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """`allow(key)` is True while the key's bucket holds a token (and takes it)."""

    def __init__(
        self,
        rate: float,
        burst: float,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1 or max_keys < 1:
            raise ValueError("rate must be positive, burst at least 1, max_keys at least 1")
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    @classmethod
    def per_second(cls, rate: float, *, burst_seconds: float = 4.0) -> TokenBuckets:
        """`rate` per second, in bursts of `burst_seconds`' worth (at least one request)."""
        return cls(rate, max(1.0, rate * burst_seconds))

    def allow(self, key: str) -> bool:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(tokens=self.burst, updated=now)
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True

    def retry_after_s(self, key: str) -> float:
        """Seconds until `key` has a token again (0 if it has one)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return 0.0
        tokens = min(self.burst, bucket.tokens + (self._clock() - bucket.updated) * self.rate)
        return max(0.0, (1 - tokens) / self.rate)

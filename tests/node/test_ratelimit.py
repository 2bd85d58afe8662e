"""Token buckets per client (node/ratelimit.py) and the job-routing limit that uses them."""

from __future__ import annotations

from typing import Any

import pytest

from node.ratelimit import TokenBuckets


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_passes_then_the_rate_refills_it() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(2.0, 3, clock=clock)
    assert [buckets.allow("a") for _ in range(4)] == [True, True, True, False]
    assert buckets.retry_after_s("a") == pytest.approx(0.5)
    clock.now += 0.25
    assert not buckets.allow("a")  # half a token
    clock.now += 0.25
    assert buckets.allow("a")
    assert not buckets.allow("a")
    clock.now += 60  # refills to the burst, not beyond it
    assert [buckets.allow("a") for _ in range(4)] == [True, True, True, False]


def test_each_key_has_its_own_bucket() -> None:
    buckets = TokenBuckets(1.0, 1, clock=FakeClock())
    assert buckets.allow("a")
    assert not buckets.allow("a")
    assert buckets.allow("b")
    assert buckets.retry_after_s("never seen") == 0.0


def test_memory_is_bounded_and_forgets_the_least_recently_seen() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(1.0, 1, max_keys=2, clock=clock)
    assert buckets.allow("a")
    assert buckets.allow("b")
    assert not buckets.allow("a")  # "a" is now the most recently seen
    assert buckets.allow("c")  # forgets "b", not "a"
    assert not buckets.allow("a")
    assert buckets.allow("b")  # forgotten, so a fresh bucket
    assert len(buckets._buckets) == 2


@pytest.mark.parametrize(("rate", "burst", "keys"), [(0, 1, 1), (-1, 1, 1), (1, 0.5, 1), (1, 1, 0)])
def test_nonsense_settings_are_refused(rate: float, burst: float, keys: int) -> None:
    with pytest.raises(ValueError):
        TokenBuckets(rate, burst, max_keys=keys)


async def test_routing_past_the_limit_is_429_with_retry_after(
    node_factory: Any, check_problem: Any
) -> None:
    """route_rate_per_s 0.5: a burst of two, then 429 problem+json before any work."""
    node = await node_factory(route_rate_per_s=0.5)
    statuses = []
    for _ in range(2):
        reply = await node.request("POST", "/api/v1/jobs/route", json={"design": 1})
        statuses.append(reply.status)
    # Bad bodies count too: the limit comes before the body is read.
    assert statuses == [422, 422]
    reply = await node.request("POST", "/api/v1/jobs/route", json={"design": 1})
    problem = check_problem(reply, 429)
    assert problem["type"].endswith("/too-many-requests")
    assert "0.5 requests per second" in problem["detail"]
    assert reply.headers["Retry-After"] in {"1", "2"}
    # Other endpoints are not limited by it.
    assert (await node.request("GET", "/api/v1/offers")).status == 200

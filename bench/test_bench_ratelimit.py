"""Micro benchmarks for zenws.fast.ratelimit and the RateLimiter fast path.

Run: python -m pytest bench/test_bench_ratelimit.py --benchmark-only -p no:cacheprovider
Each round runs 100 calls (the method bound to a local); ``extra_info["per_call"]``
is the fastest round divided by 100.  Buckets are sized so every call succeeds
(the common path: tokens available).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zenws.fast.ratelimit import Limiter, TokenBucket
from zenws.ratelimit import RateLimiter, preset

LOOPS = 100
HUGE = 1e15  # never runs dry during a benchmark


def _loop(fn: Callable[..., Any], *args: Any) -> Callable[[], None]:
    def run() -> None:
        for _ in range(LOOPS):
            fn(*args)

    return run


def _per_call(benchmark: Any) -> None:
    if getattr(benchmark, "stats", None) is None:  # pytest-codspeed counts, no timings
        return
    benchmark.extra_info["per_call"] = f"{benchmark.stats.stats.min / LOOPS * 1e9:.1f} ns"


def test_tokenbucket_try_acquire(benchmark: Any) -> None:
    try_acquire = TokenBucket(HUGE, HUGE).try_acquire
    benchmark(_loop(try_acquire, 1.0))
    _per_call(benchmark)


def test_tokenbucket_time_until(benchmark: Any) -> None:
    time_until = TokenBucket(HUGE, HUGE).time_until
    benchmark(_loop(time_until, 1.0))
    _per_call(benchmark)


def test_limiter_try_acquire_method(benchmark: Any) -> None:
    b = TokenBucket(HUGE, HUGE)
    limiter = Limiter({"credits": b}, {"private/buy": ("credits", 1.0)}, ("credits", 500.0))
    try_acquire = limiter.try_acquire
    benchmark(_loop(try_acquire, "private/buy"))
    _per_call(benchmark)


def test_ratelimiter_acquire_nowait_deribit(benchmark: Any) -> None:
    rl = RateLimiter(preset("deribit", matching_engine_burst=HUGE, matching_engine_rate=HUGE))
    acquire_nowait = rl.acquire_nowait
    benchmark(_loop(acquire_nowait, "private/buy"))
    _per_call(benchmark)

"""zenws.ratelimit: exchange presets and the async FIFO RateLimiter (asyncio and uvloop)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator
from typing import Any

import pytest

from zenws import telemetry
from zenws._ratelimit_presets import BINANCE_ORDER_METHODS
from zenws.errors import ConfigError, ConnectionLost, RateLimited
from zenws.exchanges.binance import ORDERS_PER_10S
from zenws.fast.ratelimit import Limiter, TokenBucket
from zenws.ratelimit import (
    BINANCE_WEIGHTS,
    DERIBIT_MATCHING_ENGINE_METHODS,
    DERIBIT_SUBSCRIBE_METHODS,
    RateLimiter,
    preset,
)

NS = 1_000_000_000


class FakeClock:
    def __init__(self) -> None:
        self.now = 10 * NS

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += round(seconds * NS)


def burst(limiter: Limiter, method: str) -> int:
    """How many `method` requests pass right now."""
    n = 0
    while limiter.try_acquire(method):
        n += 1
        assert n < 1_000_000
    return n


# ---- presets --------------------------------------------------------------------------


def test_deribit_preset_numbers() -> None:
    clock = FakeClock()
    lim = preset("deribit", clock=clock)
    b = lim.buckets
    assert (b["non_matching"].capacity, b["non_matching"].refill_per_s) == (50_000, 10_000)
    assert (b["subscribe"].capacity, b["subscribe"].refill_per_s) == (30_000, 10_000)
    assert (b["matching_engine"].capacity, b["matching_engine"].refill_per_s) == (20, 5)
    assert lim.cost_of("public/get_instruments") == ("non_matching", 500.0)
    assert lim.cost_of("public/auth") == ("non_matching", 500.0)
    for m in ("public/subscribe", "private/subscribe", "public/unsubscribe", "private/unsubscribe"):
        assert lim.cost_of(m) == ("subscribe", 3000.0)
    for m in (
        "private/buy",
        "private/sell",
        "private/edit",
        "private/edit_by_label",
        "private/cancel",
        "private/cancel_by_label",
        "private/cancel_all",
        "private/cancel_all_by_instrument",
        "private/cancel_all_by_currency",
        "private/cancel_all_by_kind_or_type",
        "private/close_position",
    ):
        assert m in DERIBIT_MATCHING_ENGINE_METHODS
        assert lim.cost_of(m) == ("matching_engine", 1.0)
    assert set(DERIBIT_SUBSCRIBE_METHODS) >= {"public/subscribe", "private/unsubscribe"}
    # Bursts: 100 plain requests, 10 subscribes, 20 orders; then the sustained rates.
    assert burst(lim, "public/get_time") == 100
    assert burst(lim, "public/subscribe") == 10
    assert burst(lim, "private/buy") == 20
    clock.advance(1.0)
    assert burst(lim, "public/get_time") == 20
    assert burst(lim, "public/subscribe") == 3
    assert burst(lim, "private/buy") == 5


def test_deribit_preset_overrides() -> None:
    clock = FakeClock()
    lim = preset(
        "deribit",
        clock=clock,
        request_cost=100,
        credits_pool=1_000,
        credits_refill=2_000,
        subscribe_cost=1_000,
        subscribe_pool=5_000,
        subscribe_refill=500,
        matching_engine_rate=50,
        matching_engine_burst=7,
        matching_engine_methods=["private/buy"],
        subscribe_methods=("public/subscribe",),
        costs={
            "private/get_positions": ("non_matching", 250),
            "private/mass_quote": ("matching_engine", 2),
        },
    )
    assert burst(lim, "x") == 10
    assert burst(lim, "public/subscribe") == 5
    assert burst(lim, "private/buy") == 7
    assert lim.cost_of("private/sell") == ("non_matching", 100.0)  # no longer in the list
    assert lim.cost_of("private/unsubscribe") == ("non_matching", 100.0)
    assert lim.cost_of("private/get_positions") == ("non_matching", 250.0)
    assert lim.cost_of("private/mass_quote") == ("matching_engine", 2.0)
    clock.advance(0.5)
    assert burst(lim, "x") == 10  # 1000 credits back, capped by the pool
    assert lim.buckets["matching_engine"].tokens == pytest.approx(7.0)


def test_binance_preset_numbers() -> None:
    clock = FakeClock()
    lim = preset("binance", clock=clock)
    w = lim.buckets["weight"]
    assert w.capacity == 1200 and w.refill_per_s == pytest.approx(80.0)
    # burst + 60 s of refill == the documented 6000 weight per minute
    assert w.capacity + 60 * w.refill_per_s == pytest.approx(6000)
    assert lim.cost_of("exchangeInfo") == ("weight", 20.0)
    assert lim.cost_of("order.place") == ("orders", 1.0)  # one bucket per method: ORDERS
    assert lim.cost_of("order.cancel") == ("weight", 1.0)  # cancels are not orders
    assert lim.cost_of("depth") == ("weight", 5.0)
    assert lim.cost_of("some.new.method") == ("weight", 1.0)
    for method, weight in BINANCE_WEIGHTS.items():
        if method not in BINANCE_ORDER_METHODS:
            assert lim.cost_of(method) == ("weight", float(weight))
    # Greedy use for two minutes never exceeds 6000 weight in a 60 s window.
    used = []
    for _ in range(120 * 10):
        used.append(burst(lim, "order.status") * 4)
        clock.advance(0.1)
    assert max(sum(used[i : i + 600]) for i in range(len(used) - 600)) <= 6000


def test_binance_preset_orders_bucket_keeps_every_10s_window_within_the_limit() -> None:
    clock = FakeClock()
    lim = preset("binance", clock=clock)
    o = lim.buckets["orders"]
    assert set(BINANCE_ORDER_METHODS) == {"order.place", "order.cancelReplace"}
    assert o.capacity + 10 * o.refill_per_s == pytest.approx(ORDERS_PER_10S)
    placed = []
    for _ in range(30 * 10):  # greedy placement for 30 s
        placed.append(burst(lim, "order.place"))
        clock.advance(0.1)
    assert sum(placed) > 1.5 * ORDERS_PER_10S  # orders keep flowing...
    assert max(sum(placed[i : i + 100]) for i in range(len(placed) - 100)) <= ORDERS_PER_10S
    small = preset("binance", orders_per_10s=3, orders_burst=3).buckets["orders"]
    assert (small.capacity, small.refill_per_s) == (3, 0)
    with pytest.raises(ConfigError, match="orders_burst"):
        preset("binance", orders_per_10s=10, orders_burst=20)


def test_binance_preset_overrides() -> None:
    lim = preset(
        "binance",
        weight_per_minute=1200,
        burst=200,
        default_weight=2,
        costs={"depth": ("weight", 50)},
    )
    w = lim.buckets["weight"]
    assert w.capacity == 200 and w.refill_per_s == pytest.approx(1000 / 60)
    assert lim.cost_of("depth") == ("weight", 50.0)
    assert lim.cost_of("unlisted") == ("weight", 2.0)


def test_binance_cost_above_burst_is_rejected() -> None:
    with pytest.raises(ConfigError, match="exceeds the capacity"):
        preset("binance", burst=100, costs={"depth": ("weight", 250)})
    with pytest.raises(ConfigError, match="cannot exceed"):
        preset("binance", weight_per_minute=100, burst=200)


def test_simple_preset() -> None:
    clock = FakeClock()
    lim = preset("simple", rate=4, burst=2, clock=clock)
    assert lim.cost_of("anything") == ("default", 1.0)
    assert burst(lim, "a") == 2
    clock.advance(1.0)
    assert burst(lim, "b") == 2  # capped at the burst
    assert preset("simple", rate=50).buckets["default"].capacity == 50  # burst follows rate
    assert preset("simple", rate=0.5).buckets["default"].capacity == 1
    d = preset("simple").buckets["default"]
    assert (d.capacity, d.refill_per_s) == (10, 10)


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("kraken", {}, "unknown rate_limit preset 'kraken'"),
        (None, {}, "unknown rate_limit preset"),
        ("deribit", {"credit_pool": 1}, "no option.*credit_pool"),
        ("deribit", {"credits_pool": 0}, "credits_pool must be > 0"),
        ("deribit", {"credits_refill": -1}, "credits_refill must be > 0"),
        ("deribit", {"request_cost": "500"}, "request_cost must be a finite number"),
        ("deribit", {"request_cost": math.inf}, "finite"),
        ("deribit", {"subscribe_methods": "public/subscribe"}, "iterable of method names"),
        ("deribit", {"matching_engine_methods": [1]}, "iterable of method names"),
        ("deribit", {"costs": [("a", 1)]}, "costs must map"),
        ("binance", {"weight": 5}, "no option"),
        ("simple", {"rate": 0}, "rate must be > 0"),
        ("simple", {"rate": True}, "finite number"),
        ("simple", {"burst": 0.5}, "burst must be >= 1"),
    ],
)
def test_preset_errors_are_clear(name: Any, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        preset(name, **kwargs)
    assert info.value.field == "rate_limit"


# ---- RateLimiter ---------------------------------------------------------------------------


def one_bucket(capacity: float, rate: float, costs: dict[str, float] | None = None) -> Limiter:
    b = TokenBucket(capacity, rate)
    table = {m: ("b", c) for m, c in (costs or {}).items()}
    return Limiter({"b": b}, table, ("b", 1.0))


@pytest.fixture
def events() -> Iterator[list[tuple[str, dict[str, Any], dict[str, Any]]]]:
    seen: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    handle = telemetry.attach("ratelimit", lambda e, m, md: seen.append((e, m, md)))
    try:
        yield seen
    finally:
        telemetry.detach(handle)


async def test_fast_path_needs_no_waiting() -> None:
    rl = RateLimiter(one_bucket(5, 0.001))
    assert all(rl.acquire_nowait("x") for _ in range(3))
    await rl.acquire("x")
    await rl.acquire("x")
    assert rl.queue_depth == 0 and rl.pressure == "none"
    assert not rl.acquire_nowait("x")


async def test_waiters_are_released_in_fifo_order_across_costs() -> None:
    lim = one_bucket(10, 1000, {"big": 8, "small": 1})
    rl = RateLimiter(lim)
    lim.buckets["b"].drain()
    order: list[str] = []

    async def req(tag: str, method: str) -> None:
        await rl.acquire(method)
        order.append(tag)

    tags = [("b1", "big"), ("s1", "small"), ("s2", "small"), ("b2", "big"), ("s3", "small")]
    tasks = [asyncio.create_task(req(t, m)) for t, m in tags]
    await asyncio.sleep(0)
    assert rl.queue_depth == 5
    # Tokens for a small request exist, yet nothing overtakes the big head.
    lim.buckets["b"].refund(2)
    assert not rl.acquire_nowait("small")
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert order == ["b1", "s1", "s2", "b2", "s3"]
    assert rl.queue_depth == 0


async def test_other_buckets_are_not_blocked() -> None:
    slow = TokenBucket(1, 0.001)
    fast = TokenBucket(5, 1)
    lim = Limiter({"slow": slow, "fast": fast}, {"order": ("slow", 1)}, ("fast", 1))
    rl = RateLimiter(lim)
    await rl.acquire("order")
    waiter = asyncio.create_task(rl.acquire("order"))
    await asyncio.sleep(0)
    assert rl.queue_depth == 1
    await asyncio.wait_for(rl.acquire("public/get_time"), 1)  # different bucket: immediate
    assert rl.acquire_nowait("public/get_time")
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert rl.queue_depth == 0


async def test_full_queue_raises_rate_limited_at_once_and_drops_nothing(events: list[Any]) -> None:
    lim = one_bucket(1, 200)
    rl = RateLimiter(lim, max_queue=3)
    await rl.acquire("x")
    done: list[int] = []

    async def req(i: int) -> None:
        await rl.acquire("x")
        done.append(i)

    tasks = [asyncio.create_task(req(i)) for i in range(3)]
    await asyncio.sleep(0)
    assert rl.queue_depth == 3
    attempt = rl.acquire("x")
    with pytest.raises(RateLimited) as info:
        attempt.send(None)  # raised on the first step: at once, without suspending
    assert info.value.bucket == "b"
    assert 0 < info.value.retry_after < 1
    assert "queue is full" in str(info.value)
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert done == [0, 1, 2]  # every queued request went through
    rejected = [e for e in events if e[0] == "ratelimit.rejected"]
    assert len(rejected) == 1
    assert rejected[0][2] == {"method": "x", "bucket": "b", "reason": "queue_full"}
    assert rejected[0][1]["queue_depth"] == 3


async def test_max_queue_zero_never_waits() -> None:
    rl = RateLimiter(one_bucket(1, 1), max_queue=0)
    await rl.acquire("x")
    with pytest.raises(RateLimited):
        await rl.acquire("x")
    assert rl.pressure == "none"


async def test_bucket_without_refill_rejects_instead_of_waiting_forever() -> None:
    rl = RateLimiter(one_bucket(1, 0))
    await rl.acquire("x")
    with pytest.raises(RateLimited) as info:
        await asyncio.wait_for(rl.acquire("x"), 2)
    assert info.value.retry_after == math.inf


async def test_cancelled_head_lets_the_next_proceed() -> None:
    lim = one_bucket(10, 1000, {"big": 10, "small": 1})
    rl = RateLimiter(lim)
    lim.buckets["b"].drain()
    lim.buckets["b"].refund(2)  # enough for "small", not for "big"
    big = asyncio.create_task(rl.acquire("big"))
    small = asyncio.create_task(rl.acquire("small"))
    await asyncio.sleep(0)
    assert rl.queue_depth == 2 and not small.done()
    big.cancel()
    with pytest.raises(asyncio.CancelledError):
        await big
    await asyncio.wait_for(small, 1)
    assert rl.queue_depth == 0


async def test_cancelled_middle_waiter_is_removed() -> None:
    lim = one_bucket(1, 0.001)
    rl = RateLimiter(lim, max_queue=8)
    lim.buckets["b"].drain()
    order: list[int] = []

    async def req(i: int) -> None:
        await rl.acquire("x")
        order.append(i)

    tasks = [asyncio.create_task(req(i)) for i in range(4)]
    await asyncio.sleep(0)
    tasks[1].cancel()
    tasks[2].cancel()
    await asyncio.sleep(0)
    assert rl.queue_depth == 2
    rl.refund("x")
    rl.refund("x")
    await asyncio.wait_for(asyncio.gather(tasks[0], tasks[3]), 5)
    assert order == [0, 3]
    assert rl.queue_depth == 0
    for t in tasks[1:3]:
        assert t.cancelled()


async def test_cancel_after_grant_refunds_the_tokens() -> None:
    lim = one_bucket(1, 0.001)
    rl = RateLimiter(lim)
    await rl.acquire("x")
    task = asyncio.create_task(rl.acquire("x"))
    await asyncio.sleep(0)
    assert rl.queue_depth == 1
    rl.refund("x")  # grants the head synchronously ...
    task.cancel()  # ... which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await task
    assert lim.buckets["b"].tokens == pytest.approx(1.0, abs=0.01)
    assert rl.queue_depth == 0
    assert rl.acquire_nowait("x")


async def test_pressure_levels_and_events(events: list[Any]) -> None:
    lim = one_bucket(1, 0.001)
    rl = RateLimiter(lim, max_queue=4)
    await rl.acquire("x")
    levels = []
    tasks = []
    for _ in range(4):
        tasks.append(asyncio.create_task(rl.acquire("x")))
        await asyncio.sleep(0)
        levels.append(rl.pressure)
    assert levels == ["low", "medium", "high", "high"]
    assert rl.queue_depth == 4
    for _ in range(4):  # release them one by one
        rl.refund("x")
        await asyncio.sleep(0)
        levels.append(rl.pressure)
    assert levels[4:] == ["high", "medium", "low", "none"]
    await asyncio.wait_for(asyncio.gather(*tasks), 1)
    pressure = [(e[2]["previous"], e[2]["level"]) for e in events if e[0] == "ratelimit.pressure"]
    assert pressure == [
        ("none", "low"),
        ("low", "medium"),
        ("medium", "high"),
        ("high", "medium"),
        ("medium", "low"),
        ("low", "none"),
    ]
    waits = [e for e in events if e[0] == "ratelimit.wait"]
    assert len(waits) == 4
    assert all(e[1]["wait_ns"] > 0 and e[2] == {"method": "x", "bucket": "b"} for e in waits)


async def test_close_fails_every_waiter_and_stays_usable() -> None:
    lim = one_bucket(1, 0.001)
    rl = RateLimiter(lim)
    await rl.acquire("x")
    tasks = [asyncio.create_task(rl.acquire("x")) for _ in range(3)]
    await asyncio.sleep(0)
    rl.close(ConnectionLost("gone", epoch=3))
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, ConnectionLost) and r.epoch == 3 for r in results)
    assert rl.queue_depth == 0 and rl.pressure == "none"
    # Default exception, and usable afterwards.
    task = asyncio.create_task(rl.acquire("x"))
    await asyncio.sleep(0)
    rl.close()
    with pytest.raises(ConnectionLost):
        await task
    lim.buckets["b"].refund(1)
    await asyncio.wait_for(rl.acquire("x"), 1)


async def test_single_timer_no_polling() -> None:
    calls = 0

    class Counting(RateLimiter):
        def _service(self, lane: Any) -> None:
            nonlocal calls
            calls += 1
            super()._service(lane)

    lim = one_bucket(1, 100)  # one token every 10 ms
    rl = Counting(lim)
    await rl.acquire("x")
    tasks = [asyncio.create_task(rl.acquire("x")) for _ in range(5)]
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    # At most about one wake-up per released request (a late timer releases
    # several at once; an early one re-arms once); polling would make hundreds.
    assert 1 <= calls <= 15


async def test_real_clock_throughput_matches_the_rate() -> None:
    rl = RateLimiter(preset("simple", rate=1000, burst=10))
    t0 = time.monotonic()
    for _ in range(60):
        await rl.acquire("x")
    elapsed = time.monotonic() - t0
    # 10 from the burst, 50 at 1000/s: at least ~50 ms; generous upper bound.
    assert 0.045 <= elapsed < 5


def test_constructor_validation() -> None:
    assert isinstance(RateLimiter("deribit").limiter, Limiter)
    with pytest.raises(ConfigError) as info:
        RateLimiter(42)  # type: ignore[arg-type]
    assert info.value.field == "rate_limit"
    for bad in (-1, 1.5, True, "8"):
        with pytest.raises(ConfigError) as info:
            RateLimiter(one_bucket(1, 1), max_queue=bad)  # type: ignore[arg-type]
        assert info.value.field == "max_queue"
    rl = RateLimiter(one_bucket(1, 1), max_queue=7)
    assert rl.max_queue == 7
    assert repr(rl) == "RateLimiter(queue_depth=0, max_queue=7, pressure='none')"


def test_many_distinct_method_names_stay_correct() -> None:
    clock = FakeClock()
    lim = preset("deribit", clock=clock)
    rl = RateLimiter(lim)
    passed = sum(rl.acquire_nowait(f"public/m{i}") for i in range(5000))
    assert passed == 100  # one shared 50,000-credit pool at 500 per call
    assert sum(rl.acquire_nowait("private/buy") for _ in range(30)) == 20

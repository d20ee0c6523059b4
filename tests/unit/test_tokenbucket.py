"""zenws.fast.ratelimit: TokenBucket refill math and the Limiter method table."""

from __future__ import annotations

import importlib.machinery
import math
import time
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zenws.errors import ConfigError
from zenws.fast import ratelimit
from zenws.fast.ratelimit import Limiter, Route, TokenBucket

NS = 1_000_000_000


class FakeClock:
    """Integer-nanosecond clock the test advances by hand."""

    def __init__(self, start: int = 5 * NS) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float = 0.0, ns: int = 0) -> None:
        self.now += round(seconds * NS) + ns


def bucket(capacity: float, rate: float) -> tuple[TokenBucket, FakeClock]:
    clock = FakeClock()
    return TokenBucket(capacity, rate, clock=clock), clock


def test_compiled_extension_loaded() -> None:
    assert isinstance(ratelimit.__loader__, importlib.machinery.ExtensionFileLoader)
    assert ratelimit.__file__ is not None
    assert ratelimit.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


# ---- TokenBucket -------------------------------------------------------------------


def test_starts_full_and_takes_tokens() -> None:
    b, _ = bucket(3, 1)
    assert b.tokens == 3.0
    assert b.try_acquire() and b.try_acquire(1.5)
    assert b.tokens == pytest.approx(0.5)
    assert not b.try_acquire(1)
    assert b.tokens == pytest.approx(0.5)  # a refusal takes nothing
    assert b.try_acquire(0.5)
    assert b.try_acquire(0)  # free requests always pass


def test_refill_is_continuous_and_capped() -> None:
    b, clock = bucket(10, 4)
    assert b.try_acquire(10)
    clock.advance(0.25)
    assert b.tokens == pytest.approx(1.0, abs=1e-12)
    clock.advance(ns=125_000_000)  # 0.5 token more
    assert b.tokens == pytest.approx(1.5, abs=1e-12)
    clock.advance(3600)
    assert b.tokens == 10.0  # never above capacity
    assert b.try_acquire(10) and not b.try_acquire(0.001)


def test_refill_is_lazy_and_independent_of_access_pattern() -> None:
    a, ca = bucket(100, 7)
    b, cb = bucket(100, 7)
    a.try_acquire(100)
    b.try_acquire(100)
    for _ in range(1000):  # many small steps vs one big one
        ca.advance(ns=1_000_000)
        _ = a.tokens
    cb.advance(1.0)
    assert a.tokens == pytest.approx(b.tokens, rel=1e-9) == pytest.approx(7.0)


def test_time_until_is_exact() -> None:
    b, clock = bucket(10, 2)
    assert b.time_until(10) == 0.0
    assert b.try_acquire(10)
    assert b.time_until(1) == 0.5
    assert b.time_until(0) == 0.0
    clock.advance(ns=499_999_999)
    assert not b.try_acquire(1)
    clock.advance(ns=1)
    assert b.time_until(1) == 0.0
    assert b.try_acquire(1)
    assert b.tokens == 0.0
    clock.advance(0.25)  # 0.5 token
    assert b.time_until(3) == pytest.approx(1.25, abs=1e-12)


@settings(max_examples=300, deadline=None)
@given(
    capacity=st.floats(min_value=0.01, max_value=1e6),
    rate=st.floats(min_value=0.01, max_value=1e6),
    spend=st.floats(min_value=0, max_value=1),
    want=st.floats(min_value=0, max_value=1),
)
def test_waiting_time_until_is_always_enough(
    capacity: float, rate: float, spend: float, want: float
) -> None:
    b, clock = bucket(capacity, rate)
    assert b.try_acquire(capacity * spend)
    cost = capacity * want
    wait = b.time_until(cost)
    assert wait >= 0.0
    clock.advance(ns=math.ceil(wait * NS))
    assert b.try_acquire(cost)
    assert 0.0 <= b.tokens <= capacity


def test_refund() -> None:
    b, _ = bucket(5, 1)
    assert b.try_acquire(4)
    b.refund(3)
    assert b.tokens == pytest.approx(4.0)
    b.refund(100)
    assert b.tokens == 5.0  # capped
    with pytest.raises(ValueError, match=">= 0"):
        b.refund(-1)
    with pytest.raises(ValueError):
        b.refund(math.nan)


def test_zero_refill_is_a_fixed_budget() -> None:
    b, clock = bucket(2, 0)
    assert b.try_acquire(2)
    clock.advance(10_000)
    assert b.tokens == 0.0
    assert b.time_until(1) == math.inf
    assert not b.try_acquire(1)
    b.refund(1)
    assert b.time_until(1) == 0.0 and b.try_acquire(1)


def test_drain() -> None:
    b, clock = bucket(4, 2)
    b.drain()
    assert b.tokens == 0.0 and not b.try_acquire(1)
    clock.advance(0.5)
    assert b.try_acquire(1)


def test_clock_going_backwards_earns_nothing() -> None:
    b, clock = bucket(4, 1)
    b.try_acquire(4)
    clock.advance(-10)
    assert b.tokens == 0.0
    clock.advance(10.5)  # back to 0.5 s after the spend
    assert b.tokens == pytest.approx(0.5)


@pytest.mark.parametrize("bad", [-1.0, math.nan, 4.0001, math.inf])
def test_bad_costs_raise_at_call_time(bad: float) -> None:
    b, _ = bucket(4, 1)
    with pytest.raises(ValueError):
        b.try_acquire(bad)
    with pytest.raises(ValueError):
        b.time_until(bad)
    assert b.tokens == 4.0


def test_cost_above_capacity_is_a_clear_error_not_an_endless_wait() -> None:
    b, _ = bucket(4, 1)
    with pytest.raises(ValueError, match="exceeds the bucket capacity 4"):
        b.time_until(5)


@pytest.mark.parametrize(
    ("capacity", "rate", "field"),
    [
        (0, 1, "capacity"),
        (-1, 1, "capacity"),
        (math.nan, 1, "capacity"),
        (math.inf, 1, "capacity"),
        ("10", 1, "capacity"),
        (None, 1, "capacity"),
        (1, -0.5, "refill_per_s"),
        (1, math.nan, "refill_per_s"),
        (1, math.inf, "refill_per_s"),
        (1, "1", "refill_per_s"),
    ],
)
def test_construction_validated(capacity: object, rate: object, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        TokenBucket(capacity, rate)  # type: ignore[arg-type]
    assert info.value.field == field


def test_clock_must_be_callable_returning_int() -> None:
    with pytest.raises(ConfigError) as info:
        TokenBucket(1, 1, clock=123)  # type: ignore[arg-type]
    assert info.value.field == "clock"
    with pytest.raises(TypeError):
        TokenBucket(1, 1, clock=lambda: 1.5)  # type: ignore[arg-type, return-value]
    calls = []

    def broken() -> int:
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("clock failed")
        return 0

    b = TokenBucket(1, 1, clock=broken)
    with pytest.raises(RuntimeError, match="clock failed"):
        b.try_acquire()
    with pytest.raises(RuntimeError, match="clock failed"):
        b.time_until()


def test_default_clock_is_real_monotonic_time() -> None:
    b = TokenBucket(1000, 1000)
    assert b.try_acquire(1000)
    assert not b.try_acquire(500)
    time.sleep(0.02)  # the scenario: real time passes
    assert 10 <= b.tokens <= 1000  # >= 20 ms of refill minus generous slack


def test_properties_and_repr() -> None:
    b, _ = bucket(50_000, 10_000)
    assert b.capacity == 50_000.0 and b.refill_per_s == 10_000.0
    assert repr(b) == "TokenBucket(capacity=50000, refill_per_s=10000, tokens=50000)"


# ---- Limiter -------------------------------------------------------------------------


def make_limiter() -> tuple[Limiter, FakeClock]:
    clock = FakeClock()
    buckets = {
        "credits": TokenBucket(1000, 100, clock=clock),
        "orders": TokenBucket(3, 1, clock=clock),
    }
    costs = {"private/buy": ("orders", 1.0), "public/subscribe": ("credits", 300.0)}
    return Limiter(buckets, costs, ("credits", 50.0)), clock


def test_limiter_maps_methods_to_buckets() -> None:
    lim, _ = make_limiter()
    assert lim.cost_of("private/buy") == ("orders", 1.0)
    assert lim.cost_of("public/subscribe") == ("credits", 300.0)
    assert lim.cost_of("public/anything") == ("credits", 50.0)
    assert lim.bucket_for("private/buy") is lim.buckets["orders"]
    assert lim.bucket_for("nope") is lim.buckets["credits"]
    route = lim.route("public/subscribe")
    assert isinstance(route, Route)
    assert (route.bucket_name, route.cost) == ("credits", 300.0)
    assert lim.costs == {"private/buy": ("orders", 1.0), "public/subscribe": ("credits", 300.0)}
    assert lim.default == ("credits", 50.0)


def test_limiter_acquire_draws_from_the_right_bucket() -> None:
    lim, clock = make_limiter()
    orders, credits = lim.buckets["orders"], lim.buckets["credits"]
    assert all(lim.try_acquire("private/buy") for _ in range(3))
    assert not lim.try_acquire("private/buy")
    assert credits.tokens == 1000.0  # untouched
    assert lim.time_until("private/buy") == 1.0
    assert lim.try_acquire("public/subscribe") and lim.try_acquire("x")
    assert credits.tokens == pytest.approx(650.0)
    lim.refund("public/subscribe")
    assert credits.tokens == pytest.approx(950.0)
    clock.advance(1.0)
    assert orders.tokens == pytest.approx(1.0) and lim.try_acquire("private/buy")


def test_limiter_accepts_any_mapping() -> None:
    b = TokenBucket(1, 1)
    lim = Limiter(MappingProxyType({"a": b}), MappingProxyType({"m": ("a", 1)}), ("a", 0.5))
    assert lim.cost_of("m") == ("a", 1.0)


@pytest.mark.parametrize(
    ("buckets", "costs", "default", "field", "match"),
    [
        ({}, {}, ("a", 1), "buckets", "non-empty"),
        ({"a": 5}, {}, ("a", 1), "buckets", "TokenBucket"),
        (None, {}, ("a", 1), "buckets", "mapping"),
        ("ab", {"m": ("a", 1)}, ("a", 1), "buckets", "mapping"),
        (..., [("m", ("a", 1))], ("a", 1), "costs", "mapping"),
        (..., {"m": ("zz", 1)}, ("a", 1), "costs", "unknown bucket 'zz'"),
        (..., {"m": ("a", 11)}, ("a", 1), "costs", "exceeds the capacity 10"),
        (..., {"m": ("a", -1)}, ("a", 1), "costs", ">= 0"),
        (..., {"m": ("a", math.nan)}, ("a", 1), "costs", ">= 0"),
        (..., {"m": ("a", "1")}, ("a", 1), "costs", "number"),
        (..., {"m": "a"}, ("a", 1), "costs", "pair"),
        (..., {1: ("a", 1)}, ("a", 1), "costs", "str"),
        (..., {}, ("b", 1), "default", "unknown bucket"),
        (..., {}, ("a", 20), "default", "exceeds"),
        (..., {}, None, "default", "pair"),
    ],
)
def test_limiter_validation(
    buckets: object, costs: object, default: object, field: str, match: str
) -> None:
    if buckets is ...:
        buckets = {"a": TokenBucket(10, 1)}
    with pytest.raises(ConfigError, match=match) as info:
        Limiter(buckets, costs, default)  # type: ignore[arg-type]
    assert info.value.field == field

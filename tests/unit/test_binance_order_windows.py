"""OrderWindows: when order placement may resume, from the server's ORDERS counts."""

from __future__ import annotations

from typing import Any

from zenws.adapters._binance_limits import OrderWindows
from zenws.exchanges import binance as wire


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def orders(count: int, limit: int, interval: str, num: int) -> dict[str, Any]:
    return {
        "rateLimitType": "ORDERS",
        "interval": interval,
        "intervalNum": num,
        "limit": limit,
        "count": count,
    }


def test_full_short_window_holds_until_its_first_observation_plus_the_interval() -> None:
    clock = Clock()
    w = OrderWindows(clock)
    w.observe([orders(1, 3, "SECOND", 10)])  # the window holds an order at t=1000
    clock.now += 2
    w.observe([orders(2, 3, "SECOND", 10)])
    assert w.wait() == 0
    clock.now += 2
    w.observe([orders(3, 3, "SECOND", 10), orders(3, wire.ORDERS_PER_DAY, "DAY", 1)])
    assert w.wait() == 6.0  # ends by 1000 + 10, whatever the server's alignment
    clock.now = 1010.0
    assert w.wait() == 0


def test_a_count_that_does_not_grow_starts_a_new_window() -> None:
    clock = Clock()
    w = OrderWindows(clock)
    w.observe([orders(2, 3, "SECOND", 10)])
    clock.now += 9
    w.observe([orders(1, 3, "SECOND", 10)])  # reset: a new window began after t=1000
    clock.now += 1
    w.observe([orders(3, 3, "SECOND", 10)])
    assert w.wait() == 9.0  # bounded by the new window's first observation (t=1009)


def test_daily_limit_holds_for_the_day_window() -> None:
    clock = Clock()
    w = OrderWindows(clock)
    w.observe([orders(5, 6, "DAY", 1)])
    clock.now += 100
    w.observe([orders(6, 6, "DAY", 1), orders(1, 50, "SECOND", 10)])
    assert w.wait() == 86_400.0 - 100


def test_entries_it_cannot_read_are_ignored() -> None:
    w = OrderWindows(Clock())
    w.observe(
        [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
             "limit": 1, "count": 5},
            orders(9, 3, "FORTNIGHT", 1),
            orders(9, 3, "SECOND", 0),
            {"rateLimitType": "ORDERS", "limit": 3},
            "junk",
        ]
    )  # fmt: skip
    assert w.wait() == 0

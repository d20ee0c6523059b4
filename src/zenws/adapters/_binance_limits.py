"""Binance's ``ORDERS`` windows, followed from the server's ``rateLimits`` counts.

Binance counts new orders in fixed windows (``ORDERS_PER_10S`` per 10 s and
``ORDERS_PER_DAY`` per day, :mod:`zenws.exchanges.binance`) and resets each count when its
window ends.  A refilling token bucket cannot express that: after the server says the count
reached the limit, nothing more may be placed until that window is over.  The server does not
say when it ends, only the interval; :class:`OrderWindows` bounds it from above: a window
that holds an order observed at time ``t`` started at or before ``t``, so it ends at or
before ``t + interval``, the earliest observation of the window giving the tightest bound.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from ..exchanges.binance import INTERVAL_SECONDS

#: Seconds per ``interval`` unit of a ``rateLimits`` entry (Binance's API docs, "Rate limits").


class _Window:
    """One ``ORDERS`` window: its earliest observation and the last count seen."""

    __slots__ = ("count", "first_seen", "length")

    def __init__(self, length: float) -> None:
        self.length = length
        self.first_seen = -1.0  # monotonic s; < 0: no observation yet
        self.count = 0


class OrderWindows:
    """When order placement may resume, from the ``ORDERS`` entries the server reports.

    Args:
        clock: monotonic seconds (``time.monotonic``; a test may pass another clock).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[float, _Window] = {}
        self.blocked_until = 0.0  #: monotonic s before which no order may be placed

    def observe(self, entries: Iterable[Any]) -> None:
        """Read one response's ``rateLimits`` (entries of other types are ignored)."""
        now = self._clock()
        for item in entries:
            if not isinstance(item, dict) or item.get("rateLimitType") != "ORDERS":
                continue
            count, limit = item.get("count"), item.get("limit")
            unit, num = INTERVAL_SECONDS.get(item.get("interval", "")), item.get("intervalNum")
            if not isinstance(count, int) or not isinstance(limit, int) or unit is None:
                continue
            if not isinstance(num, int) or num <= 0:
                continue
            self._see(unit * num, count, limit, now)

    def _see(self, length: float, count: int, limit: int, now: float) -> None:
        w = self._windows.get(length)
        if w is None:
            w = self._windows[length] = _Window(length)
        # A count that did not grow, or a whole interval since the first observation: a new
        # window (when unsure, a later first observation only makes the bound later).
        if w.first_seen < 0 or count <= w.count or now - w.first_seen >= length:
            w.first_seen = now
        w.count = count
        if count >= limit:
            self.blocked_until = max(self.blocked_until, w.first_seen + length)

    def wait(self) -> float:
        """Seconds before the next order may be placed (0: now)."""
        return max(0.0, self.blocked_until - self._clock())

"""Local Deribit order book from ``book.{instrument}.{interval}`` notifications.

The first message of a subscription is ``type: "snapshot"``; every later one is
``type: "change"`` carrying ``change_id`` and ``prev_change_id``.  A change whose
``prev_change_id`` differs from the last applied ``change_id`` means a message was lost:
the book is no longer trustworthy, so it is cleared and marked stale until the next
snapshot (https://docs.deribit.com/#book-instrument_name-interval).
Levels are ``[action, price, amount]`` with action ``new``/``change``/``delete``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BookGap", "OrderBook"]


@dataclass(frozen=True)
class BookGap:
    """A detected sequence gap.

    Attributes:
        channel: the book channel.
        expected: the last applied ``change_id`` (what ``prev_change_id`` should have been).
        got: the ``prev_change_id`` that arrived (``None`` when missing).
        change_id: the ``change_id`` of the offending message.
    """

    channel: str
    expected: int | None
    got: int | None
    change_id: int | None


@dataclass
class OrderBook:
    """Bids and asks of one instrument, kept in sync from snapshot + change messages.

    Attributes:
        channel: ``book.{instrument}.{interval}``.
        instrument: the instrument name.
        bids: price -> amount.
        asks: price -> amount.
        change_id: last applied change id (``None`` before the first snapshot).
        timestamp: exchange timestamp (ms) of the last applied message.
        stale: True until a snapshot arrives (initially and after a gap).
        gaps: gaps detected on this book.
        updates: messages applied.
    """

    channel: str
    instrument: str = ""
    bids: dict[float, float] = field(default_factory=dict)
    asks: dict[float, float] = field(default_factory=dict)
    change_id: int | None = None
    timestamp: int = 0
    stale: bool = True
    gaps: int = 0
    updates: int = 0

    def apply(self, data: Mapping[str, Any]) -> BookGap | None:
        """Apply one notification's ``params.data``.

        Args:
            data: the ``data`` object of a book notification.

        Returns:
            ``None`` when applied (or ignored while stale), a :class:`BookGap` when the
            sequence broke; the book is then cleared and stale until the next snapshot.
        """
        kind = data.get("type")
        change_id = data.get("change_id")
        if kind == "snapshot":
            self.bids.clear()
            self.asks.clear()
            self._levels(self.bids, data.get("bids", ()))
            self._levels(self.asks, data.get("asks", ()))
            self._applied(data, change_id)
            self.stale = False
            return None
        if self.stale:
            return None  # waiting for a snapshot after a gap: changes cannot be applied
        prev = data.get("prev_change_id")
        if not isinstance(prev, int) or prev != self.change_id:
            gap = BookGap(
                self.channel,
                self.change_id,
                prev if isinstance(prev, int) else None,
                change_id if isinstance(change_id, int) else None,
            )
            self.invalidate()
            self.gaps += 1
            return gap
        self._levels(self.bids, data.get("bids", ()))
        self._levels(self.asks, data.get("asks", ()))
        self._applied(data, change_id)
        return None

    def invalidate(self) -> None:
        """Drop every level and wait for a snapshot."""
        self.bids.clear()
        self.asks.clear()
        self.stale = True

    def _applied(self, data: Mapping[str, Any], change_id: Any) -> None:
        self.change_id = change_id if isinstance(change_id, int) else None
        ts = data.get("timestamp")
        self.timestamp = ts if isinstance(ts, int) else self.timestamp
        name = data.get("instrument_name")
        if isinstance(name, str):
            self.instrument = name
        self.updates += 1

    @staticmethod
    def _levels(side: dict[float, float], levels: Iterable[Any]) -> None:
        for level in levels:
            if not isinstance(level, (list, tuple)) or len(level) != 3:
                continue
            action, price, amount = level
            if action == "delete" or not amount:
                side.pop(float(price), None)
            else:  # "new" and "change" both set the level's amount
                side[float(price)] = float(amount)

    def best_bid(self) -> tuple[float, float] | None:
        """Highest bid ``(price, amount)`` or ``None``."""
        return max(self.bids.items()) if self.bids else None

    def best_ask(self) -> tuple[float, float] | None:
        """Lowest ask ``(price, amount)`` or ``None``."""
        return min(self.asks.items()) if self.asks else None

    def top(self, depth: int = 10) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """The best ``depth`` levels of each side: ``(bids high->low, asks low->high)``."""
        bids = sorted(self.bids.items(), reverse=True)[:depth]
        asks = sorted(self.asks.items())[:depth]
        return bids, asks

    def spread(self) -> float | None:
        """Best ask minus best bid, or ``None`` if a side is empty."""
        bid, ask = self.best_bid(), self.best_ask()
        return None if bid is None or ask is None else ask[0] - bid[0]

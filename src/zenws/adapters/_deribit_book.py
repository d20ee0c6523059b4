"""Local Deribit order book from ``book.{instrument}.{interval}`` notifications.

The first message of a subscription is ``type: "snapshot"``; every later one is
``type: "change"`` carrying ``change_id`` and ``prev_change_id``.  A change whose
``prev_change_id`` differs from the last applied ``change_id`` means a message was lost:
the book is no longer trustworthy, so it is cleared and marked stale until the next
snapshot (https://docs.deribit.com/#book-instrument_name-interval).
Levels are ``[action, price, amount]`` with action ``new``/``change``/``delete``.

The levels live in a compiled :class:`zenws.fast.book.L2Book` (``book.l2``); the adapter
applies each notification's raw bytes to it in C (:meth:`OrderBook.apply_raw`), so no
Python object is made per level.  ``bids``/``asks`` are read-only live views.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ProtocolError
from ..fast.book import APPLIED, ASK, BID, GAP, L2Book, SideView
from ..fast.jsonrpc import scan
from ..recording import read_recording

__all__ = ["BookGap", "OrderBook", "books_from_recording"]


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


class OrderBook:
    """Bids and asks of one instrument, kept in sync from snapshot + change messages.

    Args:
        channel: ``book.{instrument}.{interval}``.
        instrument: the instrument name.

    Attributes:
        channel: the book channel.
        instrument: the instrument name.
        l2: the compiled book (``top_into``, ``vwap``, ``to_numpy``, ...).
        bids: read-only live mapping price -> amount (best price first).
        asks: likewise.
    """

    __slots__ = ("asks", "bids", "channel", "instrument", "l2")

    def __init__(self, channel: str, instrument: str = "") -> None:
        self.channel = channel
        self.instrument = instrument
        self.l2 = L2Book(channel, policy="deribit")
        self.bids: SideView = self.l2.side_view(BID)
        self.asks: SideView = self.l2.side_view(ASK)

    def apply_raw(self, raw: bytes) -> BookGap | None:
        """Apply one raw notification (``zenws.Message.raw``) in C.

        Returns:
            ``None`` when applied (or ignored while stale), a :class:`BookGap` when the
            sequence broke; the book is then cleared and stale until the next snapshot.

        Raises:
            ProtocolError: the message is malformed; the book is unchanged.
        """
        if self.l2.apply_deribit(raw) == GAP:
            return self.last_gap()
        return None

    def apply(self, data: Mapping[str, Any]) -> BookGap | None:
        """Apply one notification's already decoded ``params.data``.

        Args:
            data: the ``data`` object of a book notification.

        Returns:
            ``None`` when applied (or ignored while stale), a :class:`BookGap` when the
            sequence broke; the book is then cleared and stale until the next snapshot.
        """
        kind = data.get("type")
        change_id = data.get("change_id")
        cid = change_id if isinstance(change_id, int) else None
        ts = data.get("timestamp")
        ts = ts if isinstance(ts, int) else self.l2.timestamp
        bids = self._levels(data.get("bids", ()))
        asks = self._levels(data.get("asks", ()))
        if kind == "snapshot":
            self.l2.apply_snapshot(bids, asks, cid, timestamp=ts)
            name = data.get("instrument_name")
            if isinstance(name, str):
                self.instrument = name
            return None
        prev = data.get("prev_change_id")
        prev = prev if isinstance(prev, int) else None
        if self.l2.apply_delta(bids, asks, cid, prev=prev, timestamp=ts) == GAP:
            return self.last_gap()
        return None

    def last_gap(self) -> BookGap | None:
        """The last gap of this book, as a :class:`BookGap`."""
        gap = self.l2.last_gap
        if gap is None:
            return None
        return BookGap(self.channel, gap.expected, gap.got, gap.seq)

    def invalidate(self, reason: str = "invalidated") -> None:
        """Drop every level and wait for a snapshot."""
        self.l2.invalidate(reason)

    @staticmethod
    def _levels(levels: Iterable[Any]) -> list[tuple[float, float]]:
        out: list[tuple[float, float]] = []
        for level in levels:
            if not isinstance(level, (list, tuple)) or len(level) != 3:
                continue
            action, price, amount = level
            # "new" and "change" both set the level's amount; 0 and "delete" remove it
            out.append((float(price), 0.0 if action == "delete" else float(amount or 0.0)))
        return out

    # ------------------------------------------------------------------ state

    @property
    def change_id(self) -> int | None:
        """Last applied change id (``None`` before the first snapshot and while stale)."""
        return self.l2.seq

    @property
    def timestamp(self) -> int:
        """Exchange timestamp (ms) of the last applied message."""
        return self.l2.timestamp

    @property
    def stale(self) -> bool:
        """True until a snapshot arrives (initially and after a gap)."""
        return self.l2.stale

    @property
    def gaps(self) -> int:
        """Gaps detected on this book."""
        return self.l2.gaps

    @property
    def updates(self) -> int:
        """Messages applied."""
        return self.l2.updates

    # ------------------------------------------------------------------ reading

    def best_bid(self) -> tuple[float, float] | None:
        """Highest bid ``(price, amount)`` or ``None`` (O(1))."""
        return self.l2.best_bid()

    def best_ask(self) -> tuple[float, float] | None:
        """Lowest ask ``(price, amount)`` or ``None`` (O(1))."""
        return self.l2.best_ask()

    def top(self, depth: int = 10) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """The best ``depth`` levels of each side: ``(bids high->low, asks low->high)``.

        For arrays without a Python object per level use ``l2.top(side, n)`` or
        ``l2.top_into(side, out)``.
        """
        bids = [(float(p), float(a)) for p, a in self.l2.top(BID, depth)]
        asks = [(float(p), float(a)) for p, a in self.l2.top(ASK, depth)]
        return bids, asks

    def spread(self) -> float | None:
        """Best ask minus best bid, or ``None`` if a side is empty."""
        return self.l2.spread()

    def mid(self) -> float | None:
        """Mid price, or ``None`` if a side is empty."""
        return self.l2.mid()

    @property
    def crossed(self) -> bool:
        """Best bid >= best ask."""
        return self.l2.crossed

    def __repr__(self) -> str:
        return f"<OrderBook {self.channel!r} {self.l2!r}>"


def books_from_recording(
    path: str | os.PathLike[str],
    *,
    channels: Iterable[str] | None = None,
    on_update: Callable[[L2Book, int], Any] | None = None,
) -> dict[str, L2Book]:
    """Rebuild the Deribit books of a recording (``zenws.record`` / ``record_to``) offline.

    Every incoming text frame of a ``book.*`` channel is applied to that channel's
    :class:`~zenws.fast.book.L2Book` exactly as the live adapter applies it (raw bytes, in
    C, sequence-checked); a new connection epoch marks every book stale until its next
    snapshot, as a reconnect does live.  A malformed message marks its book stale with the
    reason instead of stopping the rebuild.

    Args:
        path: the recording (JSONL).
        channels: only these channels (default: every ``book.*`` channel seen).
        on_update: ``on_update(book, mono_ns)`` after each applied message (``mono_ns`` is
            the frame's offset from the session start), e.g. to check a strategy's view.

    Returns:
        Books by channel, in the state after the last frame.
    """
    wanted = set(channels) if channels is not None else None
    books: dict[str, L2Book] = {}
    frames, _errors = read_recording(path)
    epoch = None
    for frame in frames:
        if frame.dir != "in" or frame.type != "text" or not isinstance(frame.data, str):
            continue
        if frame.epoch != epoch:
            if epoch is not None:
                for each in books.values():
                    each.invalidate("reconnected")
            epoch = frame.epoch
        raw = frame.data.encode()
        channel = scan(raw).channel
        if channel is None or not channel.startswith("book."):
            continue
        if wanted is not None and channel not in wanted:
            continue
        book = books.get(channel)
        if book is None:
            book = books[channel] = L2Book(channel, policy="deribit")
        try:
            result = book.apply_deribit(raw)
        except ProtocolError as exc:
            book.invalidate(f"malformed message at line {frame.line}: {exc}")
            continue
        if result == APPLIED and on_update is not None:
            on_update(book, frame.mono_ns)
    return books

"""Binance diff-depth books on :class:`zenws.fast.book.L2Book`.

Binance's procedure ("How to manage a local order book correctly",
https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams):

1. subscribe to ``<symbol>@depth`` (or ``@depth@100ms``) and buffer its events;
2. get a snapshot (here through the WebSocket API ``depth`` method);
3. drop buffered events with ``u <= lastUpdateId``;
4. the first applied event must have ``U <= lastUpdateId + 1 <= u``, else take a new
   snapshot;
5. then each event's ``U`` must be the previous event's ``u + 1`` (futures: ``pu`` equals
   the previous ``u``); a gap means the book is wrong: start again from 2.

Steps 3-5 are the ``binance_spot`` / ``binance_futures`` sequence policies of the compiled
book; this module buffers, fetches snapshots and resyncs one book at a time.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..fast.book import GAP, L2Book

__all__ = ["BookGap", "BookSync", "DepthBook"]

_log = logging.getLogger("zenws.binance")

#: Events kept while a book waits for its snapshot (older ones are dropped: the snapshot
#: that follows covers them, or the sequence check asks for a newer one).
MAX_BUFFER = 10_000


@dataclass(frozen=True)
class BookGap:
    """A broken diff-depth sequence on one book.

    Attributes:
        symbol: e.g. ``"BTCUSDT"``.
        stream: e.g. ``"btcusdt@depth@100ms"``.
        expected: the ``U`` (or ``pu``) the sequence needed.
        got: what arrived.
    """

    symbol: str
    stream: str
    expected: int | None
    got: int | None


class DepthBook:
    """One symbol's local book: the compiled book plus the events buffered for it."""

    def __init__(self, symbol: str, stream: str, *, futures: bool = False) -> None:
        self.symbol = symbol
        self.stream = stream
        self.book = L2Book(stream, policy="binance_futures" if futures else "binance_spot")
        self.buffer: deque[dict[str, Any]] = deque(maxlen=MAX_BUFFER)
        self.syncing: asyncio.Task[None] | None = None
        self.snapshots = 0

    def apply(self, event: dict[str, Any]) -> int:
        """Apply one ``depthUpdate`` event; returns the book's status code."""
        return int(
            self.book.apply_delta(
                event.get("b") or (),
                event.get("a") or (),
                int(event["u"]),
                first=int(event["U"]),
                prev=int(event["pu"]) if "pu" in event else None,
                timestamp=int(event.get("E") or 0),
            )
        )


class BookSync:
    """Keeps every :class:`DepthBook` in sync (snapshots, buffering, per-book resync).

    Args:
        snapshot: ``await snapshot(symbol, limit)`` -> the ``depth`` result.
        spawn: starts a background task owned by the adapter.
        limit: snapshot depth (Binance ``depth`` ``limit``).
        retry_delay: seconds before a failed snapshot is tried again.
    """

    def __init__(
        self,
        snapshot: Callable[[str, int], Awaitable[Any]],
        spawn: Callable[[Any], asyncio.Task[Any]],
        *,
        limit: int = 1000,
        retry_delay: float = 0.5,
    ) -> None:
        self._snapshot = snapshot
        self._spawn = spawn
        self.limit = limit
        self.retry_delay = retry_delay
        self.books: dict[str, DepthBook] = {}  # by stream
        self.gaps = 0
        self.resyncs = 0
        self.on_gap: Callable[[BookGap], Any] | None = None
        self.on_update: dict[str, Callable[[L2Book], Any] | None] = {}

    def add(self, symbol: str, stream: str, handler: Callable[[L2Book], Any] | None) -> DepthBook:
        """Track ``stream`` (its events arrive through :meth:`on_event`)."""
        entry = self.books.get(stream)
        if entry is None:
            entry = self.books[stream] = DepthBook(symbol, stream, futures=False)
        self.on_update[stream] = handler
        return entry

    def forget(self, stream: str) -> None:
        """Stop tracking ``stream``."""
        entry = self.books.pop(stream, None)
        self.on_update.pop(stream, None)
        if entry is not None and entry.syncing is not None:
            entry.syncing.cancel()

    def invalidate_all(self, reason: str) -> None:
        """Every book is stale (the stream connection was replaced): resync each."""
        for entry in self.books.values():
            entry.book.invalidate(reason)
            entry.buffer.clear()

    def on_event(self, stream: str, event: Any) -> None:
        """A ``depthUpdate`` event of ``stream``."""
        entry = self.books.get(stream)
        if entry is None or not isinstance(event, dict):
            return
        book = entry.book
        if book.stale or entry.syncing is not None:
            entry.buffer.append(event)
            self._ensure_sync(entry)
            return
        status = entry.apply(event)
        if status == GAP:
            self._gap(entry, event)
            return
        self._updated(entry)

    def _updated(self, entry: DepthBook) -> None:
        handler = self.on_update.get(entry.stream)
        if handler is not None:
            handler(entry.book)

    def _gap(self, entry: DepthBook, event: dict[str, Any]) -> None:
        gap = entry.book.last_gap
        info = BookGap(
            entry.symbol,
            entry.stream,
            gap.expected if gap is not None else None,
            gap.got if gap is not None else None,
        )
        self.gaps += 1
        _log.warning(
            "%s: diff-depth gap (expected %s, got %s); resyncing this book",
            entry.stream,
            info.expected,
            info.got,
        )
        if self.on_gap is not None:
            self.on_gap(info)
        entry.buffer.clear()
        entry.buffer.append(event)  # it may be the first of the new sequence
        self.resyncs += 1
        self._ensure_sync(entry)

    def _ensure_sync(self, entry: DepthBook) -> None:
        if entry.syncing is None:
            entry.syncing = self._spawn(self._sync(entry))

    async def _sync(self, entry: DepthBook) -> None:
        try:
            while self.books.get(entry.stream) is entry:
                if not entry.buffer:
                    # Binance step 1: the snapshot must come after the first buffered event.
                    await asyncio.sleep(0.01)
                    continue
                try:
                    snap = await self._snapshot(entry.symbol, self.limit)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    _log.warning("%s: snapshot failed (%s); retrying", entry.stream, exc)
                    await asyncio.sleep(self.retry_delay)
                    continue
                if self._apply_snapshot(entry, snap):
                    return
                await asyncio.sleep(0)  # a newer snapshot is needed: events keep coming
        finally:
            entry.syncing = None

    def _apply_snapshot(self, entry: DepthBook, snap: Any) -> bool:
        last = int(snap["lastUpdateId"])
        book = entry.book
        book.apply_snapshot(snap.get("bids") or (), snap.get("asks") or (), last)
        entry.snapshots += 1
        pending = list(entry.buffer)
        entry.buffer.clear()
        for i, event in enumerate(pending):
            if entry.apply(event) == GAP:
                # The snapshot is older than the first buffered event (U > lastUpdateId + 1)
                # or the buffer itself has a hole: keep what is left, fetch a newer one.
                entry.buffer.extend(pending[i:])
                return False
        if not book.stale:
            self._updated(entry)
        return not book.stale

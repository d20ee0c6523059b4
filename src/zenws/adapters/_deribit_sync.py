"""Local books of a Deribit session: routing, gap counting and per-channel resync.

A gap (``prev_change_id`` != last ``change_id``, see :mod:`._deribit_book`) clears the book
(so does a malformed book message, logged and emitted as ``protocol.error``);
this module counts it, emits ``deribit.gap``, calls the user's ``on_gap`` and resubscribes
*that channel only* (``public/unsubscribe`` + ``public/subscribe``, through the adapter's
rate-limited ``request``) so the server sends a fresh snapshot.  Resyncs of one channel are
at least ``resync_interval`` apart so a flapping feed cannot burn the credit budget.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from .. import telemetry as _tm
from ..errors import ConnectionLost, ProtocolError
from ..fast.book import APPLIED, GAP
from ._deribit_book import BookGap, OrderBook

__all__ = ["BookSync"]

_log = logging.getLogger("zenws.deribit")

RequestFn = Callable[[str, Any], Awaitable[Any]]
SpawnFn = Callable[[Coroutine[Any, Any, Any]], Any]


class BookSync:
    """Books by channel plus the gap/resync machinery.

    Args:
        request: ``await request(method, params)`` (rate-limited).
        spawn: runs a background coroutine owned by the adapter.
        epoch: returns the current connection epoch (for telemetry).
        resync_interval: minimum seconds between two resyncs of one channel.
    """

    def __init__(
        self,
        request: RequestFn,
        spawn: SpawnFn,
        epoch: Callable[[], int],
        resync_interval: float = 1.0,
    ) -> None:
        self.books: dict[str, OrderBook] = {}
        self.gaps = 0
        self.resyncs = 0
        self.malformed = 0
        self.on_gap: Callable[[BookGap], Any] | None = None
        self._request = request
        self._spawn = spawn
        self._epoch = epoch
        self._interval = resync_interval
        self._resyncing: set[str] = set()
        self._last: dict[str, float] = {}

    def book(self, channel: str, instrument: str) -> OrderBook:
        """The book of ``channel`` (created stale on first use)."""
        book = self.books.get(channel)
        if book is None:
            book = self.books[channel] = OrderBook(channel, instrument)
        return book

    def handler(
        self,
        book: OrderBook,
        user: Callable[..., Any] | None,
        *,
        changes: bool = False,
    ) -> Callable[[Any], None]:
        """A subscription handler applying ``zenws.Message.raw`` to ``book`` in C.

        No JSON is decoded here: the compiled book parses and applies the raw bytes.
        ``user(book)`` (``user(book, book.l2.last_change())`` with ``changes``) runs
        after each applied snapshot/change.
        """
        apply = book.l2.apply_deribit

        def on_message(msg: Any) -> None:
            try:
                result = apply(msg.raw)
            except ProtocolError as exc:
                self._on_malformed(book, exc)
                return
            if result == APPLIED:
                if user is not None:
                    if changes:
                        user(book, book.l2.last_change())
                    else:
                        user(book)
            elif result == GAP:
                gap = book.last_gap()
                if gap is not None:
                    self._on_gap(gap)

        return on_message

    def invalidate_all(self) -> None:
        """Mark every book stale (after a reconnect the resubscribe brings snapshots)."""
        for book in self.books.values():
            book.invalidate()

    def forget(self, channel: str) -> None:
        """Drop the book of an unsubscribed channel."""
        self.books.pop(channel, None)

    def _on_gap(self, gap: BookGap) -> None:
        self.gaps += 1
        _log.info("book gap on %s: expected prev %s, got %s", gap.channel, gap.expected, gap.got)
        if _tm.active:
            _tm.emit(
                "deribit.gap",
                {"gaps": self.gaps},
                {"channel": gap.channel, "expected": gap.expected, "got": gap.got,
                 "epoch": self._epoch()},
            )  # fmt: skip
        if self.on_gap is not None:
            try:
                self.on_gap(gap)
            except Exception:
                _log.exception("on_gap callback raised")
        self._resync_soon(gap.channel)

    def _on_malformed(self, book: OrderBook, exc: ProtocolError) -> None:
        # The message may have carried levels we can no longer apply: the book cannot be
        # trusted, so it is treated like a gap (cleared, stale, resubscribed).
        self.malformed += 1
        _log.warning("book %s: %s; resyncing", book.channel, exc)
        book.invalidate(f"malformed message: {exc}")
        if _tm.active:
            meta = {"channel": book.channel, "error": str(exc), "epoch": self._epoch()}
            _tm.emit("protocol.error", {"malformed": self.malformed}, meta)
        self._resync_soon(book.channel)

    def _resync_soon(self, channel: str) -> None:
        if channel not in self._resyncing:
            self._resyncing.add(channel)
            self._spawn(self._resync(channel))

    async def _resync(self, channel: str) -> None:
        try:
            wait = self._last.get(channel, 0.0) + self._interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._last[channel] = time.monotonic()
            await self._request("public/unsubscribe", {"channels": [channel]})
            await self._request("public/subscribe", {"channels": [channel]})
            self.resyncs += 1
        except ConnectionLost:
            pass  # the reconnect restores the channel, with a snapshot, anyway
        except Exception as exc:
            _log.warning("book resync of %s failed: %s", channel, exc)
        finally:
            self._resyncing.discard(channel)

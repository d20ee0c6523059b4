"""Seeded books, trades and tickers, and the market-stream broadcast of the simulator.

Each symbol has ONE book whose diff events (``depthUpdate`` with ``U``/``u``) and trades are
generated once and sent identically to every connection subscribed to them, so two
connections see the same update ids (make-before-break rotation dedupes on them).  The
``depth`` snapshot of the WebSocket API reads the same book: ``lastUpdateId`` is the ``u`` of
the last event sent (https://developers.binance.com/docs/binance-spot-api-docs/
web-socket-streams, "How to manage a local order book correctly").
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

import orjson

from ...exchanges import binance
from ..connection import Connection
from .knobs import BinanceKnobs

__all__ = ["Book", "Market"]

_QTY = 10**8  # quantities in units of 1e-8

#: Stream kinds with generated events (other valid names are accepted and stay silent).
_GENERATED = frozenset({"depth", "trade", "bookTicker", "ticker"})


def price_text(ticks: int) -> str:
    """A price in cents as Binance prints it (``"37000.01000000"``)."""
    return f"{ticks // 100}.{ticks % 100:02d}000000"


def qty_text(units: int) -> str:
    """A quantity in 1e-8 units (``"0.01000000"``)."""
    return f"{units // _QTY}.{units % _QTY:08d}"


class Book:
    """One symbol's simulated book: bids below and asks above a drifting mid price.

    Attributes:
        symbol: upper-case symbol.
        bids / asks: price in cents -> quantity in 1e-8 units.
        last_id: update id of the last change (the snapshot's ``lastUpdateId``).
        trade_id: id of the last trade.
    """

    def __init__(self, symbol: str, price: float, levels: int, rng: random.Random) -> None:
        self.symbol, self.rng, self.levels = symbol, rng, levels
        self.mid = int(price * 100)
        self.bids = {self.mid - i: self._qty() for i in range(1, levels + 1)}
        self.asks = {self.mid + i: self._qty() for i in range(1, levels + 1)}
        self.last_id = 1000
        self.trade_id = 0

    def _qty(self) -> int:
        return self.rng.randint(1, 5000) * 100_000

    def step(self) -> tuple[int, list[list[str]], list[list[str]]]:
        """Change one to three levels near the top; returns ``(first id, bids, asks)``."""
        first = self.last_id + 1
        changes: dict[str, dict[int, int]] = {"b": {}, "a": {}}
        for _ in range(self.rng.randint(1, 3)):
            side = self.rng.choice("ba")
            book = self.bids if side == "b" else self.asks
            offset = self.rng.randint(1, min(self.levels, 20))
            price = self.mid - offset if side == "b" else self.mid + offset
            qty = 0 if (price in book and self.rng.random() < 0.3) else self._qty()
            if qty:
                book[price] = qty
            else:
                book.pop(price, None)
            changes[side][price] = qty
            self.last_id += 1
        bids = [[price_text(p), qty_text(q)] for p, q in changes["b"].items()]
        asks = [[price_text(p), qty_text(q)] for p, q in changes["a"].items()]
        return first, bids, asks

    def best(self) -> tuple[int, int, int, int]:
        """``(bid price, bid qty, ask price, ask qty)`` (0s for an empty side)."""
        bid = max(self.bids, default=0)
        ask = min(self.asks, default=0)
        return bid, self.bids.get(bid, 0), ask, self.asks.get(ask, 0)

    def snapshot(self, limit: int) -> dict[str, Any]:
        """``{"lastUpdateId", "bids", "asks"}`` with the best ``limit`` levels per side."""
        bids = sorted(self.bids, reverse=True)[:limit]
        asks = sorted(self.asks)[:limit]
        return {
            "lastUpdateId": self.last_id,
            "bids": [[price_text(p), qty_text(self.bids[p])] for p in bids],
            "asks": [[price_text(p), qty_text(self.asks[p])] for p in asks],
        }


class Market:
    """Books of every symbol and the stream subscriptions of every connection.

    Args:
        knobs: the simulator's settings (``stream_rate``, ``symbols``, ``book_levels``).
        clock: epoch ms of the simulated server.
    """

    def __init__(self, knobs: BinanceKnobs, clock: Callable[[], int]) -> None:
        self.knobs, self.clock = knobs, clock
        self.rng = random.Random(f"{knobs.seed}:binance")
        self.books = {s: Book(s, p, knobs.book_levels, self.rng) for s, p in knobs.symbols.items()}
        #: stream name -> connections subscribed, in subscription order
        self.subscribers: dict[str, dict[int, Connection]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def book(self, symbol: str) -> Book:
        """The book of ``symbol`` (``KeyError`` for an unknown one)."""
        return self.books[symbol]

    def price(self, symbol: str) -> float:
        """Mid price of ``symbol``."""
        return self.books[symbol].mid / 100

    # ------------------------------------------------------------------ subscriptions
    def subscribe(self, conn: Connection, name: str) -> bool:
        """Send stream ``name`` to ``conn``; False when it is no stream of a known symbol."""
        stream = binance.parse_stream(name)
        if stream is None or stream.symbol not in self.books:
            return False
        self.subscribers.setdefault(name, {})[conn.id] = conn
        task = self._tasks.get(stream.symbol)
        if task is None or task.done():
            loop = asyncio.get_running_loop()
            self._tasks[stream.symbol] = loop.create_task(self._run(stream.symbol))
        return True

    def unsubscribe(self, conn: Connection, name: str) -> None:
        """Stop sending ``name`` to ``conn``."""
        subs = self.subscribers.get(name)
        if subs is not None:
            subs.pop(conn.id, None)
            if not subs:
                del self.subscribers[name]

    def drop(self, conn: Connection) -> None:
        """Forget every subscription of ``conn``."""
        for name in list(self.subscribers):
            self.unsubscribe(conn, name)

    def stop(self) -> None:
        """Cancel the generators."""
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()

    def inject_gap(self, symbol: str, updates: int = 5) -> None:
        """Change the book ``updates`` times without sending the events (a ``U`` gap)."""
        book = self.books[symbol]
        for _ in range(updates):
            book.step()

    # ------------------------------------------------------------------ generation
    def _streams_of(self, symbol: str) -> list[tuple[str, binance.Stream]]:
        out = []
        prefix = symbol.lower() + "@"
        for name in self.subscribers:
            if name.startswith(prefix):
                stream = binance.parse_stream(name)
                if stream is not None and stream.kind in _GENERATED:
                    out.append((name, stream))
        return out

    async def _run(self, symbol: str) -> None:
        loop = asyncio.get_running_loop()
        start, produced, rate = loop.time(), 0, self.knobs.stream_rate
        while True:
            streams = self._streams_of(symbol)
            if not streams:
                return
            if self.knobs.stream_rate != rate:
                start, produced, rate = loop.time(), 0, self.knobs.stream_rate
            due = int((loop.time() - start) * rate) - produced
            for _ in range(min(due, 10_000)):
                self.tick(symbol, streams)
            produced += max(due, 0)
            # at least 1 ms (events go out in batches), at most 50 ms (a new rate applies)
            await asyncio.sleep(min(max(1.0 / max(rate, 1e-6), 0.001), 0.05))

    def tick(self, symbol: str, streams: list[tuple[str, binance.Stream]]) -> None:
        """One book update (and one trade): encode once per kind, send to subscribers."""
        book = self.books[symbol]
        first, bids, asks = book.step()
        now = self.clock()
        cache: dict[str, bytes] = {}
        for name, stream in streams:
            key = f"{stream.kind}{stream.levels}"
            raw = cache.get(key)
            if raw is None:
                raw = cache[key] = orjson.dumps(self._event(book, stream, first, bids, asks, now))
            self._send(name, raw)
        if any(s.kind == "trade" for _, s in streams):
            book.trade_id += 1

    def _event(
        self,
        book: Book,
        stream: binance.Stream,
        first: int,
        bids: list[list[str]],
        asks: list[list[str]],
        now: int,
    ) -> dict[str, Any]:
        kind, s = stream.kind, book.symbol
        if kind == "depth" and stream.levels:
            return book.snapshot(stream.levels)
        if kind == "depth":
            return {
                "e": "depthUpdate",
                "E": now,
                "s": s,
                "U": first,
                "u": book.last_id,
                "b": bids,
                "a": asks,
            }
        bid, bid_q, ask, ask_q = book.best()
        if kind == "bookTicker":
            return {
                "u": book.last_id,
                "s": s,
                "b": price_text(bid),
                "B": qty_text(bid_q),
                "a": price_text(ask),
                "A": qty_text(ask_q),
            }
        if kind == "trade":
            price = bid if self.rng.random() < 0.5 else ask
            return {
                "e": "trade",
                "E": now,
                "s": s,
                "t": book.trade_id + 1,
                "p": price_text(price),
                "q": qty_text(self.rng.randint(1, 1000) * 100_000),
                "T": now,
                "m": price == bid,
                "M": True,
            }
        last = price_text(book.mid)
        return {
            "e": "24hrTicker",
            "E": now,
            "s": s,
            "p": "0.00000000",
            "P": "0.000",
            "w": last,
            "x": last,
            "c": last,
            "Q": "0.00100000",
            "b": price_text(bid),
            "B": qty_text(bid_q),
            "a": price_text(ask),
            "A": qty_text(ask_q),
            "o": last,
            "h": last,
            "l": last,
            "v": "0.00000000",
            "q": "0.00000000",
            "O": now - 86_400_000,
            "C": now,
            "F": 0,
            "L": book.trade_id,
            "n": book.trade_id,
        }

    def _send(self, name: str, raw: bytes) -> None:
        wrapped: bytes | None = None
        for conn in list(self.subscribers.get(name, {}).values()):
            if conn.request.path.startswith("/stream"):
                if wrapped is None:
                    wrapped = b'{"stream":' + orjson.dumps(name) + b',"data":' + raw + b"}"
                conn.send(orjson.Fragment(wrapped))
            else:
                conn.send(orjson.Fragment(raw))

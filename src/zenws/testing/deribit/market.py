"""Simulated market data: seeded random-walk instruments and the ``ticker``/``book``/``trades``
channel streams (Deribit's notification shapes).

Each instrument moves lazily: when a stream publishes, the instrument first catches up with the
market steps due since its last step, so the price path depends only on the seed and the step
count, never on which channels are subscribed.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from .knobs import DeribitKnobs

if TYPE_CHECKING:
    from ..connection import Connection

__all__ = ["Instrument", "Market", "Stream"]

Level = dict[int, float]  # price in ticks -> amount
_MIN_SLEEP = 0.001  # seconds: below this a stream publishes in bursts


def now_ms() -> int:
    """Wall-clock milliseconds (Deribit ``timestamp`` fields)."""
    return time.time_ns() // 1_000_000


class Instrument:
    """One instrument: mid price random walk, a book around it, and a trade tape."""

    def __init__(self, name: str, price: float, tick: float, knobs: DeribitKnobs) -> None:
        """Start at ``price`` with tick size ``tick``, seeded from ``knobs.seed`` and the name."""
        self.name = name
        self.tick = tick
        self.knobs = knobs
        self.rng = random.Random(f"{knobs.seed}:{name}")
        self.mid_ticks = float(round(price / tick))
        self.bids: Level = {}
        self.asks: Level = {}
        self.trades: deque[dict[str, Any]] = deque(maxlen=1000)
        self.trade_seq = 1
        self.last_price = price
        self.steps = 0
        self.volume = 0.0
        self.open_price = price
        self.low = self.high = price
        self._last_step = time.monotonic()
        self._rebuild()

    def price(self, ticks: float) -> float:
        """Ticks to a price rounded to the tick size's decimals."""
        decimals = max(0, -math.floor(math.log10(self.tick)) + 1)
        return round(ticks * self.tick, decimals)

    @property
    def best_bid(self) -> int:
        """Best bid in ticks."""
        return max(self.bids)

    @property
    def best_ask(self) -> int:
        """Best ask in ticks."""
        return min(self.asks)

    def catch_up(self, now: float | None = None) -> None:
        """Run the market steps due since the last call (at most one second's worth)."""
        now = time.monotonic() if now is None else now
        rate = self.knobs.market_steps_per_second
        due = int((now - self._last_step) * rate)
        if due <= 0:
            return
        self._last_step += due / rate
        for _ in range(min(due, max(1, int(rate)))):
            self.step()
        if now - self._last_step > 1.0:
            self._last_step = now

    def step(self) -> None:
        """One market step: move the mid, refresh the book, maybe print a trade."""
        self.steps += 1
        self.mid_ticks += self.rng.gauss(0.0, self.knobs.volatility_ticks)
        self.mid_ticks = max(self.mid_ticks, 10.0)
        self._rebuild()
        if self.rng.random() < self.knobs.trade_probability:
            self._trade()

    def jump(self, price: float) -> None:
        """Move the mid to ``price`` at once (a chaos hook for demos)."""
        self.mid_ticks = float(round(price / self.tick))
        self._rebuild()

    def _rebuild(self) -> None:
        rng = self.rng
        spread = 1 + (rng.random() < 0.2)
        best_bid = math.floor(self.mid_ticks - spread / 2)
        best_ask = best_bid + spread
        self.bids = self._side(self.bids, [best_bid - i for i in range(self.knobs.book_depth)])
        self.asks = self._side(self.asks, [best_ask + i for i in range(self.knobs.book_depth)])

    def _side(self, old: Level, prices: list[int]) -> Level:
        rng = self.rng
        new: Level = {}
        for p in prices:
            keep = p in old and rng.random() < 0.7
            new[p] = old[p] if keep else float(rng.randint(1, 500) * 10)
        return new

    def _trade(self) -> None:
        rng = self.rng
        direction = "buy" if rng.random() < 0.5 else "sell"
        ticks = self.best_ask if direction == "buy" else self.best_bid
        price = self.price(ticks)
        amount = float(rng.randint(1, 100) * 10)
        self.last_price = price
        self.low, self.high = min(self.low, price), max(self.high, price)
        self.volume += amount
        self.trades.append(
            {
                "trade_seq": self.trade_seq,
                "trade_id": f"{self.name.split('-')[0]}-{self.trade_seq}",
                "timestamp": now_ms(),
                "tick_direction": rng.randint(0, 3),
                "price": price,
                "mark_price": self.price(self.mid_ticks),
                "index_price": self.price(self.mid_ticks - 1),
                "instrument_name": self.name,
                "direction": direction,
                "amount": amount,
            }
        )
        self.trade_seq += 1

    def ticker(self) -> dict[str, Any]:
        """Ticker notification data."""
        bid, ask = self.best_bid, self.best_ask
        return {
            "timestamp": now_ms(),
            "instrument_name": self.name,
            "best_bid_price": self.price(bid),
            "best_bid_amount": self.bids[bid],
            "best_ask_price": self.price(ask),
            "best_ask_amount": self.asks[ask],
            "last_price": self.last_price,
            "mark_price": self.price(self.mid_ticks),
            "index_price": self.price(self.mid_ticks - 1),
            "open_interest": 500_000_000 + self.steps,
            "funding_8h": 0.0000131,
            "current_funding": 0.0,
            "state": "open",
            "stats": {
                "volume": self.volume,
                "price_change": round(100 * (self.last_price / self.open_price - 1), 4),
                "low": self.low,
                "high": self.high,
            },
        }


class Stream:
    """One subscribed channel (shared by every connection subscribed to it)."""

    def __init__(self, market: Market, channel: str, kind: str, inst: Instrument, rate: float):
        """Create an idle stream; :meth:`add` starts it."""
        self.market = market
        self.channel = channel
        self.kind = kind
        self.inst = inst
        self.rate = rate
        self.subscribers: dict[int, Connection] = {}
        self.task: asyncio.Task[None] | None = None
        self.bids: Level = {}
        self.asks: Level = {}
        self.change_id = 0
        self.changes = 0
        self.gap_pending = False
        self.last_trade_seq = inst.trade_seq
        self.steps_seen = inst.steps  # market steps the change ids account for

    def add(self, conn: Connection) -> None:
        """Subscribe ``conn`` once the current callback (the subscribe reply) is done.

        Deribit answers the subscribe request first; a book subscriber then gets a snapshot
        before any change, so joining is deferred with ``call_soon`` and done atomically.
        """
        asyncio.get_running_loop().call_soon(self._join, conn)

    def _join(self, conn: Connection) -> None:
        if not conn.open or conn.id in self.subscribers:
            return
        if not self.subscribers:
            self.inst.catch_up()
            self.bids, self.asks = dict(self.inst.bids), dict(self.inst.asks)
            if not self.change_id:
                self.change_id = self.market.rng.randint(1_000, 9_999) * 1_000
            else:
                # The venue's book kept changing while nobody listened: its change ids
                # count those changes too (one per market step), so a client that was
                # away sees the jump.
                self.change_id += max(0, self.inst.steps - self.steps_seen)
            self.last_trade_seq = self.inst.trade_seq
            self.steps_seen = self.inst.steps
        self.subscribers[conn.id] = conn
        if self.kind == "book":
            conn.send_json(self._note(self._snapshot()))
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())

    def remove(self, conn: Connection) -> None:
        """Unsubscribe ``conn``; the stream stops with its last subscriber."""
        self.subscribers.pop(conn.id, None)
        if not self.subscribers and self.task is not None:
            self.task.cancel()
            self.task = None

    async def _run(self) -> None:
        # Publishes ``rate`` notifications a second: every notification due since the
        # start, in bursts when the period is shorter than a loop wake-up (1 ms), so 10k/s
        # streams keep their rate; after a stall, at most a tenth of a second is caught up.
        rate = max(self.rate, 1e-6)
        period = 1.0 / rate
        start, sent = time.monotonic(), 0
        burst = max(1, int(rate / 10))
        while self.subscribers:
            wait = start + (sent + 1) * period - time.monotonic()
            await asyncio.sleep(max(wait, _MIN_SLEEP if period < _MIN_SLEEP else 0.0))
            due = int((time.monotonic() - start) * rate) - sent
            if due > burst:
                sent += due - burst
                due = burst
            for i in range(1, due + 1):
                if not self.subscribers:
                    return
                # each notification at its own instant: the market moves between them
                self.publish_once(start + (sent + i) * period)
            sent += max(due, 0)

    def publish_once(self, now: float | None = None) -> None:
        """Advance the instrument to ``now`` (monotonic seconds; default: now) and publish
        one notification (if anything changed)."""
        self.inst.catch_up(now)
        make = {
            "book": self._change,
            "ticker": self.inst.ticker,
            "trades": self._trades,
            "index": self._index,
        }[self.kind]
        data = make()
        if data is not None:
            self.broadcast(data)

    def broadcast(self, data: Any) -> None:
        """Send ``data`` as a subscription notification to every subscriber."""
        # Generated and encoded once: every subscriber gets the same bytes, as from a venue.
        text = orjson.dumps(self._note(data)).decode()
        for conn in list(self.subscribers.values()):
            conn.send(text)

    def _note(self, data: Any) -> dict[str, Any]:
        return {
            "jsonrpc": "2.0",
            "method": "subscription",
            "params": {"channel": self.channel, "data": data},
        }

    def _levels(self, side: Level, reverse: bool) -> list[list[Any]]:
        return [["new", self.inst.price(p), side[p]] for p in sorted(side, reverse=reverse)]

    def _snapshot(self) -> dict[str, Any]:
        return {
            "type": "snapshot",
            "timestamp": now_ms(),
            "instrument_name": self.inst.name,
            "change_id": self.change_id,
            "bids": self._levels(self.bids, True),
            "asks": self._levels(self.asks, False),
        }

    def _diff(self, old: Level, new: Level, reverse: bool) -> list[list[Any]]:
        out: list[list[Any]] = []
        for p in sorted(set(old) | set(new), reverse=reverse):
            if p not in new:
                out.append(["delete", self.inst.price(p), 0.0])
            elif p not in old:
                out.append(["new", self.inst.price(p), new[p]])
            elif old[p] != new[p]:
                out.append(["change", self.inst.price(p), new[p]])
        return out

    def _change(self) -> dict[str, Any] | None:
        bids = self._diff(self.bids, self.inst.bids, True)
        asks = self._diff(self.asks, self.inst.asks, False)
        if not bids and not asks:
            return None
        self.bids, self.asks = dict(self.inst.bids), dict(self.inst.asks)
        self.steps_seen = self.inst.steps
        self.changes += 1
        every = self.market.knobs.gap_every
        skip = self.gap_pending or bool(every and self.changes % every == 0)
        self.gap_pending = False
        prev = self.change_id + 1 if skip else self.change_id  # a gap skips exactly one id
        self.change_id = prev + 1
        return {
            "type": "change",
            "timestamp": now_ms(),
            "instrument_name": self.inst.name,
            "prev_change_id": prev,
            "change_id": self.change_id,
            "bids": bids,
            "asks": asks,
        }

    def _index(self) -> dict[str, Any]:
        name = self.channel.split(".")[1]
        return {
            "timestamp": now_ms(),
            "price": self.inst.price(self.inst.mid_ticks - 1),
            "index_name": name,
        }

    def _trades(self) -> list[dict[str, Any]] | None:
        new = [t for t in self.inst.trades if t["trade_seq"] >= self.last_trade_seq]
        if not new:
            return None
        self.last_trade_seq = new[-1]["trade_seq"] + 1
        return new


class Market:
    """All instruments and active channel streams of one simulator."""

    KINDS = ("ticker", "book", "trades")

    def __init__(self, knobs: DeribitKnobs) -> None:
        """Create the instruments listed in ``knobs.instruments``."""
        self.knobs = knobs
        self.rng = random.Random(f"{knobs.seed}:market")
        self.instruments = {
            name: Instrument(name, price, tick, knobs)
            for name, (price, tick) in knobs.instruments.items()
        }
        self.streams: dict[str, Stream] = {}

    def parse(self, channel: str) -> tuple[str, Instrument, str] | None:
        """``"book.BTC-PERPETUAL.100ms"`` -> (kind, instrument, interval), or None if unknown."""
        parts = channel.split(".")
        if len(parts) == 2 and parts[0] == "deribit_price_index":
            # deribit_price_index.btc_usd follows the first BTC instrument, once a second.
            for candidate in self.instruments.values():
                if f"{candidate.name.split('-')[0].lower()}_usd" == parts[1]:
                    return "index", candidate, "1s"
            return None
        if len(parts) != 3 or parts[0] not in self.KINDS:
            return None
        inst = self.instruments.get(parts[1])
        if inst is None or parts[2] not in self.knobs.interval_rates:
            return None
        return parts[0], inst, parts[2]

    def subscribe(self, channel: str, conn: Connection) -> bool:
        """Attach ``conn`` to a market channel; False if the channel is not a market channel."""
        parsed = self.parse(channel)
        if parsed is None:
            return False
        stream = self.streams.get(channel)
        if stream is None:
            kind, inst, interval = parsed
            rate = self.knobs.interval_rates.get(interval, 1.0)
            stream = self.streams[channel] = Stream(self, channel, kind, inst, rate)
        stream.add(conn)
        return True

    def unsubscribe(self, channel: str, conn: Connection) -> None:
        """Detach ``conn`` from a channel (no-op if not subscribed)."""
        stream = self.streams.get(channel)
        if stream is not None:
            stream.remove(conn)

    def drop(self, conn: Connection) -> None:
        """Detach ``conn`` from every stream (on disconnect)."""
        for stream in self.streams.values():
            stream.remove(conn)

    def each_stream(self, fn: Callable[[Stream], None]) -> None:
        """Apply ``fn`` to every stream."""
        for stream in self.streams.values():
            fn(stream)

    def stop(self) -> None:
        """Cancel every stream task."""
        for stream in self.streams.values():
            if stream.task is not None:
                stream.task.cancel()
        with contextlib.suppress(Exception):
            self.streams.clear()

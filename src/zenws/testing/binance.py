"""``BinanceSimulator``: the Binance WebSocket API shape on a :class:`~zenws.testing.MockServer`.

Smaller in scope than the Deribit simulator.  It reproduces what a client's protocol layer must
handle (https://developers.binance.com/docs/binance-spot-api-docs/web-socket-api):

- requests ``{"id", "method", "params"}`` answered with ``{"id", "status", "result",
  "rateLimits"}`` or ``{"id", "status", "error": {"code", "msg"}, "rateLimits"}``;
- methods ``ping``, ``time``, ``exchangeInfo``, ``ticker.price``; request weight per minute with
  HTTP-like status 429 / code -1003 when exceeded;
- server PING frames every ``ping_interval`` seconds; a connection that has not echoed a PING's
  payload in a PONG within ``pong_timeout`` is closed (unsolicited PONGs do not count);
- market streams: ``SUBSCRIBE`` / ``UNSUBSCRIBE`` / ``LIST_SUBSCRIPTIONS`` for ``<symbol>@trade``
  and ``<symbol>@bookTicker`` (raw events, or ``{"stream", "data"}`` on a ``/stream`` path).
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..exchanges import binance
from ._simulator import Simulator, apply_overrides
from .connection import Connection
from .handler import Received
from .server import MockServer

__all__ = ["BinanceKnobs", "BinanceSimulator"]


def _symbols() -> dict[str, float]:
    return {"BTCUSDT": 37000.0, "ETHUSDT": 2000.0}


def _weights() -> dict[str, int]:
    return dict(binance.WEIGHTS)


@dataclass
class BinanceKnobs:
    """Settings of :class:`BinanceSimulator` (Binance defaults; change them at any time).

    Attributes:
        seed: seeds prices and trades.
        path: WebSocket path served.
        ping_interval: seconds between server PING frames (Binance: 20; older docs: 180).
        pong_timeout: seconds a PING may stay unanswered before the connection closes
            (Binance: 60; older docs: 600).
        pong_timeout_close_code: close code used then.
        weight_limit: request weight allowed per ``weight_window`` seconds (6000 / minute).
        weight_window: seconds of the weight window.
        weights: weight of each method (others cost 1).
        stream_rate: events per second of each subscribed stream.
        symbols: ``symbol -> start price``.
        max_streams: streams one connection may subscribe to (1024).
    """

    seed: int = 0
    path: str = "/ws-api/v3"
    ping_interval: float = binance.PING_INTERVAL
    pong_timeout: float = binance.PONG_TIMEOUT
    pong_timeout_close_code: int = 1008
    weight_limit: int = binance.WEIGHT_PER_MINUTE
    weight_window: float = 60.0
    weights: dict[str, int] = field(default_factory=_weights)
    stream_rate: float = 10.0
    symbols: dict[str, float] = field(default_factory=_symbols)
    max_streams: int = binance.MAX_STREAMS_PER_CONNECTION


@dataclass
class _State:
    weight: int = 0
    window_start: float = field(default_factory=time.monotonic)
    outstanding: dict[bytes, float] = field(default_factory=dict)  # ping payload -> sent at
    seq: int = 0
    last_pong: float | None = None
    streams: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    pinger: asyncio.Task[None] | None = None


class BinanceSimulator(Simulator):
    """Binance WebSocket API on loopback: ``async with BinanceSimulator().serve() as sim``.

    Args:
        knobs: settings; keyword arguments override single fields.
        **overrides: fields of :class:`BinanceKnobs`.
    """

    def __init__(self, knobs: BinanceKnobs | None = None, **overrides: Any) -> None:
        self.knobs = knobs or BinanceKnobs()
        apply_overrides(self.knobs, overrides, "BinanceSimulator")
        self.server: MockServer | None = None
        self.rng = random.Random(f"{self.knobs.seed}:binance")
        self.prices = dict(self.knobs.symbols)
        self.trade_id = 1

    def _server_defaults(self) -> dict[str, Any]:
        return {"path": self.knobs.path}

    async def on_stop(self, server: MockServer) -> None:
        """Stop pingers and streams."""
        for conn in server.connections:
            self._stop(conn)

    @staticmethod
    def state(conn: Connection) -> _State:
        """The simulator state of a connection."""
        st = conn.state.get("binance")
        if st is None:
            st = conn.state["binance"] = _State()
        assert isinstance(st, _State)
        return st

    def on_connect(self, connection: Connection) -> None:
        """Start the server PING loop."""
        st = self.state(connection)
        st.pinger = asyncio.get_running_loop().create_task(self._ping_loop(connection, st))

    def on_pong(self, connection: Connection, payload: bytes) -> None:
        """A PONG echoing an outstanding PING's payload answers it (and every older one).

        Unsolicited PONGs are accepted but do not prevent the disconnect (Binance docs).
        """
        st = self.state(connection)
        st.last_pong = time.monotonic()
        if payload in st.outstanding:
            sent_at = st.outstanding[payload]
            st.outstanding = {p: t for p, t in st.outstanding.items() if t > sent_at}

    def on_disconnect(self, connection: Connection) -> None:
        """Stop this connection's tasks."""
        self._stop(connection)

    def _stop(self, conn: Connection) -> None:
        st = self.state(conn)
        for task in [st.pinger, *st.streams.values()]:
            if task is not None:
                task.cancel()
        st.streams.clear()

    async def _ping_loop(self, conn: Connection, st: _State) -> None:
        next_ping = time.monotonic() + self.knobs.ping_interval
        while conn.open:
            deadline = next_ping
            if st.outstanding:
                deadline = min(deadline, min(st.outstanding.values()) + self.knobs.pong_timeout)
            await asyncio.sleep(max(0.0, deadline - time.monotonic()))
            now = time.monotonic()
            if st.outstanding and now - min(st.outstanding.values()) >= self.knobs.pong_timeout:
                await conn.close(self.knobs.pong_timeout_close_code, "pong timeout")
                return
            if now >= next_ping:
                st.seq += 1
                payload = f"{int(time.time() * 1000)}-{st.seq}".encode()
                st.outstanding[payload] = now
                conn.send_ping(payload)
                next_ping = now + self.knobs.ping_interval

    # ------------------------------------------------------------------ requests
    def on_message(self, connection: Connection, message: Received) -> None:
        """Answer one request."""
        try:
            request = orjson.loads(message.data)
        except orjson.JSONDecodeError:
            self._send(connection, None, 400, error=(-1100, "Malformed request."))
            return
        if not isinstance(request, dict):
            self._send(connection, None, 400, error=(-1100, "Malformed request."))
            return
        req_id, method = request.get("id"), request.get("method")
        params = request.get("params")
        if method in ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS"):
            self._streams(connection, req_id, method, params)
            return
        st = self.state(connection)
        now = time.monotonic()
        if now - st.window_start >= self.knobs.weight_window:
            st.window_start, st.weight = now, 0
        st.weight += self.knobs.weights.get(str(method), 1)
        if st.weight > self.knobs.weight_limit:
            retry = int((st.window_start + self.knobs.weight_window) * 1000)
            msg = f"Too many requests; current limit is {self.knobs.weight_limit}."
            self._send(connection, req_id, 429, error=(-1003, msg), data={"retryAfter": retry})
            return
        handler = {
            "ping": lambda p: {},
            "time": lambda p: {"serverTime": time.time_ns() // 1_000_000},
            "exchangeInfo": self._exchange_info,
            "ticker.price": self._ticker_price,
        }.get(str(method))
        if handler is None:
            self._send(connection, req_id, 400, error=(-1102, f"Unknown method '{method}'."))
            return
        try:
            result = handler(params if isinstance(params, dict) else {})
        except LookupError as exc:
            self._send(connection, req_id, 400, error=(-1121, str(exc.args[0])))
            return
        self._send(connection, req_id, 200, result=result)

    def _send(
        self,
        conn: Connection,
        req_id: Any,
        status: int,
        *,
        result: Any = None,
        error: tuple[int, str] | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        msg: dict[str, Any] = {"id": req_id, "status": status}
        if error is None:
            msg["result"] = result
        else:
            msg["error"] = {"code": error[0], "msg": error[1], **(data or {})}
        st = self.state(conn)
        msg["rateLimits"] = [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": self.knobs.weight_limit,
                "count": st.weight,
            }
        ]
        conn.send_json(msg)

    def _exchange_info(self, params: dict[str, Any]) -> Any:
        return {
            "timezone": "UTC",
            "serverTime": time.time_ns() // 1_000_000,
            "symbols": [{"symbol": s, "status": "TRADING"} for s in self.knobs.symbols],
        }

    def _ticker_price(self, params: dict[str, Any]) -> Any:
        symbol = params.get("symbol")
        if symbol not in self.prices:
            raise LookupError("Invalid symbol.")
        return {"symbol": symbol, "price": f"{self._move(symbol):.2f}"}

    def _move(self, symbol: str) -> float:
        price = self.prices[symbol] * (1 + self.rng.gauss(0.0, 0.0002))
        self.prices[symbol] = price
        return price

    # ------------------------------------------------------------------ streams
    def _streams(self, conn: Connection, req_id: Any, method: str, params: Any) -> None:
        st = self.state(conn)
        if method == "LIST_SUBSCRIPTIONS":
            conn.send_json({"result": sorted(st.streams), "id": req_id})
            return
        names = params if isinstance(params, list) else []
        if method == "SUBSCRIBE":
            if len(st.streams) + len(names) > self.knobs.max_streams:
                conn.send_json({"error": {"code": 2, "msg": "Invalid request"}, "id": req_id})
                return
            for name in names:
                if isinstance(name, str) and name not in st.streams and self._valid(name):
                    st.streams[name] = asyncio.get_running_loop().create_task(
                        self._stream(conn, name)
                    )
        else:
            for name in names:
                task = st.streams.pop(name, None)
                if task is not None:
                    task.cancel()
        conn.send_json({"result": None, "id": req_id})

    def _valid(self, name: str) -> bool:
        symbol, _, kind = name.partition("@")
        return symbol.upper() in self.prices and kind in ("trade", "bookTicker")

    async def _stream(self, conn: Connection, name: str) -> None:
        symbol, _, kind = name.partition("@")
        symbol = symbol.upper()
        combined = conn.request.path.startswith("/stream")
        while conn.open:
            await asyncio.sleep(1.0 / max(self.knobs.stream_rate, 1e-6))
            price = self._move(symbol)
            if kind == "trade":
                event: dict[str, Any] = {
                    "e": "trade",
                    "E": time.time_ns() // 1_000_000,
                    "s": symbol,
                    "t": self.trade_id,
                    "p": f"{price:.2f}",
                    "q": f"{self.rng.randint(1, 1000) / 1000:.3f}",
                    "T": time.time_ns() // 1_000_000,
                    "m": self.rng.random() < 0.5,
                    "M": True,
                }
                self.trade_id += 1
            else:
                event = {
                    "u": self.trade_id,
                    "s": symbol,
                    "b": f"{price - 0.01:.2f}",
                    "B": "1.000",
                    "a": f"{price + 0.01:.2f}",
                    "A": "1.000",
                }
            conn.send_json({"stream": name, "data": event} if combined else event)

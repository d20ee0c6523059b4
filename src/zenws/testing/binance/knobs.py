"""Every number of :class:`~zenws.testing.BinanceSimulator`, defaulting to Binance's."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...exchanges import binance

__all__ = ["ApiError", "BinanceKnobs"]


def _symbols() -> dict[str, float]:
    return {"BTCUSDT": 37000.0, "ETHUSDT": 2000.0}


def _weights() -> dict[str, int]:
    return dict(binance.WEIGHTS)


def _balances() -> dict[str, float]:
    return {"USDT": 100_000.0, "BTC": 1.0, "ETH": 10.0}


@dataclass
class BinanceKnobs:
    """Settings of :class:`~zenws.testing.BinanceSimulator` (change them at any time).

    Attributes:
        seed: seeds prices, books and trades.
        path: path of the WebSocket API (market streams: ``/ws``, ``/ws/<stream>``,
            ``/stream?streams=a/b``; a ``path`` starting with ``/ws/`` or ``/stream`` serves
            streams on ``sim.url``).
        ping_interval: seconds between server PING frames (Binance: 20).
        pong_timeout: seconds a PING may stay unanswered before the connection closes (60).
        pong_timeout_close_code: close code used then.
        weight_limit: request weight allowed per ``weight_window`` seconds, per IP (6000).
        weight_window: seconds of the weight window (60).
        weights: weight of each method for its default params; an entry that differs from
            :data:`zenws.exchanges.binance.WEIGHTS` is charged flat, the others follow the
            documented param rules (``depth`` by ``limit``...).
        connect_weight: weight an API connection costs when it opens (2).
        ban_after: 429 answers in one window after which the IP is banned (418).
        ban_duration: seconds a ban lasts (Binance: 2 minutes to 3 days).
        orders_per_10s: ``ORDERS`` limit per ``orders_window`` seconds (50 per 10 s).
        orders_window: seconds of the short ``ORDERS`` window.
        orders_per_day: ``ORDERS`` limit per day (160,000).
        clock_offset_ms: the server clock runs this far ahead of the local clock (negative:
            behind); ``time``, ``timestamp`` checks and event times use it.
        stream_rate: book updates (and trades, tickers) per second of each symbol.
        book_levels: price levels per side of each simulated book.
        symbols: ``symbol -> start price``.
        balances: ``asset -> free balance`` of the account every key trades on.
        max_streams: streams one connection may subscribe to (1024).
        max_incoming_per_second: messages a stream connection may send per second (5).
        incoming_close_code: close code when it sends more (1008, "Too many requests").
        connection_lifetime: seconds before the server closes any connection (24 h).
        lifetime_close_code: close code used then (Binance documents none).
        connection_attempts: upgrades allowed per ``connection_attempts_window`` (300 / 5 min);
            more get HTTP 429.
        connection_attempts_window: seconds of that window.
    """

    seed: int = 0
    path: str = binance.API_PATH
    ping_interval: float = binance.PING_INTERVAL
    pong_timeout: float = binance.PONG_TIMEOUT
    pong_timeout_close_code: int = 1008
    weight_limit: int = binance.WEIGHT_PER_MINUTE
    weight_window: float = 60.0
    weights: dict[str, int] = field(default_factory=_weights)
    connect_weight: int = binance.CONNECT_WEIGHT
    ban_after: int = 10
    ban_duration: float = 120.0
    orders_per_10s: int = binance.ORDERS_PER_10S
    orders_window: float = 10.0
    orders_per_day: int = binance.ORDERS_PER_DAY
    clock_offset_ms: float = 0.0
    stream_rate: float = 10.0
    book_levels: int = 200
    symbols: dict[str, float] = field(default_factory=_symbols)
    balances: dict[str, float] = field(default_factory=_balances)
    max_streams: int = binance.MAX_STREAMS_PER_CONNECTION
    max_incoming_per_second: int = binance.MAX_INCOMING_PER_SECOND
    incoming_close_code: int = 1008
    connection_lifetime: float = binance.CONNECTION_LIFETIME
    lifetime_close_code: int = 1000
    connection_attempts: int = binance.CONNECTION_ATTEMPTS
    connection_attempts_window: float = binance.CONNECTION_ATTEMPTS_WINDOW


class ApiError(Exception):
    """A WebSocket API error answer: ``{"status", "error": {"code", "msg"[, "data"]}}``.

    Args:
        code: Binance error code (:data:`zenws.exchanges.binance.ERRORS`).
        msg: message; default the table's text with ``%s`` filled from ``args``.
        *args: values for the ``%s`` of the table's text.
        status: HTTP-like status (400 unless stated).
        data: the ``error.data`` object (``retryAfter``...).
    """

    def __init__(
        self,
        code: int,
        *args: object,
        msg: str | None = None,
        status: int = 400,
        data: dict[str, Any] | None = None,
    ) -> None:
        text = msg if msg is not None else binance.ERRORS.get(code, "Error.")
        if msg is None and args:
            text = text % args
        super().__init__(code, text)
        self.code, self.msg, self.status, self.data = code, text, status, data

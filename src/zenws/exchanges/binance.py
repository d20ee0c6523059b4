"""Binance's wire facts (Spot WebSocket API and market streams).

Sources: https://developers.binance.com/docs/binance-spot-api-docs/web-socket-api (sections
"General API information", "Rate limits", "Request security" and each method's "Weight"),
https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams (stream names,
limits, "How to manage a local order book correctly") and
https://developers.binance.com/docs/binance-spot-api-docs/errors (error codes).

The adapter signs with :func:`signature_payload`, the simulator verifies with it: one rule.
This module holds plain data and pure functions (no I/O, no cryptography).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

__all__ = [
    "API_PATH",
    "BANNED",
    "CONNECTION_ATTEMPTS",
    "CONNECTION_ATTEMPTS_WINDOW",
    "CONNECTION_LIFETIME",
    "CONNECT_WEIGHT",
    "ERRORS",
    "INTERVAL_SECONDS",
    "MAX_INCOMING_PER_SECOND",
    "MAX_STREAMS_PER_CONNECTION",
    "METHODS",
    "ORDERS_PER_10S",
    "ORDERS_PER_DAY",
    "PING_INTERVAL",
    "PONG_TIMEOUT",
    "RECV_WINDOW_DEFAULT",
    "RECV_WINDOW_MAX",
    "SIGNED_SECURITY",
    "STREAM_KINDS",
    "TIMESTAMP_AHEAD_MS",
    "TOO_MANY_REQUESTS",
    "WEIGHTS",
    "WEIGHT_PER_MINUTE",
    "Method",
    "Stream",
    "parse_stream",
    "signature_payload",
    "weight",
]

# ---- endpoints and connections --------------------------------------------------------------

#: Path of the WebSocket API (``wss://ws-api.binance.com:443/ws-api/v3``).  Market streams
#: are served on ``/ws`` (raw, ``/ws/<stream>``) and ``/stream?streams=a/b`` (combined,
#: each event wrapped as ``{"stream": name, "data": event}``).
API_PATH: Final = "/ws-api/v3"

#: A connection is valid for 24 hours; "expect to be disconnected at the 24 hour mark" (the
#: documentation names no close code or message before it).
CONNECTION_LIFETIME: Final = 24 * 3600.0

#: The server sends a PING frame every 20 s and closes a connection whose PONG has not come
#: within 60 s (older documentation: 3 and 10 minutes).  Unsolicited PONGs do not count.
PING_INTERVAL: Final = 20.0
PONG_TIMEOUT: Final = 60.0

#: "300 connections per attempt every 5 minutes" per IP address (WS API and streams).
CONNECTION_ATTEMPTS: Final = 300
CONNECTION_ATTEMPTS_WINDOW: Final = 300.0

# ---- market streams -------------------------------------------------------------------------

#: Streams one connection may subscribe to.
MAX_STREAMS_PER_CONNECTION: Final = 1024

#: Incoming messages per second on a market-stream connection (PING, PONG and JSON control
#: messages all count); a connection beyond it is disconnected.
MAX_INCOMING_PER_SECOND: Final = 5

#: Stream kinds after ``<symbol>@`` (symbols are lower case).  ``depth`` takes an optional
#: level count (5, 10, 20: partial book) and an optional ``@100ms`` / ``@1000ms`` speed.
STREAM_KINDS: Final[tuple[str, ...]] = (
    "trade",
    "aggTrade",
    "bookTicker",
    "ticker",
    "miniTicker",
    "avgPrice",
    "depth",
    "kline",
)

_STREAM = re.compile(
    r"^(?P<symbol>[a-z0-9]+)@(?:"
    r"(?P<depth>depth)(?P<levels>5|10|20)?(?:@(?P<speed>100|1000)ms)?"
    r"|kline_(?P<interval>1s|1m|3m|5m|15m|30m|1h|2h|4h|6h|8h|12h|1d|3d|1w|1M)"
    r"|(?P<kind>trade|aggTrade|bookTicker|ticker|miniTicker|avgPrice)"
    r")$"
)


class Stream(NamedTuple):
    """A parsed stream name.

    Attributes:
        symbol: upper-case symbol (``"BTCUSDT"``).
        kind: one of :data:`STREAM_KINDS`.
        levels: partial-book depth (5, 10, 20), 0 for the diff stream and other kinds.
        speed_ms: update speed of a depth stream (1000 or 100), 0 for other kinds.
        interval: kline interval (``"1m"``), ``""`` for other kinds.
    """

    symbol: str
    kind: str
    levels: int = 0
    speed_ms: int = 0
    interval: str = ""


def parse_stream(name: str) -> Stream | None:
    """Parse ``<symbol>@<kind>`` (``btcusdt@depth@100ms``, ``ethusdt@trade``...).

    Args:
        name: a stream name as sent in ``SUBSCRIBE`` or a stream URL.

    Returns:
        The parts, or ``None`` when ``name`` is not a Binance stream name.
    """
    m = _STREAM.match(name)
    if m is None:
        return None
    symbol = m["symbol"].upper()
    if m["depth"]:
        return Stream(symbol, "depth", int(m["levels"] or 0), int(m["speed"] or 1000))
    if m["interval"]:
        return Stream(symbol, "kline", interval=m["interval"])
    return Stream(symbol, m["kind"])


# ---- request weights, security and the method table -----------------------------------------

#: Seconds in each ``interval`` unit of a ``rateLimits`` entry (with ``intervalNum`` of them).
INTERVAL_SECONDS: Final[dict[str, float]] = {
    "SECOND": 1.0,
    "MINUTE": 60.0,
    "HOUR": 3600.0,
    "DAY": 86_400.0,
}

#: Requests share a REQUEST_WEIGHT limit of 6000 per 1-minute interval per IP.
WEIGHT_PER_MINUTE: Final = 6000

#: Opening a WebSocket API connection costs 2 weight.
CONNECT_WEIGHT: Final = 2

#: Unfilled-order limits (``ORDERS``), per account: 50 per 10 seconds, 160,000 per day.
ORDERS_PER_10S: Final = 50
ORDERS_PER_DAY: Final = 160_000

#: Weight of the Spot WebSocket API methods (unlisted methods: 1).  Weights that depend on
#: parameters are given for the default parameters (one symbol, default limit); see
#: :func:`weight` for the rest.
WEIGHTS: Final[dict[str, int]] = {
    "ping": 1,
    "time": 1,
    "exchangeInfo": 20,
    "depth": 5,  # limit 1-100 (default 100); 101-500: 25, 501-1000: 50, 1001-5000: 250
    "trades.recent": 25,
    "trades.historical": 25,
    "trades.aggregate": 4,
    "klines": 2,
    "uiKlines": 2,
    "avgPrice": 2,
    "ticker.24hr": 2,  # 1-20 symbols; 21-100: 40, more or all: 80
    "ticker.tradingDay": 4,  # per symbol
    "ticker": 4,  # per symbol (rolling window)
    "ticker.price": 2,  # one symbol; several or all: 4
    "ticker.book": 2,  # one symbol; several or all: 4
    "session.logon": 2,
    "session.status": 2,
    "session.logout": 2,
    "order.test": 1,  # 20 with computeCommissionRates
    "order.place": 1,
    "order.status": 4,
    "order.cancel": 1,
    "order.cancelReplace": 1,
    "openOrders.status": 6,  # one symbol; all symbols: 80
    "openOrders.cancelAll": 1,
    "orderList.place": 1,
    "orderList.place.oco": 1,
    "orderList.place.oto": 1,
    "orderList.place.otoco": 1,
    "orderList.status": 4,
    "orderList.cancel": 1,
    "openOrderLists.status": 6,
    "sor.order.place": 1,
    "sor.order.test": 1,
    "account.status": 20,
    "account.rateLimits.orders": 40,
    "account.commission": 20,
    "allOrders": 20,
    "allOrderLists": 20,
    "myTrades": 20,
    "myPreventedMatches": 20,
    "myAllocations": 20,
    "userDataStream.start": 2,
    "userDataStream.ping": 2,
    "userDataStream.stop": 2,
    "userDataStream.subscribe": 2,
    "userDataStream.subscribe.signature": 2,
    "userDataStream.unsubscribe": 2,
}

#: Security types whose requests are SIGNED (``apiKey``, ``timestamp``, ``signature``; after
#: ``session.logon`` only ``timestamp``).  ``USER_STREAM`` needs a logged-on session.
SIGNED_SECURITY: Final = frozenset({"TRADE", "USER_DATA"})


def _depth_weight(params: Mapping[str, Any]) -> int:
    limit = params.get("limit", 100)
    if not isinstance(limit, int) or limit <= 100:
        return 5
    if limit <= 500:
        return 25
    return 50 if limit <= 1000 else 250


def _one_or_many(one: int, many: int) -> Callable[[Mapping[str, Any]], int]:
    return lambda params: one if "symbol" in params else many


@dataclass(frozen=True)
class Method:
    """One WebSocket API method.

    Attributes:
        name: the method name (``"order.place"``).
        security: ``NONE``, ``TRADE``, ``USER_DATA`` or ``USER_STREAM``.
        orders: placing counts toward the ``ORDERS`` limits (unfilled order count).
        rule: weight as a function of the params, where the documentation says so
            (``None``: :data:`WEIGHTS`).
    """

    name: str
    security: str = "NONE"
    orders: bool = False
    rule: Callable[[Mapping[str, Any]], int] | None = None

    @property
    def signed(self) -> bool:
        """True when requests must be signed (or sent on a logged-on session)."""
        return self.security in SIGNED_SECURITY

    def weight(self, params: Mapping[str, Any] | None = None) -> int:
        """The request weight of a call with ``params``."""
        if self.rule is not None:
            return self.rule(params or {})
        return WEIGHTS.get(self.name, 1)


#: The methods zenws uses, with their security type and weight rules.  ``session.logon``
#: is signed with an Ed25519 key only.
METHODS: Final[dict[str, Method]] = {
    m.name: m
    for m in (
        Method("ping"),
        Method("time"),
        Method("exchangeInfo"),
        Method("depth", rule=_depth_weight),
        Method("ticker.price", rule=_one_or_many(2, 4)),
        Method("ticker.book", rule=_one_or_many(2, 4)),
        Method("session.logon", "USER_DATA"),
        Method("session.status"),
        Method("session.logout"),
        Method("order.place", "TRADE", orders=True),
        Method(
            "order.test",
            "TRADE",
            rule=lambda p: 20 if p.get("computeCommissionRates") is True else 1,
        ),
        Method("order.cancel", "TRADE"),
        Method("order.cancelReplace", "TRADE", orders=True),
        Method("order.status", "USER_DATA"),
        Method("openOrders.status", "USER_DATA", rule=_one_or_many(6, 80)),
        Method("account.status", "USER_DATA"),
        Method("userDataStream.subscribe", "USER_STREAM"),
        # the same without session.logon (any key type): a signed request
        Method("userDataStream.subscribe.signature", "USER_DATA"),
        Method("userDataStream.unsubscribe", "USER_STREAM"),
    )
}


def weight(method: str, params: Mapping[str, Any] | None = None) -> int:
    """Request weight of ``method`` called with ``params`` (unknown methods: their
    :data:`WEIGHTS` entry, else 1)."""
    known = METHODS.get(method)
    return known.weight(params) if known is not None else WEIGHTS.get(method, 1)


# ---- request security -----------------------------------------------------------------------

#: ``recvWindow`` defaults to 5000 ms and may be at most 60000 ms.
RECV_WINDOW_DEFAULT: Final = 5000
RECV_WINDOW_MAX: Final = 60000

#: A request is accepted when ``timestamp < serverTime + 1000`` and
#: ``serverTime - timestamp <= recvWindow``; otherwise error -1021.
TIMESTAMP_AHEAD_MS: Final = 1000


def _text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def signature_payload(params: Mapping[str, Any]) -> str:
    """The text a SIGNED request's signature covers.

    Every param except ``signature``, sorted by name, formatted ``name=value`` and joined with
    ``&`` (values as sent: strings unchanged, integers in decimal, booleans ``true``/``false``).
    Sign its UTF-8 bytes: HMAC-SHA-256 as hex, Ed25519 (and RSA) as base64.

    Args:
        params: the request params (with or without ``signature``).

    Returns:
        ``"apiKey=key&price=52000.00&...&type=LIMIT"``.
    """
    return "&".join(f"{k}={_text(params[k])}" for k in sorted(params) if k != "signature")


# ---- errors ---------------------------------------------------------------------------------

#: Error code of a request over the weight limit (HTTP-like status 429, or 418 once banned);
#: ``error.data.retryAfter`` is the epoch ms when requests are accepted again.
TOO_MANY_REQUESTS: Final = -1003

#: HTTP-like status of the answers from a banned IP (the ban lasts 2 minutes to 3 days).
BANNED: Final = 418

#: Error codes the simulator answers with and the adapter handles: code -> message (``%s``
#: is filled in per request).
ERRORS: Final[dict[int, str]] = {
    -1000: "An unknown error occurred while processing the request.",
    -1003: "Too much request weight used; current limit is %s request weight per %s. "
    "Please use WebSocket Streams for live updates to avoid polling the API.",
    -1015: "Too many new orders; current limit is %s orders per %s.",
    -1021: "Timestamp for this request is outside of the recvWindow.",
    -1022: "Signature for this request is not valid.",
    -1100: "Illegal characters found in parameter '%s'; legal range is '%s'.",
    -1102: "Mandatory parameter '%s' was not sent, was empty/null, or malformed.",
    -1121: "Invalid symbol.",
    -1131: "recvWindow must be less than 60000",
    -2010: "Account has insufficient balance for requested action.",
    -2011: "Unknown order sent.",
    -2013: "Order does not exist.",
    -2014: "API-key format invalid.",
    -2015: "Invalid API-key, IP, or permissions for action.",
}

"""Binance's wire facts (Spot WebSocket API and market streams).

Sources: https://developers.binance.com/docs/binance-spot-api-docs/web-socket-api (sections
"Rate limits" and each method's "Weight"; connection PING/PONG) and
https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams (stream limits).
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "MAX_STREAMS_PER_CONNECTION",
    "PING_INTERVAL",
    "PONG_TIMEOUT",
    "WEIGHTS",
    "WEIGHT_PER_MINUTE",
]

#: Requests share a REQUEST_WEIGHT limit of 6000 per 1-minute interval per IP.
WEIGHT_PER_MINUTE: Final = 6000

#: Weight of the Spot WebSocket API methods (unlisted methods: 1).  Weights that depend on
#: parameters are given for the default parameters (one symbol, default limit).
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
    "userDataStream.unsubscribe": 2,
}

#: The server sends a PING frame every 20 s and closes a connection whose PONG has not come
#: within 60 s (older documentation: 3 and 10 minutes).
PING_INTERVAL: Final = 20.0
PONG_TIMEOUT: Final = 60.0

#: Streams one connection may subscribe to.
MAX_STREAMS_PER_CONNECTION: Final = 1024

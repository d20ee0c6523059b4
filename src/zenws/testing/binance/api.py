"""The WebSocket API methods of the simulator: ``fn(sim, conn, state, params) -> result``.

Security (signatures, ``recvWindow``, sessions) and rate limits are applied by the simulator
before a method runs; a method raises :class:`~zenws.testing.binance.ApiError` to answer
with an error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ...exchanges import binance
from ..connection import Connection
from .knobs import ApiError
from .market import price_text, qty_text
from .orders import split_symbol

if TYPE_CHECKING:
    from .simulator import BinanceSimulator, _State

__all__ = ["HANDLERS", "Handler"]

Handler = Callable[["BinanceSimulator", Connection, "_State", Mapping[str, Any]], Any]


def _symbol(sim: BinanceSimulator, params: Mapping[str, Any]) -> str:
    symbol = params.get("symbol")
    if not isinstance(symbol, str) or not symbol:
        raise ApiError(-1102, "symbol")
    if symbol not in sim.market.books:
        raise ApiError(-1121)
    return symbol


def _symbols(sim: BinanceSimulator, params: Mapping[str, Any]) -> list[str] | None:
    """One symbol (``None`` = answer an object) or several (answer a list)."""
    if "symbol" in params:
        return None
    names = params.get("symbols")
    if names is None:
        return list(sim.market.books)
    if not isinstance(names, list) or not all(n in sim.market.books for n in names):
        raise ApiError(-1121)
    return names


def _exchange_info(sim: BinanceSimulator, conn: Connection, st: _State, p: Any) -> Any:
    k = sim.knobs
    symbols = []
    for s in sim.market.books:
        base, quote = split_symbol(s)
        symbols.append(
            {
                "symbol": s,
                "status": "TRADING",
                "baseAsset": base,
                "baseAssetPrecision": 8,
                "quoteAsset": quote,
                "quotePrecision": 8,
                "orderTypes": ["LIMIT", "MARKET"],
                "isSpotTradingAllowed": True,
                "filters": [],
                "permissions": [],
                "permissionSets": [["SPOT"]],
            }
        )
    return {
        "timezone": "UTC",
        "serverTime": sim.now(),
        "rateLimits": [
            sim.limit_view("REQUEST_WEIGHT", k.weight_window, k.weight_limit, None),
            sim.limit_view("ORDERS", k.orders_window, k.orders_per_10s, None),
            sim.limit_view("ORDERS", 86_400.0, k.orders_per_day, None),
        ],
        "exchangeFilters": [],
        "symbols": symbols,
    }


def _depth(sim: BinanceSimulator, conn: Connection, st: _State, p: Any) -> Any:
    symbol = _symbol(sim, p)
    limit = p.get("limit", 100)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 5000:
        raise ApiError(-1100, "limit", "1-5000")
    return sim.market.book(symbol).snapshot(limit)


def _ticker_price(sim: BinanceSimulator, conn: Connection, st: _State, p: Any) -> Any:
    many = _symbols(sim, p)
    if many is None:
        symbol = _symbol(sim, p)
        return {"symbol": symbol, "price": price_text(sim.market.book(symbol).mid)}
    return [{"symbol": s, "price": price_text(sim.market.book(s).mid)} for s in many]


def _ticker_book(sim: BinanceSimulator, conn: Connection, st: _State, p: Any) -> Any:
    def view(symbol: str) -> dict[str, Any]:
        bid, bid_q, ask, ask_q = sim.market.book(symbol).best()
        return {
            "symbol": symbol,
            "bidPrice": price_text(bid),
            "bidQty": qty_text(bid_q),
            "askPrice": price_text(ask),
            "askQty": qty_text(ask_q),
        }

    many = _symbols(sim, p)
    return view(_symbol(sim, p)) if many is None else [view(s) for s in many]


def _logon(sim: BinanceSimulator, conn: Connection, st: _State, p: Any) -> Any:
    # The simulator verified the signature and timestamp; only Ed25519 keys may log on.
    api_key = p["apiKey"]
    if not sim.keys.is_ed25519(api_key):
        raise ApiError(-1002, msg="HMAC_SHA256 API key is not supported.", status=401)
    st.session.api_key, st.session.authorized_since = api_key, sim.now()
    return _session_status(sim, conn, st, p)


def _session_status(sim: BinanceSimulator, conn: Connection, st: _State, p: Any) -> Any:
    return st.session.status(sim.now(), bool(st.session.subscriptions))


def _logout(sim: BinanceSimulator, conn: Connection, st: _State, p: Any) -> Any:
    st.session.api_key = st.session.authorized_since = None
    for sub in st.session.subscriptions or ():
        sim.user_streams.pop(sub, None)
    st.session.subscriptions = None
    return _session_status(sim, conn, st, p)


def _order_test(sim: BinanceSimulator, conn: Connection, st: _State, p: Any) -> Any:
    sim.account.validate(p)
    if p.get("computeCommissionRates") is True:
        rates = {"maker": "0.00150000", "taker": "0.00150000"}
        return {
            "standardCommissionForOrder": rates,
            "taxCommissionForOrder": rates,
            "discount": {
                "enabledForAccount": False,
                "enabledForSymbol": False,
                "discountAsset": "BNB",
                "discount": "0.25000000",
            },
        }
    return {}


def _open_orders(sim: BinanceSimulator, conn: Connection, st: _State, p: Any) -> Any:
    return sim.account.open_orders(_symbol(sim, p) if "symbol" in p else None)


def _user_subscribe(sim: BinanceSimulator, conn: Connection, st: _State, p: Any) -> Any:
    sub = next(sim.subscription_ids)
    if st.session.subscriptions is None:
        st.session.subscriptions = set()
    st.session.subscriptions.add(sub)
    sim.user_streams[sub] = conn
    return {"subscriptionId": sub}


def _user_unsubscribe(sim: BinanceSimulator, conn: Connection, st: _State, p: Any) -> Any:
    subs = st.session.subscriptions or set()
    wanted = p.get("subscriptionId")
    if wanted is not None and wanted not in subs:
        raise ApiError(-1100, "subscriptionId", "an active subscription of this session")
    for sub in [wanted] if wanted is not None else list(subs):
        subs.discard(sub)
        sim.user_streams.pop(sub, None)
    return {}


#: Methods answered by the simulator (Binance's names; see :data:`binance.METHODS`).
HANDLERS: dict[str, Handler] = {
    "ping": lambda sim, conn, st, p: {},
    "time": lambda sim, conn, st, p: {"serverTime": sim.now()},
    "exchangeInfo": _exchange_info,
    "depth": _depth,
    "ticker.price": _ticker_price,
    "ticker.book": _ticker_book,
    "session.logon": _logon,
    "session.status": _session_status,
    "session.logout": _logout,
    "order.place": lambda sim, conn, st, p: sim.account.place(p),
    "order.test": _order_test,
    "order.cancel": lambda sim, conn, st, p: sim.account.cancel(p),
    "order.status": lambda sim, conn, st, p: sim.account.find(p).view(),
    "openOrders.status": _open_orders,
    "account.status": lambda sim, conn, st, p: sim.account.status(),
    "userDataStream.subscribe": _user_subscribe,
    "userDataStream.subscribe.signature": _user_subscribe,
    "userDataStream.unsubscribe": _user_unsubscribe,
}

assert set(HANDLERS) <= set(binance.METHODS)

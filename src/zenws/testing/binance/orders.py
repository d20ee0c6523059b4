"""The simulator's account: balances, open orders and the user-data events they cause.

Limit orders rest (or fill at once when they cross the book), market orders fill at the best
price.  Every change is reported as ``executionReport`` and ``outboundAccountPosition``
events (https://developers.binance.com/docs/binance-spot-api-docs/user-data-stream).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .knobs import ApiError, BinanceKnobs
from .market import Market

__all__ = ["Account", "Order"]

_QUOTES = ("USDT", "USDC", "BTC", "ETH", "BNB")


def split_symbol(symbol: str) -> tuple[str, str]:
    """``"BTCUSDT"`` -> ``("BTC", "USDT")``."""
    for quote in _QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    return symbol[:-3], symbol[-3:]


def _num(value: float) -> str:
    return f"{value:.8f}"


def _decimal(params: Mapping[str, Any], name: str) -> float:
    value = params.get(name)
    if value is None or value == "":
        raise ApiError(-1102, name)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ApiError(-1100, name, "^([0-9]{1,20})(\\.[0-9]{1,20})?$") from None
    if not number > 0:
        raise ApiError(-1100, name, "^([0-9]{1,20})(\\.[0-9]{1,20})?$")
    return number


@dataclass
class Order:
    """One order of the account (Binance's field names in :meth:`view`)."""

    order_id: int
    client_id: str
    symbol: str
    side: str
    type: str
    tif: str
    price: float
    qty: float
    time: int
    executed: float = 0.0
    quote: float = 0.0
    status: str = "NEW"
    update_time: int = 0
    fills: list[dict[str, Any]] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        """The order as ``order.status`` returns it."""
        return {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": -1,
            "clientOrderId": self.client_id,
            "price": _num(self.price),
            "origQty": _num(self.qty),
            "executedQty": _num(self.executed),
            "cummulativeQuoteQty": _num(self.quote),
            "status": self.status,
            "timeInForce": self.tif,
            "type": self.type,
            "side": self.side,
            "stopPrice": _num(0),
            "icebergQty": _num(0),
            "time": self.time,
            "updateTime": self.update_time or self.time,
            "isWorking": True,
            "workingTime": self.time,
            "origQuoteOrderQty": _num(0),
            "selfTradePreventionMode": "NONE",
        }


class Account:
    """Balances and orders of the one account every API key of the simulator trades on.

    Args:
        knobs: settings (``balances``).
        market: books the orders trade against.
        clock: epoch ms of the simulated server.
        publish: called with each user-data event.
    """

    def __init__(
        self,
        knobs: BinanceKnobs,
        market: Market,
        clock: Callable[[], int],
        publish: Callable[[dict[str, Any]], None],
    ) -> None:
        self.market, self.clock, self.publish = market, clock, publish
        self.free = dict(knobs.balances)
        self.locked: dict[str, float] = {}
        self.orders: dict[int, Order] = {}
        self._ids = itertools.count(1)

    # ------------------------------------------------------------------ checks
    def validate(self, params: Mapping[str, Any]) -> tuple[str, str, str, float, float, str]:
        """Check an ``order.place`` / ``order.test`` request.

        Returns:
            ``(symbol, side, type, quantity, price, timeInForce)``.

        Raises:
            ApiError: -1102 missing, -1121 unknown symbol, -1100 bad value.
        """
        symbol = params.get("symbol")
        if not isinstance(symbol, str) or not symbol:
            raise ApiError(-1102, "symbol")
        if symbol not in self.market.books:
            raise ApiError(-1121)
        side, kind = params.get("side"), params.get("type")
        if side not in ("BUY", "SELL"):
            raise ApiError(-1102, "side") if side is None else ApiError(-1100, "side", "BUY|SELL")
        if kind not in ("LIMIT", "MARKET"):
            if kind is None:
                raise ApiError(-1102, "type")
            raise ApiError(-1100, "type", "LIMIT|MARKET")
        qty = _decimal(params, "quantity")
        if kind == "MARKET":
            return symbol, side, kind, qty, 0.0, ""
        tif = params.get("timeInForce")
        if tif not in ("GTC", "IOC", "FOK"):
            raise ApiError(-1102, "timeInForce")
        return symbol, side, kind, qty, _decimal(params, "price"), tif

    # ------------------------------------------------------------------ actions
    def place(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Place an order; the result in the requested ``newOrderRespType`` (default FULL)."""
        symbol, side, kind, qty, price, tif = self.validate(params)
        base, quote = split_symbol(symbol)
        bid, _, ask, _ = self.market.book(symbol).best()
        crosses = kind == "MARKET" or (ask / 100 <= price if side == "BUY" else bid / 100 >= price)
        fill_price = (ask if side == "BUY" else bid) / 100 if crosses else price
        need, asset = (qty * max(price, fill_price), quote) if side == "BUY" else (qty, base)
        if self.free.get(asset, 0.0) + 1e-12 < need:
            raise ApiError(-2010)
        now = self.clock()
        client_id = params.get("newClientOrderId")
        order = Order(
            next(self._ids),
            client_id if isinstance(client_id, str) and client_id else f"sim{now}",
            symbol,
            side,
            kind,
            tif,
            price,
            qty,
            now,
        )
        self.orders[order.order_id] = order
        self._report(order, "NEW")
        if crosses:
            self._fill(order, fill_price, base, quote)
        elif tif in ("IOC", "FOK"):
            order.status = "EXPIRED"
            self._report(order, "EXPIRED")
        else:
            self._move(asset, -need, need)
        self._position(base, quote)
        return self._response(order, str(params.get("newOrderRespType", "FULL")))

    def cancel(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Cancel an open order (-2011 when there is none)."""
        order = self.find(params, -2011)
        if order.status not in ("NEW", "PARTIALLY_FILLED"):
            raise ApiError(-2011)
        base, quote = split_symbol(order.symbol)
        if order.side == "BUY":
            self._move(quote, order.qty * order.price, -order.qty * order.price)
        else:
            self._move(base, order.qty, -order.qty)
        order.status, order.update_time = "CANCELED", self.clock()
        self._report(order, "CANCELED")
        self._position(base, quote)
        view = self._response(order, "RESULT")
        view["origClientOrderId"] = order.client_id
        return view

    def find(self, params: Mapping[str, Any], missing: int = -2013) -> Order:
        """The order named by ``orderId`` or ``origClientOrderId`` (error ``missing``)."""
        symbol = params.get("symbol")
        if not isinstance(symbol, str) or not symbol:
            raise ApiError(-1102, "symbol")
        order_id, client_id = params.get("orderId"), params.get("origClientOrderId")
        if order_id is None and client_id is None:
            raise ApiError(-1102, "orderId")
        for order in self.orders.values():
            if order.symbol == symbol and (
                order.order_id == order_id
                or (client_id is not None and order.client_id == client_id)
            ):
                return order
        raise ApiError(missing)

    def open_orders(self, symbol: str | None) -> list[dict[str, Any]]:
        """Open orders (of ``symbol``), oldest first."""
        return [
            o.view()
            for o in self.orders.values()
            if o.status in ("NEW", "PARTIALLY_FILLED") and symbol in (None, o.symbol)
        ]

    def status(self) -> dict[str, Any]:
        """The ``account.status`` result."""
        assets = sorted({*self.free, *self.locked})
        return {
            "makerCommission": 15,
            "takerCommission": 15,
            "buyerCommission": 0,
            "sellerCommission": 0,
            "canTrade": True,
            "canWithdraw": True,
            "canDeposit": True,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": self.clock(),
            "accountType": "SPOT",
            "balances": [
                {
                    "asset": a,
                    "free": _num(self.free.get(a, 0.0)),
                    "locked": _num(self.locked.get(a, 0.0)),
                }
                for a in assets
            ],
            "permissions": ["SPOT"],
            "uid": 1,
        }

    # ------------------------------------------------------------------ internals
    def _move(self, asset: str, free: float, locked: float) -> None:
        self.free[asset] = self.free.get(asset, 0.0) + free
        self.locked[asset] = self.locked.get(asset, 0.0) + locked

    def _fill(self, order: Order, price: float, base: str, quote: str) -> None:
        cost = order.qty * price
        if order.side == "BUY":
            self._move(quote, -cost, 0.0)
            self._move(base, order.qty, 0.0)
        else:
            self._move(base, -order.qty, 0.0)
            self._move(quote, cost, 0.0)
        order.executed, order.quote, order.status = order.qty, cost, "FILLED"
        book = self.market.book(order.symbol)
        book.trade_id += 1
        order.fills.append(
            {
                "price": _num(price),
                "qty": _num(order.qty),
                "commission": _num(0),
                "commissionAsset": quote,
                "tradeId": book.trade_id,
            }
        )
        order.update_time = self.clock()
        self._report(order, "TRADE", price)

    def _response(self, order: Order, resp_type: str) -> dict[str, Any]:
        ack = {
            "symbol": order.symbol,
            "orderId": order.order_id,
            "orderListId": -1,
            "clientOrderId": order.client_id,
            "transactTime": order.update_time or order.time,
        }
        if resp_type == "ACK":
            return ack
        view = order.view()
        for key in ("stopPrice", "icebergQty", "time", "updateTime", "isWorking"):
            view.pop(key)
        out = {**ack, **view}
        if resp_type == "FULL":
            out["fills"] = list(order.fills)
        return out

    def _report(self, order: Order, execution: str, last_price: float = 0.0) -> None:
        now = self.clock()
        traded = execution == "TRADE"
        self.publish(
            {
                "e": "executionReport",
                "E": now,
                "s": order.symbol,
                "c": order.client_id,
                "S": order.side,
                "o": order.type,
                "f": order.tif or "GTC",
                "q": _num(order.qty),
                "p": _num(order.price),
                "P": _num(0),
                "F": _num(0),
                "g": -1,
                "C": "",
                "x": execution,
                "X": order.status,
                "r": "NONE",
                "i": order.order_id,
                "l": _num(order.qty if traded else 0),
                "z": _num(order.executed),
                "L": _num(last_price),
                "n": "0",
                "N": None,
                "T": now,
                "t": self.market.book(order.symbol).trade_id if traded else -1,
                "I": 0,
                "w": order.status == "NEW",
                "m": False,
                "M": False,
                "O": order.time,
                "Z": _num(order.quote),
                "Y": _num(order.quote if traded else 0),
                "Q": _num(0),
                "W": order.time,
                "V": "NONE",
            }
        )

    def _position(self, *assets: str) -> None:
        now = self.clock()
        balances = [
            {"a": a, "f": _num(self.free.get(a, 0.0)), "l": _num(self.locked.get(a, 0.0))}
            for a in assets
        ]
        self.publish({"e": "outboundAccountPosition", "E": now, "u": now, "B": balances})

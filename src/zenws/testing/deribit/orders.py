"""A minimal order book for the simulator's private trading methods.

Limit orders that cross the simulated best bid/ask fill at once (at that price); others rest
until cancelled.  Orders remember the connection that placed them, so cancel-on-disconnect
(https://docs.deribit.com/#private-enable_cancel_on_disconnect) can cancel exactly those.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from .knobs import RpcFault
from .market import Market, now_ms

__all__ = ["OrderBook"]

Order = dict[str, Any]


class OrderBook:
    """Orders of every account of one simulator."""

    def __init__(self, market: Market, on_update: Callable[[str, Order], None]) -> None:
        """Create an empty book.

        Args:
            market: source of best bid/ask for fills.
            on_update: called with ``(account, order)`` after every state change
                (the simulator turns it into ``user.orders.*`` notifications).
        """
        self.market = market
        self.on_update = on_update
        self.orders: dict[str, Order] = {}
        self.owner: dict[str, tuple[str, int]] = {}  # order_id -> (account, connection id)
        self._ids = itertools.count(1)
        # (account, instrument) -> [signed size, average entry price]
        self.positions: dict[tuple[str, str], list[float]] = {}

    def place(self, account: str, conn_id: int, direction: str, params: dict[str, Any]) -> Any:
        """``private/buy`` / ``private/sell``.

        Raises:
            RpcFault: -32602 for missing or invalid parameters.
        """
        name = params.get("instrument_name")
        inst = self.market.instruments.get(name) if isinstance(name, str) else None
        if inst is None:
            raise RpcFault(
                -32602,
                "Invalid params",
                {"reason": "unknown instrument", "param": "instrument_name"},
            )
        amount = params.get("amount")
        if not isinstance(amount, (int, float)) or isinstance(amount, bool) or amount <= 0:
            raise RpcFault(-32602, "Invalid params", {"reason": "must be > 0", "param": "amount"})
        kind = params.get("type", "limit")
        if kind not in ("limit", "market"):
            raise RpcFault(-32602, "Invalid params", {"reason": "unsupported", "param": "type"})
        inst.catch_up()
        touch = inst.price(inst.best_ask if direction == "buy" else inst.best_bid)
        price = params.get("price", touch)
        if kind == "limit" and not isinstance(price, (int, float)):
            raise RpcFault(-32602, "Invalid params", {"reason": "required", "param": "price"})
        crosses = kind == "market" or (price >= touch if direction == "buy" else price <= touch)
        if crosses and params.get("post_only"):
            raise RpcFault(11054, "post_only_reject")
        order_id = f"{inst.name.split('-')[0]}-{next(self._ids)}"
        ts = now_ms()
        order: Order = {
            "order_id": order_id,
            "instrument_name": inst.name,
            "direction": direction,
            "amount": float(amount),
            "filled_amount": float(amount) if crosses else 0.0,
            "price": touch if kind == "market" else float(price),
            "average_price": touch if crosses else 0.0,
            "order_state": "filled" if crosses else "open",
            "order_type": kind,
            "time_in_force": params.get("time_in_force", "good_til_cancelled"),
            "label": params.get("label", ""),
            "post_only": bool(params.get("post_only", False)),
            "reduce_only": bool(params.get("reduce_only", False)),
            "creation_timestamp": ts,
            "last_update_timestamp": ts,
            "api": True,
            "web": False,
            "replaced": False,
        }
        trades = []
        if crosses:
            trades.append(
                {
                    "trade_id": f"T-{order_id}",
                    "order_id": order_id,
                    "instrument_name": inst.name,
                    "direction": direction,
                    "amount": float(amount),
                    "price": touch,
                    "timestamp": ts,
                    "liquidity": "T",
                }
            )
            self._fill(account, inst.name, direction, float(amount), touch)
        self.orders[order_id] = order
        self.owner[order_id] = (account, conn_id)
        self.on_update(account, order)
        return {"order": dict(order), "trades": trades}

    def _own(self, account: str, order_id: Any) -> Order:
        order = self.orders.get(order_id) if isinstance(order_id, str) else None
        if order is None or self.owner[order_id][0] != account:
            raise RpcFault(10004, "order_not_found")
        return order

    def cancel(self, account: str, order_id: Any, reason: str = "user_request") -> Order:
        """``private/cancel``.

        Raises:
            RpcFault: 10004 unknown order, 11044 not open.
        """
        order = self._own(account, order_id)
        if order["order_state"] != "open":
            raise RpcFault(11044, "not_open_order")
        order.update(order_state="cancelled", cancel_reason=reason, last_update_timestamp=now_ms())
        self.on_update(account, order)
        return dict(order)

    def cancel_where(self, account: str, reason: str, **match: Any) -> int:
        """Cancel the open orders of ``account`` matching ``match`` (``conn_id``, order fields)."""
        count = 0
        for order_id, order in self.orders.items():
            owner, conn_id = self.owner[order_id]
            if owner != account or order["order_state"] != "open":
                continue
            if "conn_id" in match and conn_id != match["conn_id"]:
                continue
            fields = {k: v for k, v in match.items() if k != "conn_id"}
            if any(order.get(k) != v for k, v in fields.items()):
                continue
            self.cancel(account, order_id, reason)
            count += 1
        return count

    def open_orders(self, account: str, **match: Any) -> list[Order]:
        """Open orders of ``account`` (optionally filtered by order fields)."""
        return [
            dict(o)
            for oid, o in self.orders.items()
            if self.owner[oid][0] == account
            and o["order_state"] == "open"
            and all(o.get(k) == v for k, v in match.items())
        ]

    def state(self, account: str, order_id: Any) -> Order:
        """``private/get_order_state``."""
        return dict(self._own(account, order_id))

    def _fill(
        self, account: str, instrument: str, direction: str, amount: float, price: float
    ) -> None:
        pos = self.positions.setdefault((account, instrument), [0.0, 0.0])
        signed = amount if direction == "buy" else -amount
        if pos[0] == 0 or (pos[0] > 0) == (signed > 0):  # opening or adding
            pos[1] = (pos[1] * abs(pos[0]) + price * amount) / (abs(pos[0]) + amount)
        pos[0] += signed
        if pos[0] == 0:
            pos[1] = 0.0

    def edit(self, account: str, params: dict[str, Any]) -> Any:
        """``private/edit {order_id, amount, price}``: change an open order (may fill it).

        Raises:
            RpcFault: 10004 unknown order, 11044 not open, -32602 bad amount/price.
        """
        order = self._own(account, params.get("order_id"))
        if order["order_state"] != "open":
            raise RpcFault(11044, "not_open_order")
        amount: Any = params.get("amount", order["amount"])
        price: Any = params.get("price", order["price"])
        for name, value in (("amount", amount), ("price", price)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise RpcFault(-32602, "Invalid params", {"reason": "must be > 0", "param": name})
        inst = self.market.instruments[order["instrument_name"]]
        inst.catch_up()
        buy = order["direction"] == "buy"
        touch = inst.price(inst.best_ask if buy else inst.best_bid)
        order.update(
            amount=float(amount), price=float(price), replaced=True, last_update_timestamp=now_ms()
        )
        trades = []
        if price >= touch if buy else price <= touch:
            order.update(order_state="filled", filled_amount=float(amount), average_price=touch)
            self._fill(account, inst.name, order["direction"], float(amount), touch)
            trades.append(
                {
                    "trade_id": f"T-{order['order_id']}-e",
                    "order_id": order["order_id"],
                    "instrument_name": inst.name,
                    "direction": order["direction"],
                    "amount": float(amount),
                    "price": touch,
                    "timestamp": now_ms(),
                    "liquidity": "T",
                }
            )
        self.on_update(account, order)
        return {"order": dict(order), "trades": trades}

    def position_list(self, account: str, currency: str | None = None) -> list[dict[str, Any]]:
        """``private/get_positions``: one entry per simulated instrument of ``currency``."""
        out = []
        for name, inst in self.market.instruments.items():
            if currency not in (None, "any", name.split("-")[0]):
                continue
            size, entry = self.positions.get((account, name), [0.0, 0.0])
            mark = inst.price(inst.mid_ticks)
            out.append(
                {
                    "instrument_name": name,
                    "kind": "future",
                    "size": size,
                    "direction": "buy" if size > 0 else "sell" if size < 0 else "zero",
                    "average_price": entry,
                    "mark_price": mark,
                    "floating_profit_loss": round((mark - entry) * size / mark, 8) if size else 0.0,
                }
            )
        return out

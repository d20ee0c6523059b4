"""Declarative Deribit RPC helpers: one table row per method.

``rpc("public/ticker", ("instrument_name",), doc=...)`` placed in a class body becomes an
``async def ticker(self, instrument_name, **params)`` bound method that calls
``self.request("public/ticker", {...})``.  Required parameters may be passed positionally in
table order; optional ones by keyword (any Deribit parameter is passed through).  ``timeout=``
is the request deadline, never sent.  https://docs.deribit.com/ lists every parameter.
"""

from __future__ import annotations

from ._methods import TableMethod

__all__ = ["METHODS", "RpcMethod", "rpc"]


class RpcMethod(TableMethod):
    """A Deribit helper: named after the last part of the method (``"private/buy"`` -> ``buy``)."""

    def __init__(
        self,
        method: str,
        required: tuple[str, ...] = (),
        optional: tuple[str, ...] = (),
        *,
        doc: str,
    ) -> None:
        super().__init__(method, required, optional, doc=doc, name=method.rsplit("/", 1)[-1])


def rpc(
    method: str, required: tuple[str, ...] = (), optional: tuple[str, ...] = (), *, doc: str
) -> RpcMethod:
    """One row of the method table (see the module docstring)."""
    return RpcMethod(method, required, optional, doc=doc)


_ORDER_OPTIONAL = (
    "type",
    "price",
    "label",
    "time_in_force",
    "post_only",
    "reduce_only",
    "trigger",
    "trigger_price",
    "max_show",
)

#: name -> RpcMethod; DeribitClient gets one attribute per row.
METHODS: dict[str, RpcMethod] = {
    "test": rpc("public/test", (), ("expected_result",), doc="Echo the API version."),
    "get_time": rpc("public/get_time", doc="Server time in milliseconds since the epoch."),
    "get_instruments": rpc(
        "public/get_instruments",
        ("currency",),
        ("kind", "expired"),
        doc="List the instruments of a currency (BTC, ETH, ...).",
    ),
    "ticker": rpc("public/ticker", ("instrument_name",), doc="Ticker of one instrument."),
    "get_order_book": rpc(
        "public/get_order_book",
        ("instrument_name",),
        ("depth",),
        doc="Order book snapshot of one instrument.",
    ),
    "buy": rpc(
        "private/buy", ("instrument_name", "amount"), _ORDER_OPTIONAL, doc="Place a buy order."
    ),
    "sell": rpc(
        "private/sell", ("instrument_name", "amount"), _ORDER_OPTIONAL, doc="Place a sell order."
    ),
    "edit": rpc(
        "private/edit",
        ("order_id", "amount"),
        ("price", "post_only", "reduce_only"),
        doc="Change the amount and/or price of an open order.",
    ),
    "cancel": rpc("private/cancel", ("order_id",), doc="Cancel one order."),
    "cancel_all": rpc("private/cancel_all", doc="Cancel every open order; returns the count."),
    "get_open_orders": rpc(
        "private/get_open_orders", (), ("kind", "type"), doc="List open orders."
    ),
    "get_positions": rpc(
        "private/get_positions", ("currency",), ("kind",), doc="Positions in one currency."
    ),
    "get_account_summary": rpc(
        "private/get_account_summary",
        ("currency",),
        ("extended",),
        doc="Balance, equity and margins of one currency.",
    ),
}

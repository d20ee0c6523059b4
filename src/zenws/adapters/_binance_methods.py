"""Declarative Binance WebSocket API helpers: one table row per method.

``api("ticker.price", ("symbol",), doc=...)`` in a class body becomes an
``async def ticker_price(self, symbol, **params)`` bound method that calls
``self.request("ticker.price", {...})``; the adapter's :meth:`request` signs it when the
method's security type (:func:`security_of`) says so.  Required parameters may be passed
positionally in table order; any other Binance parameter by keyword.  ``timeout=`` is the
request deadline, never sent.
"""

from __future__ import annotations

from typing import Any

from ..exchanges import binance
from ._methods import TableMethod

__all__ = ["METHODS", "SIGNED", "ApiMethod", "api", "security_of"]


#: Security types whose requests carry ``timestamp`` and ``signature``.
SIGNED = binance.SIGNED_SECURITY


def security_of(method: str) -> str:
    """The security type of ``method`` from :data:`zenws.exchanges.binance.METHODS`.

    Methods missing from the table are ``"NONE"`` (sent unsigned).
    """
    known = binance.METHODS.get(method)
    return known.security if known is not None else "NONE"


class ApiMethod(TableMethod):
    """A Binance helper: ``"ticker.price"`` -> ``ticker_price``, ``"exchangeInfo"`` ->
    ``exchange_info``; signed when the method's security type says so."""

    RAISES = (
        "RpcError: the server answered with an error (``status``, ``code``, ``msg``).",
        "RateLimited: status 429 or 418 (``retry_after`` in seconds).",
        "RequestTimeout, ConnectionLost: no answer.",
        "TypeError: a required parameter is missing.",
    )

    def __init__(self, method: str, required: tuple[str, ...] = (), *, doc: str) -> None:
        self.security = security_of(method)
        name = method.replace(".", "_")
        name = "".join("_" + c.lower() if c.isupper() else c for c in name)
        super().__init__(method, required, doc=doc, name=name)

    def _calls(self) -> str:
        signed = " (signed)" if self.security in SIGNED else ""
        return f"Calls ``{self.method}``{signed}."

    def wire(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """No parameters: the request carries no ``params`` member at all."""
        return self.params(args, kwargs) or None


def api(method: str, required: tuple[str, ...] = (), *, doc: str) -> ApiMethod:
    """One row of the table (see the module docstring)."""
    return ApiMethod(method, required, doc=doc)


METHODS: dict[str, ApiMethod] = {
    m.method: m
    for m in (
        api("ping", doc="Test connectivity."),
        api("time", doc="The server time (``{'serverTime': ms}``)."),
        api("exchangeInfo", doc="Trading rules, rate limits and symbols."),
        api("depth", ("symbol",), doc="An order book snapshot (``lastUpdateId``, bids, asks)."),
        api("ticker.price", doc="Latest price of a symbol (``symbol=``) or of several."),
        api("ticker.book", doc="Best bid/ask of a symbol (``symbol=``) or of several."),
        api("order.place", ("symbol", "side", "type"), doc="Place an order."),
        api("order.test", ("symbol", "side", "type"), doc="Validate an order without placing it."),
        api(
            "order.cancel",
            ("symbol",),
            doc="Cancel an order (``orderId=`` or ``origClientOrderId=``).",
        ),
        api(
            "order.status",
            ("symbol",),
            doc="An order's status (``orderId=`` or ``origClientOrderId=``).",
        ),
        api("openOrders.status", doc="Open orders (of ``symbol=``, or all)."),
        api("account.status", doc="Account balances and permissions."),
        api(
            "userDataStream.subscribe",
            doc="Receive this account's user-data events on this connection (needs logon).",
        ),
    )
}

"""Declarative Binance WebSocket API helpers: one table row per method.

``api("ticker.price", ("symbol",), doc=...)`` in a class body becomes an
``async def ticker_price(self, symbol, **params)`` bound method that calls
``self.request("ticker.price", {...})``; the adapter's :meth:`request` signs it when the
method's security type (:func:`security_of`) says so.  Required parameters may be passed
positionally in table order; any other Binance parameter by keyword.  ``timeout=`` is the
request deadline, never sent.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ..exchanges import binance

__all__ = ["METHODS", "SIGNED", "ApiMethod", "api", "security_of"]


#: Security types whose requests carry ``timestamp`` and ``signature``.
SIGNED = binance.SIGNED_SECURITY


def security_of(method: str) -> str:
    """The security type of ``method`` from :data:`zenws.exchanges.binance.METHODS`.

    Methods missing from the table are ``"NONE"`` (sent unsigned).
    """
    known = binance.METHODS.get(method)
    return known.security if known is not None else "NONE"


class _Requester(Protocol):
    def request(self, method: str, params: Any = None, *, timeout: float | None = None) -> Any: ...


class ApiMethod:
    """Descriptor: an async helper generated from one table row.

    Args:
        method: the wire method (``"order.place"``).
        required: required parameter names, in positional order.
        doc: the docstring summary.
    """

    def __init__(self, method: str, required: tuple[str, ...] = (), *, doc: str) -> None:
        self.method = method
        self.required = required
        self.security = security_of(method)
        self.name = method.replace(".", "_")
        self.name = "".join("_" + c.lower() if c.isupper() else c for c in self.name)
        self.__doc__ = self._docstring(doc)

    def _docstring(self, summary: str) -> str:
        signed = " (signed)" if self.security in SIGNED else ""
        lines = [summary, "", f"Calls ``{self.method}``{signed}.", "", "Args:"]
        lines += [f"    {p}: required." for p in self.required]
        lines += [
            "    timeout: request deadline in seconds (default: the client's request_timeout).",
            "    **params: any other parameter of the method, passed through.",
            "",
            "Returns:",
            "    The ``result`` member of the response.",
            "",
            "Raises:",
            "    RpcError: the server answered with an error (``status``, ``code``, ``msg``).",
            "    RateLimited: status 429 or 418 (``retry_after`` in seconds).",
            "    RequestTimeout, ConnectionLost: no answer.",
        ]
        return "\n".join(lines)

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        return self._bind(obj)

    def _bind(self, obj: _Requester) -> Callable[..., Awaitable[Any]]:
        method, required = self.method, self.required

        async def call(*args: Any, timeout: float | None = None, **params: Any) -> Any:
            if len(args) > len(required):
                raise TypeError(
                    f"{self.name}() takes at most {len(required)} positional argument(s)"
                )
            for name, value in zip(required, args, strict=False):
                if name in params:
                    raise TypeError(f"{self.name}() got multiple values for {name!r}")
                params[name] = value
            missing = [p for p in required if p not in params]
            if missing:
                raise TypeError(f"{self.name}() missing required argument(s): {missing}")
            return await obj.request(method, params or None, timeout=timeout)

        call.__name__ = self.name
        call.__qualname__ = f"BinanceClient.{self.name}"
        call.__doc__ = self.__doc__
        params = [inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in required]
        params.append(inspect.Parameter("timeout", inspect.Parameter.KEYWORD_ONLY, default=None))
        params.append(inspect.Parameter("params", inspect.Parameter.VAR_KEYWORD))
        call.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        return call


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

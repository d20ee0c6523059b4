"""Declarative Deribit RPC helpers: one table row per method.

``rpc("public/ticker", ("instrument_name",), doc=...)`` placed in a class body becomes an
``async def ticker(self, instrument_name, **params)`` bound method that calls
``self.request("public/ticker", {...})``.  Required parameters may be passed positionally in
table order; optional ones by keyword (any Deribit parameter is passed through).  ``timeout=``
is the request deadline, never sent.  https://docs.deribit.com/ lists every parameter.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

__all__ = ["METHODS", "RpcMethod", "rpc"]


class _Requester(Protocol):
    def request(self, method: str, params: Any = None, *, timeout: float | None = None) -> Any: ...


class RpcMethod:
    """Descriptor: a typed-enough async helper generated from one table row.

    Args:
        method: the wire method (``"private/buy"``).
        required: required parameter names, in positional order.
        optional: documented optional parameter names (others are passed through too).
        doc: the docstring summary.
    """

    def __init__(
        self,
        method: str,
        required: tuple[str, ...] = (),
        optional: tuple[str, ...] = (),
        *,
        doc: str,
    ) -> None:
        self.method = method
        self.required = required
        self.optional = optional
        self.name = method.rsplit("/", 1)[-1]
        self.__doc__ = self._docstring(doc)

    def _docstring(self, summary: str) -> str:
        lines = [summary, "", f"Calls ``{self.method}``.", "", "Args:"]
        lines += [f"    {p}: required." for p in self.required]
        lines += [f"    {p}: optional." for p in self.optional]
        lines += [
            "    timeout: request deadline in seconds (default: the client's request_timeout).",
            "    **params: any other parameter of the method, passed through.",
            "",
            "Returns:",
            "    The ``result`` member of the response.",
            "",
            "Raises:",
            "    RpcError: the server answered with an error.",
            "    RequestTimeout, ConnectionLost: no answer.",
            "    TypeError: a required parameter is missing.",
        ]
        return "\n".join(lines)

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def params(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Build the params object from positional and keyword arguments."""
        if len(args) > len(self.required):
            raise TypeError(
                f"{self.name}() takes at most {len(self.required)} positional arguments "
                f"({', '.join(self.required) or 'none'}), got {len(args)}"
            )
        params = dict(zip(self.required, args, strict=False))
        for key in params:
            if key in kwargs:
                raise TypeError(f"{self.name}() got multiple values for {key!r}")
        params.update({k: v for k, v in kwargs.items() if v is not None})
        missing = [p for p in self.required if p not in params]
        if missing:
            raise TypeError(f"{self.name}() missing required parameter(s): {', '.join(missing)}")
        return params

    def __get__(self, obj: Any, owner: type | None = None) -> Callable[..., Awaitable[Any]]:
        if obj is None:
            return self  # type: ignore[return-value]
        spec = self
        client: _Requester = obj

        async def call(*args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
            return await client.request(spec.method, spec.params(args, kwargs), timeout=timeout)

        call.__name__ = call.__qualname__ = self.name
        call.__doc__ = self.__doc__
        call.__signature__ = self.signature()  # type: ignore[attr-defined]
        return call

    def signature(self) -> inspect.Signature:
        """The signature shown by ``help()``."""
        P = inspect.Parameter
        params = [P(n, P.POSITIONAL_OR_KEYWORD) for n in self.required]
        params += [P(n, P.KEYWORD_ONLY, default=None) for n in self.optional]
        params.append(P("timeout", P.KEYWORD_ONLY, default=None))
        params.append(P("params", P.VAR_KEYWORD))
        return inspect.Signature(params)


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

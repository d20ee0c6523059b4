"""Declarative request helpers, shared by the venue adapters' method tables.

A :class:`TableMethod` placed in a class body becomes an ``async def name(self, *required,
timeout=None, **params)`` bound method that calls ``self.request(method, params)``.
Required parameters may be passed positionally in table order; documented optional ones and
any other venue parameter by keyword (``None`` values are left out).  ``timeout=`` is the
request deadline, never sent.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

__all__ = ["TableMethod"]


class _Requester(Protocol):
    def request(self, method: str, params: Any = None, *, timeout: float | None = None) -> Any: ...


class TableMethod:
    """Descriptor: an async helper generated from one table row.

    Args:
        method: the wire method (``"private/buy"``, ``"order.place"``).
        required: required parameter names, in positional order.
        optional: documented optional parameter names (others are passed through too).
        doc: the docstring summary.
        name: the helper's attribute name (default: set by the class body).
    """

    #: What the venue's errors look like (the docstring's ``Raises:`` lines).
    RAISES: tuple[str, ...] = (
        "RpcError: the server answered with an error.",
        "RequestTimeout, ConnectionLost: no answer.",
        "TypeError: a required parameter is missing.",
    )

    def __init__(
        self,
        method: str,
        required: tuple[str, ...] = (),
        optional: tuple[str, ...] = (),
        *,
        doc: str,
        name: str = "",
    ) -> None:
        self.method = method
        self.required = required
        self.optional = optional
        self.name = name or method
        self.__doc__ = self._docstring(doc)

    def _calls(self) -> str:
        return f"Calls ``{self.method}``."

    def _docstring(self, summary: str) -> str:
        lines = [summary, "", self._calls(), "", "Args:"]
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
        ]
        lines += [f"    {line}" for line in self.RAISES]
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

    def wire(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """What the helper sends as ``params``: :meth:`params` (a venue may send ``None``)."""
        return self.params(args, kwargs)

    def __get__(self, obj: Any, owner: type | None = None) -> Callable[..., Awaitable[Any]]:
        if obj is None:
            return self  # type: ignore[return-value]
        spec = self
        client: _Requester = obj

        async def call(*args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
            return await client.request(spec.method, spec.wire(args, kwargs), timeout=timeout)

        call.__name__ = self.name
        call.__qualname__ = f"{type(obj).__name__}.{self.name}"
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

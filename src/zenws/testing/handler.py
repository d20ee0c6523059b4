"""Records and the handler interface shared by :class:`~zenws.testing.MockServer` and simulators.

A *handler* decides what the mock server does with each complete client message.  It is the
extension point for every server personality: the default echo, the exchange simulators
(:class:`~zenws.testing.DeribitSimulator`, :class:`~zenws.testing.BinanceSimulator`) and any
replay of a recorded session.  Subclass :class:`Handler` (every hook is optional) or pass a
plain callable ``handler(connection, message)``; sync and async hooks are both accepted and the
messages of one connection are always handled in arrival order.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from .._redact import REDACTED, is_sensitive, redact_text

if TYPE_CHECKING:
    from .connection import Connection
    from .server import MockServer

__all__ = [
    "EchoHandler",
    "FunctionHandler",
    "Handler",
    "Received",
    "Refusal",
    "UpgradeRequest",
    "as_handler",
    "redact",
]

_MISSING = object()


def redact(text: str) -> str:
    """Replace the values of secret-bearing keys in ``text`` with ``"***"``.

    Secrets never reach reprs or assertion messages, even from a mock server: this is the
    rule set of every other zenws surface (:func:`zenws._redact.redact_text`).

    Args:
        text: a message as text.

    Returns:
        The text with ``client_secret``, ``signature``, tokens and passwords masked.
    """
    return redact_text(text)


@dataclass(frozen=True, eq=False)
class Received:
    """One complete message a client sent, as captured by the mock server.

    Attributes:
        connection_id: id of the :class:`~zenws.testing.Connection` it arrived on.
        data: ``str`` for a text message, ``bytes`` for a binary one.
        mono_ns: ``time.monotonic_ns()`` when the last frame of the message arrived.
    """

    connection_id: int
    data: str | bytes
    mono_ns: int = field(default_factory=time.monotonic_ns)

    @property
    def is_text(self) -> bool:
        """True for a text message."""
        return isinstance(self.data, str)

    @property
    def text(self) -> str:
        """The message as text (binary payloads are decoded as UTF-8 with replacement)."""
        if isinstance(self.data, str):
            return self.data
        return self.data.decode("utf-8", "replace")

    def json(self, default: Any = _MISSING) -> Any:
        """Parse the message as JSON.

        Args:
            default: returned when the payload is not valid JSON; without it the error propagates.

        Returns:
            The parsed value.

        Raises:
            orjson.JSONDecodeError: the payload is not JSON and no default was given.
        """
        try:
            return orjson.loads(self.data)
        except orjson.JSONDecodeError:
            if default is _MISSING:
                raise
            return default

    def shown(self, limit: int = 200) -> str:
        """A short, secret-free rendering for reprs and assertion messages."""
        data: str | bytes = redact(self.data) if isinstance(self.data, str) else self.data
        more = "" if len(data) <= limit else f"...(+{len(data) - limit})"
        return f"{data[:limit]!r}{more}"

    def __repr__(self) -> str:
        return f"<Received conn={self.connection_id} {self.shown()}>"


@dataclass(frozen=True, repr=False)
class UpgradeRequest:
    """What a client sent in its HTTP upgrade request (recorded for every attempt).

    Attributes:
        path: request path without the query string, e.g. ``"/ws/api/v2"``.
        query: query-string parameters (last value wins for repeated names).
        headers: request headers; look-ups are case-insensitive.
        target: the raw request target (path and query) as sent.
        mono_ns: ``time.monotonic_ns()`` when the request was parsed.
    """

    path: str
    query: dict[str, str]
    headers: Mapping[str, str]
    target: str
    mono_ns: int = field(default_factory=time.monotonic_ns)

    def __repr__(self) -> str:
        headers = {k: (REDACTED if is_sensitive(k) else v) for k, v in self.headers.items()}
        query = {k: (REDACTED if is_sensitive(k) else v) for k, v in self.query.items()}
        return f"UpgradeRequest(path={self.path!r}, query={query!r}, headers={headers!r})"

    @classmethod
    def from_picows(cls, request: Any) -> UpgradeRequest:
        """Build a record from a picows ``WSUpgradeRequest``.

        Args:
            request: the picows upgrade request (``path`` bytes, ``headers`` CIMultiDict).

        Returns:
            A detached, immutable record.
        """
        from multidict import CIMultiDict, CIMultiDictProxy

        target = bytes(request.path).decode("latin-1")
        parts = urlsplit(target)
        headers = CIMultiDictProxy(CIMultiDict(request.headers))
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        return cls(path=parts.path or "/", query=query, headers=headers, target=target)


@dataclass
class Refusal:
    """An HTTP answer that refuses upgrades instead of switching protocols.

    Attributes:
        status: HTTP status code (e.g. 401, 429, 503, or a 3xx redirect).
        headers: response headers (e.g. ``{"Retry-After": "2"}``).
        body: response body.
        remaining: upgrades still to refuse (``None`` = until cleared).
    """

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    remaining: int | None = 1

    def response(self) -> Any:
        """Build the picows response object."""
        from http import HTTPStatus

        from multidict import CIMultiDict
        from picows import WSUpgradeResponse, WSUpgradeResponseWithListener

        resp = WSUpgradeResponse()
        resp.version = b"HTTP/1.1"
        resp.status = HTTPStatus(self.status)
        resp.headers = CIMultiDict(self.headers)
        resp.body = self.body or None
        return WSUpgradeResponseWithListener(resp, None)


class Handler:
    """Base class of mock-server behaviours; every hook is optional and may be async.

    Hooks for one connection run in order: ``on_connect``, then ``on_message`` for each message
    (the next one starts only after an async hook finished), then ``on_disconnect``.
    """

    async def on_start(self, server: MockServer) -> None:
        """Called once when the server starts listening (also after a restart)."""

    async def on_stop(self, server: MockServer) -> None:
        """Called when the server stops; cancel background tasks here."""

    def on_upgrade(self, request: UpgradeRequest) -> Refusal | None:
        """Decide on an upgrade before it is accepted (after path checks and queued refusals).

        Returns:
            ``None`` to accept, or a :class:`~zenws.testing.Refusal` to answer with HTTP.
        """
        return None

    def on_connect(self, connection: Connection) -> Awaitable[None] | None:
        """Called when a WebSocket upgrade completed."""
        return None

    def on_message(self, connection: Connection, message: Received) -> Awaitable[None] | None:
        """Called with each complete client message (already captured)."""
        return None

    def on_pong(self, connection: Connection, payload: bytes) -> None:
        """Called when the client sends a PONG frame."""

    def on_disconnect(self, connection: Connection) -> None:
        """Called once the TCP connection is gone (however it ended)."""


class EchoHandler(Handler):
    """The default behaviour: send every message back unchanged (text stays text)."""

    def on_message(self, connection: Connection, message: Received) -> None:
        """Echo ``message`` to the connection it came from."""
        connection.send(message.data)


MessageFunction = Callable[["Connection", Received], "Awaitable[None] | None"]


class FunctionHandler(Handler):
    """Adapts a plain ``fn(connection, message)`` (sync or async) to :class:`Handler`."""

    def __init__(self, fn: MessageFunction) -> None:
        """Wrap ``fn``.

        Args:
            fn: called with ``(connection, message)`` for each complete message.
        """
        self.fn = fn

    def on_message(self, connection: Connection, message: Received) -> Awaitable[None] | None:
        """Forward to the wrapped function."""
        return self.fn(connection, message)


def as_handler(handler: Handler | MessageFunction | None) -> Handler:
    """Normalise the ``handler`` argument of :class:`~zenws.testing.MockServer`.

    Args:
        handler: ``None`` (echo), a :class:`Handler`, or a callable ``(connection, message)``.

    Returns:
        A :class:`Handler` instance.

    Raises:
        TypeError: ``handler`` is neither.
    """
    if handler is None:
        return EchoHandler()
    if isinstance(handler, Handler):
        return handler
    if callable(handler):
        return FunctionHandler(handler)
    raise TypeError(f"handler must be a zenws.testing.Handler or a callable, not {handler!r}")


def is_awaitable(value: object) -> bool:
    """True if ``value`` must be awaited (coroutine, task, future)."""
    return inspect.isawaitable(value)

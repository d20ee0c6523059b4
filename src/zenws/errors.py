"""The zenws exception hierarchy.

Every error zenws raises derives from :class:`ZenwsError` and carries structured
fields (status codes, close codes, epochs) rather than only a message, so callers
can branch on data.  :func:`categorize` and :func:`explain` live here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "ConfigError",
    "ConnectError",
    "ConnectionLost",
    "ProtocolError",
    "RateLimited",
    "RequestTimeout",
    "RpcError",
    "ZenwsError",
]


class ZenwsError(Exception):
    """Base class of every exception raised by zenws."""


class ConfigError(ZenwsError, ValueError):
    """A configuration value is invalid.

    Attributes:
        field: the name of the offending option (``None`` for cross-field problems).
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ConnectError(ZenwsError, ConnectionError):
    """Opening the WebSocket failed (TCP, DNS, TLS, timeout or a refused upgrade).

    Attributes:
        url: the URL with any query-string secrets removed.
        status: HTTP status of a refused upgrade, else ``None``.
        headers: response headers of a refused upgrade (lower-cased names).
        body: first bytes of the refused upgrade's body.
        retry_after: seconds from a ``Retry-After`` header, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str = "",
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.headers: dict[str, str] = dict(headers or {})
        self.body = body
        self.retry_after = retry_after


class ConnectionLost(ZenwsError, ConnectionError):
    """The connection dropped while an operation was in flight.

    Attributes:
        epoch: the connection epoch (incremented on each successful connect) that was lost.
        code: WebSocket close code if one was received or sent, else ``None``.
        reason: close reason text.
    """

    def __init__(
        self, message: str = "connection lost", *, epoch: int = 0,
        code: int | None = None, reason: str = "",
    ) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.code = code
        self.reason = reason


class RequestTimeout(ZenwsError, TimeoutError):
    """A JSON-RPC request got no response before its deadline.

    Attributes:
        method: the JSON-RPC method name.
        request_id: the id the request was sent with.
        timeout: the deadline in seconds.
    """

    def __init__(self, message: str, *, method: str = "", request_id: Any = None,
                 timeout: float = 0.0) -> None:
        super().__init__(message)
        self.method = method
        self.request_id = request_id
        self.timeout = timeout


class RpcError(ZenwsError):
    """The server answered a request with a JSON-RPC error object.

    Attributes:
        code: the error code (e.g. Deribit 10028, JSON-RPC -32602).
        message: the error message.
        data: the optional ``data`` member.
        method: the method of the failed request, when known.
    """

    def __init__(self, code: int, message: str, data: Any = None, *, method: str = "") -> None:
        super().__init__(f"{code}: {message}" + (f" ({method})" if method else ""))
        self.code = code
        self.message = message
        self.data = data
        self.method = method


class RateLimited(ZenwsError):
    """The rate limiter's wait queue is full; the request was not sent.

    Attributes:
        bucket: name of the bucket that was empty.
        retry_after: seconds until enough tokens are expected.
    """

    def __init__(self, message: str, *, bucket: str = "", retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.bucket = bucket
        self.retry_after = retry_after


class ProtocolError(ZenwsError):
    """The peer violated RFC 6455/7692 or sent unusable data.

    Attributes:
        close_code: the close code the connection is (or should be) closed with
            (1002 protocol error, 1007 invalid payload, 1009 too big, ...).
    """

    def __init__(self, message: str, close_code: int = 1002) -> None:
        super().__init__(message)
        self.close_code = close_code

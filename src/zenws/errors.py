"""The zenws exception hierarchy.

Every error zenws raises derives from :class:`ZenwsError` and carries structured
fields (status codes, close codes, epochs) rather than only a message, so callers
can branch on data.  :func:`categorize` and :func:`explain` live here too.
"""

from __future__ import annotations

import enum
import socket
import ssl
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

from ._error_texts import CLOSE_TEXT as _CLOSE
from ._error_texts import HTTP_TEXT as _HTTP
from ._error_texts import RPC_TEXT as _RPC
from .exchanges import deribit

__all__ = [
    "Category",
    "ClientClosed",
    "ConfigError",
    "ConnectError",
    "ConnectionLost",
    "Explanation",
    "ProtocolConnectError",
    "ProtocolError",
    "RateLimited",
    "RequestTimeout",
    "RotationFailed",
    "RpcError",
    "ZenwsError",
    "categorize",
    "explain",
    "retry_after",
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
        headers: response headers of a refused upgrade (lower-cased names; the values of
            credential headers such as ``Set-Cookie`` hidden).
        body: first bytes of the refused upgrade's body.
        retry_after: seconds from a ``Retry-After`` header, if any.
        location: for a redirect (3xx, never followed; fatal), the absolute URL of its
            ``Location`` header with secrets removed, else ``None``.
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
        location: str | None = None,
    ) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.headers: dict[str, str] = dict(headers or {})
        self.body = body
        self.retry_after = retry_after
        self.location = location


class ConnectionLost(ZenwsError, ConnectionError):
    """The connection dropped while an operation was in flight.

    Attributes:
        epoch: the connection epoch (incremented on each successful connect) that was lost.
        code: WebSocket close code if one was received or sent, else ``None``.
        reason: close reason text.
        sent: ``False`` when the operation was provably never written to the socket (safe to
            send elsewhere), ``True`` when it was written before the loss, ``None`` if unknown.
    """

    def __init__(
        self,
        message: str = "connection lost",
        *,
        epoch: int = 0,
        code: int | None = None,
        reason: str = "",
        sent: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.code = code
        self.reason = reason
        self.sent = sent


class ClientClosed(ConnectionLost):
    """The application closed this client (``close()``): it never reopens.

    Raised by ``request()``/``send()`` after ``close()`` (``sent=False``: nothing was
    written) and to the requests still in flight when ``close()`` ran (``sent=True``).
    Not retryable on this client (:func:`categorize` says FATAL): open a new one.
    """


class RequestTimeout(ZenwsError, TimeoutError):
    """A JSON-RPC request got no response before its deadline.

    Attributes:
        method: the JSON-RPC method name.
        request_id: the id the request was sent with.
        timeout: the deadline in seconds.
    """

    def __init__(
        self, message: str, *, method: str = "", request_id: Any = None, timeout: float = 0.0
    ) -> None:
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
        status: the HTTP-like ``status`` of the response, for venues that send one
            (Binance: 400, 403, 409, 418, 429, 5xx), else ``None``.
        rate_limits: the response's ``rateLimits`` usage list (Binance), else ``None``.
    """

    def __init__(
        self,
        code: int,
        message: str,
        data: Any = None,
        *,
        method: str = "",
        status: int | None = None,
        rate_limits: Any = None,
    ) -> None:
        super().__init__(f"{code}: {message}" + (f" ({method})" if method else ""))
        self.code = code
        self.message = message
        self.data = data
        self.method = method
        self.status = status
        self.rate_limits = rate_limits


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

    A malformed JSON-RPC response (not valid JSON, neither or both of ``result`` and
    ``error``, an ``error`` that is not an object with an integer ``code``) fails only the
    request it answers: ``close_code`` is then ``None`` (the connection stays open) and
    ``request_id``/``method`` name the request.

    Attributes:
        close_code: the close code the connection is (or should be) closed with
            (1002 protocol error, 1007 invalid payload, 1009 too big, ...), or ``None``
            for a malformed response that leaves the connection open.
        reason: what was wrong, without the payload (it may carry secrets).
        method: the method of the request a malformed response answered, else ``""``.
        request_id: the id of that request, else ``None``.
    """

    def __init__(
        self,
        message: str,
        close_code: int | None = 1002,
        *,
        reason: str = "",
        method: str = "",
        request_id: Any = None,
    ) -> None:
        super().__init__(message)
        self.close_code = close_code
        self.reason = reason or message
        self.method = method
        self.request_id = request_id


class ProtocolConnectError(ConnectError, ProtocolError):
    """The server violated RFC 6455/7692 before ``connect()`` returned.

    Both a :class:`ConnectError` (what ``connect()`` raises) and a
    :class:`ProtocolError`: ``close_code`` is the code zenws sent (1002, 1007, 1009),
    ``reason`` its reason; :func:`categorize` classifies it by that code.
    """

    def __init__(self, message: str, *, url: str = "", close_code: int, reason: str = "") -> None:
        super().__init__(message, url=url)
        self.close_code = close_code
        self.reason = reason


# ---------------------------------------------------------------------------------------
# categorize(): should the connection be retried?
# ---------------------------------------------------------------------------------------

#: Where explanations point: ``zenws docs errors#ANCHOR`` prints that section of the page
#: shipped in the package (docs/errors.md in the repository).
DOCS = "zenws docs errors"


class RotationFailed(ZenwsError):
    """A rotation (``Client.rotate()``) stopped before its switch; the old connection keeps
    delivering.  The error that stopped it is its ``__cause__`` (a refused upgrade, a
    hook's error...; none when the new connection never overlapped the old one).

    Attributes:
        step: where it stopped: ``"open"`` (the handshake), ``"hooks"`` (authentication
            and the other reconnect hooks), ``"subscribe"``, ``"sync"`` (the new
            connection never overlapped the old one) or ``"switch"``.
    """

    def __init__(self, message: str, *, step: str) -> None:
        super().__init__(message)
        self.step = step


class Category(enum.Enum):
    """What an error means for the connection.

    ``RECOVERABLE``: reconnect (or retry) with backoff, honouring :func:`retry_after`.
    ``FATAL``: retrying cannot help until something is changed (credentials, URL, config,
    certificates); the client gives up and surfaces the error.
    """

    RECOVERABLE = "recoverable"
    FATAL = "fatal"


class Explanation(NamedTuple):
    """A human explanation of an error (never contains secrets).

    Attributes:
        message: what happened.
        suggestion: what to do about it.
        docs: the command that prints the section explaining it, e.g.
            ``"zenws docs errors#close-1006"`` (the page ships with the package; in the
            repository it is ``docs/errors.md``).
    """

    message: str
    suggestion: str
    docs: str


# Deribit codes (zenws.exchanges.deribit) and JSON-RPC's internal error.  Auth and
# malformed-request codes are fatal: resending the same request gives the same answer.
# Unknown codes are fatal too, because a blind retry of an order is worse than surfacing
# the error.
_RPC_RECOVERABLE = deribit.RETRYABLE_ERRORS | {-32603}
# Close codes after which reconnecting is the right move.  1002/1003/1007/1009/1010 condemn
# one message, not the endpoint: the connection is re-established with backoff and the
# offending payload is never resent.  1008 (policy violation) is recoverable too: servers use
# it for rate limits (Deribit ends the session with it after 10028) and exponential backoff
# bounds the cost; authentication is refused at the upgrade (HTTP 401/403, fatal).
# 3000 (unauthorized) and 3003 (forbidden) are fatal: the server rejects *us*.
_CLOSE_FATAL = frozenset({1015, 3000, 3003})
_HTTP_RECOVERABLE = frozenset({408, 425, 429})


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """Yield ``exc`` then its causes/contexts (bounded, cycle-safe)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen and len(seen) < 16:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def _find(exc: BaseException, kind: type[BaseException] | tuple[type[BaseException], ...]) -> Any:
    # ConnectError/ConnectionLost are OSErrors too: look only at the underlying causes.
    return next(
        (e for e in _chain(exc) if isinstance(e, kind) and not isinstance(e, ZenwsError)), None
    )


def _is_timeout(e: BaseException) -> bool:
    import asyncio  # local: keep import of errors cheap

    return isinstance(e, (TimeoutError, asyncio.TimeoutError))


def _http_category(status: int) -> Category:
    if status >= 500 or status in _HTTP_RECOVERABLE:
        return Category.RECOVERABLE
    return Category.FATAL  # 3xx (redirects are not followed), 400, 401, 403, 404, 426, ...


def _close_category(code: int | None) -> Category:
    return Category.FATAL if code in _CLOSE_FATAL else Category.RECOVERABLE


def categorize(exc: BaseException) -> Category:
    """Classify an error as recoverable (reconnect/retry with backoff) or fatal.

    Decisions (see ``docs/errors.md#categories``): refused upgrade 401/403/other 4xx fatal,
    408/429/5xx recoverable; a 2xx answer (not a WebSocket endpoint) or an invalid 101
    response fatal; DNS failures recoverable (transient resolver outages happen;
    backoff bounds the cost of a misspelt host); TLS certificate failures fatal; ConfigError
    fatal; RpcError by code; a malformed response fatal; ClientClosed (the application's own
    ``close()``) fatal; close codes recoverable except 1015/3000/3003; RotationFailed as
    its cause (recoverable without one: the connection it would have replaced stays).

    Args:
        exc: any exception raised by zenws (or by the network layer beneath it).

    Returns:
        The category.
    """
    if any(isinstance(e, ConfigError) for e in _chain(exc)):
        return Category.FATAL
    if isinstance(exc, RotationFailed):
        # the connection stays: as recoverable as what stopped the new one
        cause = exc.__cause__
        return Category.RECOVERABLE if cause is None else categorize(cause)
    if isinstance(exc, ConnectError) and exc.status is not None:
        return _http_category(exc.status)
    if isinstance(exc, RpcError):
        return Category.RECOVERABLE if exc.code in _RPC_RECOVERABLE else Category.FATAL
    if isinstance(exc, ClientClosed):
        return Category.FATAL  # closed by the application: this client never reopens
    if isinstance(exc, ConnectionLost):
        return _close_category(exc.code)
    if isinstance(exc, ProtocolError):  # ProtocolConnectError included
        if exc.close_code is None:  # a malformed response: resending gets the same answer
            return Category.FATAL
        return _close_category(exc.close_code)
    if isinstance(exc, (RateLimited, RequestTimeout)):
        return Category.RECOVERABLE
    if _find(exc, ssl.SSLCertVerificationError) is not None:
        return Category.FATAL
    if isinstance(exc, ConnectError) or any(
        isinstance(e, OSError) or _is_timeout(e) for e in _chain(exc)
    ):
        return Category.RECOVERABLE
    return Category.FATAL


def retry_after(exc: BaseException) -> float | None:
    """Seconds the server (or the local limiter) asked us to wait, if any.

    Args:
        exc: the error.

    Returns:
        ``Retry-After`` of a refused upgrade, ``RateLimited.retry_after``, else ``None``.
    """
    if isinstance(exc, ConnectError) and exc.retry_after is not None:
        return exc.retry_after
    if isinstance(exc, RateLimited):
        return exc.retry_after
    return None


# ---------------------------------------------------------------------------------------
# explain(): what happened and what to do
# ---------------------------------------------------------------------------------------


def _scrub(text: str) -> str:
    """Redact secrets that might hide inside free text (the one rule set, zenws._redact)."""
    from ._redact import redact_text

    return redact_text(text)


def _close_anchor(code: int | None) -> str:
    if code is None:
        return "connection-lost"
    if 3000 <= code <= 3999:
        return "close-3000-3999"
    if 4000 <= code <= 4999:
        return "close-4000-4999"
    return f"close-{code}" if code in _CLOSE else "close-other"


def _explain_close(code: int | None, reason: str, lead: str) -> Explanation:
    if code in _CLOSE:
        what, todo = _CLOSE[code]
    elif code is not None and 3000 <= code <= 3999:
        what = "a registered library/framework close code (3000 unauthorized, 3003 forbidden)"
        todo = "look the code up in the IANA registry and the server's documentation"
    elif code is not None and 4000 <= code <= 4999:
        what = "an application-defined close code"
        todo = "see the server's API documentation for this code"
    elif code is None:
        what, todo = "no close code", "zenws reconnects with backoff"
    else:
        what, todo = "an invalid close code", "a misbehaving peer; report it"
    tail = f" (reason: {_scrub(reason)!r})" if reason else ""
    code_text = f", close {code}" if code is not None else ""
    return Explanation(f"{lead}{code_text}: {what}{tail}", todo, f"{DOCS}#{_close_anchor(code)}")


def _explain_network(exc: BaseException, lead: str) -> Explanation | None:
    import errno

    cert = _find(exc, ssl.SSLCertVerificationError)
    if cert is not None:
        detail = str(getattr(cert, "verify_message", "") or cert)
        if getattr(cert, "verify_code", 0) == 62 or "hostname" in detail.lower():
            return Explanation(
                f"{lead}: the TLS certificate does not match the host name ({detail})",
                "connect with the host name the certificate was issued for",
                f"{DOCS}#tls-hostname",
            )
        return Explanation(
            f"{lead}: TLS certificate verification failed ({detail})",
            "install the CA bundle (certifi) or pass ssl=<SSLContext> that trusts the server's CA",
            f"{DOCS}#tls-cert",
        )
    if _find(exc, ssl.SSLError) is not None:
        return Explanation(
            f"{lead}: the TLS handshake failed",
            "check that the port speaks TLS (wss://) and the TLS versions/ciphers match",
            f"{DOCS}#tls-handshake",
        )
    if _find(exc, socket.gaierror) is not None:
        return Explanation(
            f"{lead}: the host name could not be resolved (DNS)",
            "check the host in the URL; zenws retries in case the resolver is down",
            f"{DOCS}#dns",
        )
    if _find(exc, ConnectionRefusedError) is not None:
        return Explanation(
            f"{lead}: connection refused (nothing listens on that port)",
            "check host and port, and that the server is running",
            f"{DOCS}#network-refused",
        )
    if _find(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)) is not None:
        return Explanation(
            f"{lead}: the connection was reset by the peer or a middlebox",
            "zenws reconnects with backoff; check proxies/firewalls if it repeats",
            f"{DOCS}#network-reset",
        )
    os_err = _find(exc, OSError)
    if os_err is not None and os_err.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return Explanation(
            f"{lead}: the network or host is unreachable",
            "check connectivity, routes and VPN; zenws retries with backoff",
            f"{DOCS}#network-unreachable",
        )
    if any(_is_timeout(e) for e in _chain(exc)):
        return Explanation(
            f"{lead}: timed out",
            "the server is slow or unreachable; raise connect_timeout if the link is slow",
            f"{DOCS}#timeout-connect",
        )
    if os_err is not None:
        return Explanation(
            f"{lead}: network error ({type(os_err).__name__}, errno {os_err.errno})",
            "zenws retries with backoff",
            f"{DOCS}#network",
        )
    return None


def _explain_http(exc: ConnectError) -> Explanation:
    status = exc.status or 0
    where = f" ({_scrub(exc.url)})" if exc.url else ""
    if status == 101:
        # The server switched protocols but its 101 response breaks RFC 6455 §4.1 (accept
        # key, Upgrade/Connection headers) or the offer (subprotocol, extensions).
        msg = _scrub(str(exc))
        if not msg.startswith("invalid WebSocket handshake"):
            msg = f"invalid WebSocket handshake response{where}: {msg}"
        return Explanation(
            msg,
            "a broken server, or a proxy that rewrites the handshake; retrying does not help: "
            "check the URL and any proxy in between",
            f"{DOCS}#handshake-invalid",
        )
    if 200 <= status < 300:
        return Explanation(
            f"not a WebSocket endpoint (HTTP {status}){where}: the server answered the upgrade "
            "with a plain HTTP response",
            "check the URL path and scheme (the WebSocket endpoint is often a separate path, "
            "e.g. /ws); retrying does not help",
            f"{DOCS}#not-websocket",
        )
    title, todo = _HTTP.get(status, ("", ""))
    if not title:
        family = f"{status // 100}xx"
        title = {"3xx": "redirect", "4xx": "client error", "5xx": "server error"}.get(family, "")
        todo = (
            "redirects are not followed: use the final URL"
            if family == "3xx"
            else "zenws retries with backoff"
            if family == "5xx"
            else "check the URL, headers and credentials"
        )
        anchor = f"http-{family}" if family in ("3xx", "4xx", "5xx") else "http-other"
    else:
        anchor = f"http-{status}"
    msg = f"the server refused the WebSocket upgrade with HTTP {status} {title}".rstrip()
    if exc.url:
        msg += f" ({_scrub(exc.url)})"
    if exc.location:
        msg += f" to {_scrub(exc.location)}"
    if exc.retry_after is not None:
        msg += f"; Retry-After {exc.retry_after:g} s"
    return Explanation(msg, todo, f"{DOCS}#{anchor}")


def _explain_malformed(exc: ProtocolError) -> Explanation:
    method = f" to {exc.method}" if exc.method else ""
    rid = f" (id {exc.request_id})" if exc.request_id is not None else ""
    return Explanation(
        f"malformed JSON-RPC response{method}{rid}: {_scrub(exc.reason)}; "
        "the request failed, the connection stays open",
        "the server broke JSON-RPC 2.0; nothing is resent (query open orders before retrying "
        "an order); record the session (record_to=) and report it to the server operator",
        f"{DOCS}#malformed-response",
    )


def _explain_rotation(exc: RotationFailed) -> Explanation:
    cause = exc.__cause__
    todo = (
        "nothing is lost: the connection it would have replaced keeps delivering; "
        "rotate() again later (a scheduled rotation retries by itself until the "
        "connection's max_connection_age)"
    )
    if cause is not None and _is_timeout(cause):
        todo = f"raise rotation_timeout (or rotate(timeout=)), or check the channels named; {todo}"
    elif isinstance(cause, (ZenwsError, OSError)):
        todo = f"{explain(cause).suggestion}; {todo}"
    elif cause is not None and exc.step == "hooks":
        todo = f"a reconnect hook raised {type(cause).__name__}: fix the hook; {todo}"
    return Explanation(
        f"rotation failed at step {exc.step!r}: {_scrub(str(exc))}", todo, f"{DOCS}#rotation"
    )


def explain(exc: BaseException) -> Explanation:
    """Explain an error for humans: what happened, what to do, where to read more.

    Args:
        exc: any exception (zenws errors get specific answers).

    Returns:
        An :class:`Explanation`; its text never contains secrets.
    """
    if isinstance(exc, RotationFailed):
        return _explain_rotation(exc)
    if isinstance(exc, ConfigError):
        where = f"option {exc.field!r}" if exc.field else "the configuration"
        return Explanation(
            f"invalid configuration: {_scrub(str(exc))}",
            f"fix {where}; every option is listed by `zenws docs config`",
            f"{DOCS}#config",
        )
    if isinstance(exc, ProtocolConnectError):
        lead = f"protocol error while connecting to {_scrub(exc.url)}"
        return _explain_close(exc.close_code, exc.reason, lead)
    if isinstance(exc, ConnectError):
        if exc.status is not None:
            return _explain_http(exc)
        lead = f"could not connect to {_scrub(exc.url)}" if exc.url else "could not connect"
        return _explain_network(exc, lead) or Explanation(
            f"{lead}: {_scrub(str(exc))}", "zenws retries with backoff", f"{DOCS}#connect"
        )
    if isinstance(exc, RpcError):
        what, todo = _RPC.get(exc.code, (_scrub(exc.message), "see the server's error codes"))
        anchor = f"rpc-{exc.code}" if exc.code in _RPC else "rpc-other"
        method = f" to {exc.method}" if exc.method else ""
        return Explanation(f"RPC error {exc.code}{method}: {what}", todo, f"{DOCS}#{anchor}")
    if isinstance(exc, RequestTimeout):
        return Explanation(
            f"request {exc.method or '?'} got no response within {exc.timeout:g} s",
            "raise request_timeout (or timeout=) or check server load; orders are never resent: "
            "query open orders before retrying",
            f"{DOCS}#request-timeout",
        )
    if isinstance(exc, RateLimited):
        bucket = f" ({exc.bucket})" if exc.bucket else ""
        return Explanation(
            f"rate limit{bucket}: the wait queue is full, the request was not sent",
            f"retry after {exc.retry_after:g} s, or send less",
            f"{DOCS}#rate-limited",
        )
    if isinstance(exc, ClientClosed):
        return Explanation(
            f"the client was closed by the application (close(), epoch {exc.epoch}); "
            + ("the request was in flight" if exc.sent else "nothing was sent"),
            "a closed client never reopens: open a new one (zenws.connect) or call close() "
            "only when done; use reconnect() to restart a connection",
            f"{DOCS}#client-closed",
        )
    if isinstance(exc, ConnectionLost):
        return _explain_close(exc.code, exc.reason, f"connection lost (epoch {exc.epoch})")
    if isinstance(exc, ProtocolError):
        if exc.close_code is None:
            return _explain_malformed(exc)
        return _explain_close(exc.close_code, "", f"protocol error ({_scrub(str(exc))})")
    found = _explain_network(exc, "network error")
    if found is not None:
        return found
    return Explanation(
        f"{type(exc).__name__}: {_scrub(str(exc))}",
        "unexpected error; enable debug=True and report it with the traceback",
        f"{DOCS}#other",
    )

"""Opening one connection epoch: the picows handshake and its failure modes.

:func:`open_transport` opens the connection with :func:`zenws.fast.guard.connect` (what
picows' ``ws_connect`` does, with zenws' read guard in front of picows from the first
byte) and the options of a :class:`~zenws.config.Config` (TLS, extra headers,
subprotocols, proxy, handshake timeout, permessage-deflate offer), configures the
:class:`FastListener` from the server's 101 response (negotiated deflate parameters) and
maps every failure to a :class:`~zenws.errors.ConnectError` that carries the cause: HTTP
status, headers, a body excerpt and ``Retry-After`` for a refused upgrade, the ``OSError``
for DNS / refused TCP, the ``ssl.SSLError`` for TLS.

Credentials stay where they were sent: redirects are never followed (picows' ``ws_connect``
follows up to 5 by default, re-sending every header; a 3xx is a fatal ``ConnectError`` with
its ``location``), URL userinfo becomes an ``Authorization: Basic`` header and never reaches
``Host``, and picows logs through a redacting adapter (:mod:`zenws._logging`).
"""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl as _ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from picows import WSError, WSHandshakeError, WSInvalidHeaderError

from .._logging import redacting_logger
from .._redact import redact_headers, redact_json_text, redact_text, redact_url
from ..config import Config
from ..errors import ConnectError
from ..fast.guard import connect as guarded_connect
from ..fast.listener import FastListener

__all__ = [
    "BODY_EXCERPT",
    "READ_GUARD",
    "Negotiated",
    "NegotiatedDeflate",
    "basic_authorization",
    "open_transport",
    "split_userinfo",
    "ssl_context_for",
]

#: Bytes of a refused upgrade's body kept in ConnectError.body.
BODY_EXCERPT = 512

#: Put a zenws.fast.guard.ReadGuard in front of picows on every connection (RFC 6455
#: checks on the byte stream from the first byte after the 101 response, so a
#: violation never hides the frames before it).
READ_GUARD = True


@dataclass(frozen=True)
class Negotiated:
    """What the server's 101 response agreed to.

    Attributes:
        subprotocol: the ``Sec-WebSocket-Protocol`` the server chose, or ``None``.
        deflate: the permessage-deflate parameters (:class:`NegotiatedDeflate`), or ``None``.
        headers: the response headers (lower-cased names).
    """

    subprotocol: str | None
    deflate: Any
    headers: dict[str, str]


@dataclass(frozen=True)
class NegotiatedDeflate:
    """The negotiated permessage-deflate parameters plus the local compression level.

    Attributes:
        params: ``zenws.fast.frame.DeflateParams`` from the server's answer.
        level: zlib level for sent messages (``DeflateOptions.level``).
    """

    params: Any
    level: int

    def make_inflater(self) -> Any:
        """Inflater for received messages (the server's window and context takeover)."""
        return self.params.make_inflater()

    def make_deflater(self) -> Any:
        """Deflater for sent messages (the client's window and context takeover)."""
        return self.params.make_deflater(level=self.level)


def ssl_context_for(config: Config) -> _ssl.SSLContext | None:
    """Return the SSLContext for a wss URL (verification on unless ``ssl=False``).

    Args:
        config: the client configuration.

    Returns:
        ``None`` for ws:// URLs; the user's context; a default verifying context; or, for
        ``ssl=False``, a context with certificate verification disabled.
    """
    if not config.url.startswith("wss:"):
        return None
    if isinstance(config.ssl, _ssl.SSLContext):
        return config.ssl
    ctx = _ssl.create_default_context()
    if config.ssl is False:
        ctx.check_hostname = False
        ctx.verify_mode = _ssl.CERT_NONE
    return ctx


def split_userinfo(url: str) -> tuple[str, tuple[str, str] | None]:
    """Split ``user:password@`` off a URL.

    Args:
        url: a ``ws://``/``wss://`` URL.

    Returns:
        ``(url without userinfo, (user, password) percent-decoded)``, or ``(url, None)``.
    """
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    bare = urlunsplit((parts.scheme, hostport, parts.path, parts.query, parts.fragment))
    return bare, (unquote(user), unquote(password))


def basic_authorization(user: str, password: str) -> str:
    """The ``Authorization`` value for HTTP Basic credentials (RFC 7617, UTF-8)."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def _request_headers(config: Config) -> list[tuple[str, str]]:
    headers = list(config.headers)
    _, userinfo = split_userinfo(config.url)
    if userinfo is not None and not any(k.lower() == "authorization" for k, _ in headers):
        # As python-websockets does: URL credentials are sent as Basic auth; an explicit
        # Authorization header wins.
        headers.append(("Authorization", basic_authorization(*userinfo)))
    if config.subprotocols:
        headers.append(("Sec-WebSocket-Protocol", ", ".join(config.subprotocols)))
    deflate = config.deflate_options
    if deflate is not None:
        from ..fast.frame import deflate_offer

        headers.append(("Sec-WebSocket-Extensions", deflate_offer(**deflate.kwargs())))
    return headers


def _negotiate(config: Config, response: Any) -> Negotiated:
    headers = {k.lower(): v for k, v in response.headers.items()}
    proto = headers.get("sec-websocket-protocol")
    if proto is not None and proto not in config.subprotocols:
        # RFC 6455 §4.1 (client requirement 6): fail on a subprotocol we did not offer.
        raise ConnectError(
            f"server selected subprotocol {proto!r} that was not offered",
            url=redact_url(config.url),
            status=101,
            headers=headers,
        )
    ext = headers.get("sec-websocket-extensions")
    deflate = None
    offer = config.deflate_options
    if ext:
        if offer is None:
            # RFC 6455 §9.1: an extension the client did not request fails the connection.
            raise ConnectError(
                f"server enabled extensions that were not offered: {ext!r}",
                url=redact_url(config.url),
                status=101,
                headers=headers,
            )
        from ..fast.frame import parse_deflate_response

        try:
            # Checked against what was offered (window caps, required parameters); an
            # offered client_no_context_takeover is honoured even when the server does
            # not repeat it (RFC 7692 §7.1.1.1).
            deflate = NegotiatedDeflate(parse_deflate_response(ext, **offer.kwargs()), offer.level)
        except Exception as exc:
            raise ConnectError(
                f"invalid permessage-deflate response {ext!r}: {exc}",
                url=redact_url(config.url),
                status=101,
                headers=headers,
            ) from exc
    return Negotiated(proto, deflate, headers)


def _connect_error(config: Config, exc: BaseException) -> ConnectError:
    url = redact_url(config.url)
    if isinstance(exc, ConnectError):
        return exc
    if isinstance(exc, WSHandshakeError):
        resp = exc.response
        if resp is None:
            return ConnectError(f"WebSocket handshake with {url} failed: {exc}", url=url)
        from ..reconnect import parse_retry_after

        raw_headers = {k.lower(): v for k, v in resp.headers.items()}
        headers = dict(redact_headers(raw_headers.items()))
        status = int(resp.status)
        if status == 101:
            return _invalid_101(url, exc, headers)
        body = (resp.body or exc.raw_body or b"")[:BODY_EXCERPT]
        # the body is text kept for diagnostics: hide what the rule set hides, bytes kept
        body = redact_json_text(body.decode("utf-8", "surrogateescape")).encode(
            "utf-8", "surrogateescape"
        )
        if 300 <= status < 400 and "location" in raw_headers:
            target = split_userinfo(config.url)[0]
            location = redact_url(urljoin(target, raw_headers["location"]))
            headers["location"] = location
            return ConnectError(
                f"{url} answered the WebSocket upgrade with HTTP {status}, a redirect to "
                f"{location}: redirects are not followed (use the final URL)",
                url=url,
                status=status,
                headers=headers,
                body=body,
                location=location,
            )
        excerpt = redact_text(body[:120].decode("utf-8", "replace"))
        what = (
            "is not a WebSocket endpoint"  # a plain HTTP resource answered the upgrade
            if 200 <= status < 300
            else "refused the WebSocket upgrade"
        )
        return ConnectError(
            f"{url} {what}: HTTP {status}" + (f" ({excerpt!r})" if excerpt else ""),
            url=url,
            status=status,
            headers=headers,
            body=body,
            retry_after=parse_retry_after(headers.get("retry-after")),
        )
    if isinstance(exc, socket.gaierror):
        return ConnectError(f"cannot resolve the host of {url}: {exc}", url=url)
    if isinstance(exc, _ssl.SSLError):
        return ConnectError(f"TLS handshake with {url} failed: {exc}", url=url)
    if isinstance(exc, ConnectionRefusedError):
        return ConnectError(f"connection to {url} refused: {exc}", url=url)
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return ConnectError(f"opening {url} timed out after {config.connect_timeout} s", url=url)
    if isinstance(exc, (OSError, WSError)):
        return ConnectError(f"cannot connect to {url}: {redact_text(str(exc))}", url=url)
    return ConnectError(f"cannot connect to {url}: {redact_text(repr(exc))}", url=url)


def _invalid_101(url: str, exc: WSHandshakeError, headers: dict[str, str]) -> ConnectError:
    # The server switched protocols but its 101 response breaks RFC 6455 §4.1.  The bytes
    # after it (exc.raw_body) are WebSocket frames, not an explanation: never shown.
    name = exc.name if isinstance(exc, WSInvalidHeaderError) else ""
    if name.lower() == "sec-websocket-accept":
        reason = "the server's Sec-WebSocket-Accept does not match the key sent"
    elif name:
        reason = f"invalid {name} header in the 101 response"
    else:
        reason = "invalid 101 response"
    return ConnectError(
        f"invalid WebSocket handshake response from {url}: {reason}",
        url=url,
        status=101,
        headers=headers,
    )


async def open_transport(
    config: Config, make_listener: Callable[[Negotiated], FastListener]
) -> tuple[Any, FastListener, Negotiated]:
    """Open the WebSocket and return ``(transport, listener, negotiated)``.

    Args:
        config: the client configuration.
        make_listener: builds the epoch's listener once the 101 response is known.

    Returns:
        The picows transport, the listener it feeds and what was negotiated.

    Raises:
        ConnectError: any failure, with ``__cause__`` set to the underlying error.
    """
    negotiated: list[Negotiated] = []
    failure: list[BaseException] = []

    def factory(request: Any, response: Any) -> FastListener:
        try:
            neg = _negotiate(config, response)
        except ConnectError as exc:
            failure.append(exc)
            raise
        negotiated.append(neg)
        return make_listener(neg)

    try:
        # Redirects are not followed (a 3xx is a fatal ConnectError, docs/errors.md);
        # automatic pongs are off (the hot path answers pings: they feed liveness).
        transport, listener = await asyncio.wait_for(
            guarded_connect(
                factory,
                split_userinfo(config.url)[0],  # Host carries host[:port] only
                ssl_context=ssl_context_for(config),
                handshake_timeout=config.connect_timeout,
                max_frame_size=max(config.max_message_size, 1024) + 16,
                extra_headers=_request_headers(config) or None,
                logger=redacting_logger("zenws.picows"),
                proxy=config.proxy,
                guard=READ_GUARD,
            ),
            timeout=config.connect_timeout,
        )
    except BaseException as exc:
        if isinstance(exc, asyncio.CancelledError) and not isinstance(exc, TimeoutError):
            raise
        if failure:
            raise failure[0] from None
        err = _connect_error(config, exc)
        if err is exc:
            raise
        raise err from exc
    if not negotiated:  # pragma: no cover - connect() returns a listener or raises
        raise ConnectError(
            f"{redact_url(config.url)} ended the WebSocket handshake without a response",
            url=redact_url(config.url),
        )
    assert isinstance(listener, FastListener)
    return transport, listener, negotiated[0]
